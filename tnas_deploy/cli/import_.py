"""`tnas-deploy import`: turn a lava-dl netx file or a NIR graph into a rate (or sigma-delta) genome plus weights."""
from __future__ import annotations

import argparse

from ..errors import DeployError


def command(args: argparse.Namespace) -> int:
    """Import a netx file or a NIR graph as a rate genome plus weights."""
    import h5py

    from ..genome import genome_from_json
    from ..interop.netx_import import import_netx
    from ..interop.nir_import import import_nir
    from ..io_utils import write_files_atomic
    from ..weights import check_weights, weights_image

    source, out = args.source, args.output
    if not source.is_file():
        raise DeployError("file not found", source)
    if out.suffix != ".json":
        raise DeployError("expected a genome path ending in .json (the weights go next to it as .h5)", out, "-o")
    kind = args.format
    if kind is None:
        try:
            with h5py.File(source, "r") as f:
                kind = "netx" if "layer" in f else "nir" if "node" in f else None
        except OSError:
            kind = None
        if kind is None:
            raise DeployError("neither a lava-dl netx file (HDF5 with 'layer') nor a NIR graph (HDF5 with 'node')",
                              source)
    if args.steps is not None and not 1 <= args.steps <= 65536:
        raise DeployError(f"expected 1 to 65536 time steps, got {args.steps}", None, "--steps")
    if kind == "netx":
        if args.dt is not None:
            raise DeployError("applies to NIR graphs (netx neurons are already discrete)", None, "--dt")
        imported = import_netx(source, steps=args.steps, name=args.name)
    else:
        imported = import_nir(source, dt=args.dt, steps=args.steps, name=args.name)
    weights_path = out.with_suffix(".h5")
    obj = {**imported.genome, "weights": weights_path.name}
    try:
        genome = genome_from_json(obj, out)
    except DeployError as exc:   # the translation produced something the genome rules refuse
        raise DeployError(f"the imported network is not a valid genome: {exc.message} ({exc.field})", source) from None
    weights = check_weights(genome, imported.weights, source)
    # both files or neither: the genome names the weights file
    write_files_atomic({weights_path: weights_image(weights), out: genome.dumps().encode("utf-8")})
    for note in imported.notes:
        print(f"note: {note}")
    steps = f", {genome.steps} steps" if genome.steps else ""
    print(f"wrote {out} and {weights_path} ({kind} import: {len(genome.nodes)} nodes, {genome.coding} coding{steps})")
    return 0
