"""`tnas-deploy verify`: check that two backends (or a golden file) agree bit for bit."""
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

    if args.golden is not None:
        net, _ = load_artifact(args.artifact)
        golden = load_golden(args.golden)
        if args.samples is not None and args.samples < 1:
            raise DeployError(f"expected a positive number of samples, got {args.samples}", None, "--samples")
        require_golden_inputs_fit(golden, set(scheme_for(net).sample_shapes(net)), net.input_shape, args.golden,
                                  args.artifact)
        x = golden["x"][:args.samples] if args.samples else golden["x"]
        backend = args.backend or "reference"
        result, _ = execute(net, x, backend, args)
        expected = {k: (v[:len(x)] if k != "spike_times" else {n: a[:len(x)] for n, a in v.items()})
                    for k, v in golden.items() if k in ("spike_times", "readout", "predictions")}
        require_same_network(expected, result_dict(result), args.golden, args.artifact)
        same_artifact = golden["artifact_sha256"] == sha256_file(args.artifact)
        if not same_artifact and not args.json:
            print(f"note: the artifact differs from the one the golden file was recorded with "
                  f"(tool {golden['tool_version']}); comparing spike timing anyway")
        return _report_comparison(compare(expected, result_dict(result), [la.id for la in net.layers]),
                                  "golden", backend, args.json,
                                  {"backend": backend, "golden": str(args.golden), "same_artifact": same_artifact})
    if args.backend not in (None, "lava"):
        raise DeployError("without --golden, verify always compares the reference and lava backends", None, "--backend")
    net, data = load_run_inputs(args)
    ref, _ = execute(net, data.x, "reference", args)
    lava, _ = execute(net, data.x, "lava", args)
    return _report_comparison(compare(result_dict(ref), result_dict(lava), [la.id for la in net.layers]),
                              "reference", "lava", args.json, {"artifact": str(args.artifact)})


def _report_comparison(comparison, expected: str, got: str, as_json: bool, extra: dict[str, Any]) -> int:
    if as_json:
        print(json.dumps({**extra, **comparison.to_json()}, indent=2, sort_keys=True))
    else:
        print(comparison.summary_line())
        if comparison.first is not None:
            print(comparison.first.describe(expected, got))
    return 0 if comparison.bit_exact else EXIT_MISMATCH
