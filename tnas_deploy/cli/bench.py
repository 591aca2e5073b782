"""`tnas-deploy bench`: energy, latency and resources on hardware profiles; writes a report."""
from __future__ import annotations

import argparse
import json


def command(args: argparse.Namespace) -> int:
    """Benchmark a network on hardware profiles and write a report."""
    import time

    from ..energy.bench import run_bench

    started = time.perf_counter()
    report, out_dir = run_bench(args.target, args.input, args.profiles, args.backend, args.calibration, args.output,
                                progress=not args.no_progress and not args.json, samples=args.samples,
                                compile_profile=args.compile_profile, window_us=args.event_window_us)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    print(f"{report['network']}: {report['data']['samples']} samples on the {report['backend']} backend; "
          f"{report['metrics']['spikes']:.0f} spikes and {report['metrics']['synaptic_events']:.0f} synaptic events "
          f"per sample")
    if "accuracy" in report:
        acc = report["accuracy"]
        uar = "n/a" if acc["uar"] is None else f"{acc['uar'] * 100:.2f} %"
        print(f"accuracy (WAR) {acc['war'] * 100:.2f} %, UAR {uar}")
    rows = [["profile", "kind", "fits", "cores", "energy/inference", "latency"]]
    for name, block in report["profiles"].items():
        if block["kind"] == "baseline":
            base = block["baseline"]
            rows.append([name, "ANN baseline", "-", "-", _fmt_energy(base["total_pj"], base["dynamic_pj"]),
                         _fmt(base["latency_ns"], "ms", 1e6)])
            continue
        placement = block["placement"]
        energy = block["energy"] or {}
        fits = "yes" if placement["fits"] else ("unknown" if (placement["problem"] or "").startswith("unknown")
                                                 else "NO")
        cores = "-" if placement["cores_used"] is None else (
            f"{placement['cores_used']}/{placement['cores_available'] or '?'}")
        rows.append([name, "neuromorphic", fits, cores, _fmt_energy(energy.get("total_pj"), energy.get("dynamic_pj")),
                     _fmt(energy.get("latency_ns"), "ms", 1e6)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for name, block in report["profiles"].items():
        if block.get("note"):
            print(f"{name}: {block['note']}")
    print(f"wrote {out_dir / 'report.json'}, {out_dir / 'report.md'} and {out_dir / 'report.html'} "
          f"in {time.perf_counter() - started:.2f} s")
    return 0


def _fmt(value: float | None, unit: str, scale: float = 1.0) -> str:
    return "unknown" if value is None else f"{value / scale:.3g} {unit}"


def _fmt_energy(total: float | None, dynamic: float | None) -> str:
    """Energy per inference in uJ; with the static part unknown, the dynamic part as a lower bound."""
    if total is None and dynamic is not None:
        return f">= {dynamic / 1e6:.3g} uJ (dynamic)"
    return _fmt(total, "uJ", 1e6)
