"""`tnas-deploy export`: write a network in another tool's format: NIR, or lava-dl netx (rate and sigma-delta
networks; the scheme's `export_netx`)."""
from __future__ import annotations

import argparse

from ..errors import DeployError


def command(args: argparse.Namespace) -> int:
    """Export a genome (or a rate artifact) as a NIR graph or a lava-dl netx file."""
    if args.format == "netx":
        return _export_netx(args)
    from ..genome import load_genome
    from ..schemes import ExportRequest, scheme_for
    from ..weights import load_weights

    if args.source.suffix != ".json":
        raise DeployError("expected a genome .json: NIR carries float weights, which an artifact does not keep",
                          args.source)
    genome = load_genome(args.source)
    weights = load_weights(genome, args.weights)
    print(scheme_for(genome).export("nir", ExportRequest(genome, weights, args.output, args.calibration, args.dt)))
    return 0


def _export_netx(args: argparse.Namespace) -> int:
    from ..schemes import scheme_for

    if args.source.suffix == ".json":
        from ..artifact import save_artifact
        from ..compiler import load_inputs
        from ..genome import load_genome
        from ..summary import summarize

        scheme = scheme_for(load_genome(args.source))
        scheme.require_export("netx", args.source)
        net = scheme.compile_for_netx(load_inputs(args.source, args.weights, "loihi2", args.calibration),
                                      steps=args.steps, analog_maxpool=args.analog_maxpool)
    else:
        from ..artifact import load_artifact

        for flag, value in (("--weights", args.weights), ("--calibration", args.calibration),
                            ("--steps", args.steps), ("--artifact", args.artifact),
                            ("--analog-maxpool", None if args.analog_maxpool == "refuse" else args.analog_maxpool)):
            if value is not None:
                raise DeployError("applies when exporting a genome; an artifact is exported as compiled", None, flag)
        net, _ = load_artifact(args.source)
        scheme = scheme_for(net)
        scheme.require_export("netx", args.source)
    try:
        lines = scheme.export_netx(net, args.output)
    except DeployError as exc:
        raise DeployError(exc.message, exc.file or args.source, exc.field) from None
    if args.source.suffix == ".json" and args.artifact is not None:
        save_artifact(net, args.artifact, summarize(net))
        print(f"wrote {args.artifact} (the compiled network the netx file encodes)")
    for line in lines:
        print(line)
    return 0
