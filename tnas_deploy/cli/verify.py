"""`tnas-deploy verify`: check that two backends (or a golden file) agree bit for bit.

`--backend netx` (rate and sigma-delta networks) runs the network's netx file in lava-dl's own `netx.hdf5.Network`
and compares it with the reference simulator (or the golden file): the file an imported genome came from, or
tnas-deploy's own netx export of the artifact (the scheme's `netx_file` and `run_netx`: `schemes/rate/netx_verify.py`,
`schemes/sdnn/netx_verify.py`).
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import DeployError
from .common import EXIT_MISMATCH, execute, load_run_inputs


def command(args: argparse.Namespace) -> int:
    """Compare two backends, or a backend with a golden file; exit 1 on a mismatch."""
    from ..artifact import load_artifact
    from ..io_utils import sha256_file
    from ..schemes import scheme_for
    from ..verify import compare, load_golden, require_golden_inputs_fit, require_same_network, result_dict

    if args.netx is not None and args.backend != "netx":
        raise DeployError("names the netx file of --backend netx; pass --backend netx too", None, "--netx")
    if args.golden is not None:
        net, _ = load_artifact(args.artifact)
        golden = load_golden(args.golden)
        if args.samples is not None and args.samples < 1:
            raise DeployError(f"expected a positive number of samples, got {args.samples}", None, "--samples")
        require_golden_inputs_fit(golden, set(scheme_for(net).sample_shapes(net)), net.input_shape, args.golden,
                                  args.artifact)
        x = golden["x"][:args.samples] if args.samples else golden["x"]
        backend = args.backend or "reference"
        if backend == "reference" and ((args.workers or 1) != 1 or args.ray_address is not None):
            raise DeployError("the reference backend runs in one process; --workers and --ray-address split "
                              "--backend lava runs", None, "--workers")
        result, note = _run(net, x, backend, args)
        expected = {k: (v[:len(x)] if k != "spike_times" else {n: a[:len(x)] for n, a in v.items()})
                    for k, v in golden.items() if k in ("spike_times", "readout", "predictions")}
        require_same_network(expected, result_dict(result), args.golden, args.artifact)
        same_artifact = golden["artifact_sha256"] == sha256_file(args.artifact)
        if not same_artifact and not args.json:
            print(f"note: the artifact differs from the one the golden file was recorded with "
                  f"(tool {golden['tool_version']}); comparing spike timing anyway")
        return _report_comparison(compare(expected, result_dict(result), [la.id for la in net.layers]),
                                  "golden", backend, args.json,
                                  {"backend": backend, "golden": str(args.golden), "same_artifact": same_artifact,
                                   **note})
    if args.backend not in (None, "lava", "netx"):
        raise DeployError("without --golden, verify compares the reference with the lava backend, or with netx "
                          "(--backend netx)", None, "--backend")
    net, data = load_run_inputs(args)
    ref, _ = execute(net, data.x, "reference", args)
    backend = args.backend or "lava"
    other, note = _run(net, data.x, backend, args)
    return _report_comparison(compare(result_dict(ref), result_dict(other), [la.id for la in net.layers]),
                              "reference", backend, args.json, {"artifact": str(args.artifact), **note})


def _run(net: Any, x: Any, backend: str, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The backend's result, and for netx what the JSON report adds: {"backend": "netx", "netx": which file ran}."""
    if backend != "netx":
        result, _ = execute(net, x, backend, args)
        return result, {}
    from ..lava_runtime import lava_available
    from ..progress import progress_bar
    from ..schemes import scheme_for

    try:
        scheme_for(net).require_export("netx", args.artifact)
    except DeployError as exc:
        raise DeployError(exc.message, exc.file, "--backend") from None
    if not lava_available():
        raise DeployError("the netx backend needs lava-nc and lava-dl (CPython 3.10): pip install lava-dl==0.6.0",
                          None, "--backend")
    if args.timeout is not None and not args.timeout > 0:
        raise DeployError(f"expected a time-out in seconds > 0, got {args.timeout}", None, "--timeout")
    scheme = scheme_for(net)
    show = not args.no_progress and not args.json
    with scheme.netx_file(net, args.artifact, args.netx) as (path, how):
        if not args.json:
            print(f"netx: running {how} in lava-dl's netx.hdf5.Network (Loihi2SimCfg fixed_pt)")
            if not net.options.get("chip_integers") and net.provenance.get("imported_format") == "lava-dl netx":
                print("note: this artifact was quantized anew (its genome holds no chip_integers), so its integers "
                      "are not the file's")
        with progress_bar(len(x), f"netx {net.name}", show) as bar:
            if (args.workers is not None and args.workers != 1) or args.ray_address is not None:   # over Ray workers
                from ..distributed.lava_shards import run_sharded
                result = run_sharded(net, x, args.workers, args.ray_address, progress=bar.update,
                                     timeout=args.timeout, netx_file=path.read_bytes())
            else:
                result = scheme.run_netx(net, x, path, progress=bar.update, timeout=args.timeout)
        return result, {"backend": "netx", "netx": how}


def _report_comparison(comparison, expected: str, got: str, as_json: bool, extra: dict[str, Any]) -> int:
    if as_json:
        print(json.dumps({**extra, **comparison.to_json()}, indent=2, sort_keys=True))
    else:
        print(comparison.summary_line())
        if comparison.first is not None:
            print(comparison.first.describe(expected, got))
    return 0 if comparison.bit_exact else EXIT_MISMATCH
