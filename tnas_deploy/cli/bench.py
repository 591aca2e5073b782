"""`tnas-deploy bench`: energy, latency and resources on hardware profiles; writes a report.

The table shows each estimate as its value and uncertainty band (`12.3 uJ [9.1, 15]`), or just the value
when the profile has no band, and the static part apart; below it, how the chips' static power was charged
(`--static`), what each estimate was checked against, and each profile's note (why it is unknown or does
not fit)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

#: What each `--static` mode charges, as the line under the table says it.
_STATIC_LINES = {
    "whole-chip": "static: the whole chip's measured static power (--static whole-chip, as measured); "
                  "--static per-core charges only the cores used",
    "per-core": "static: static power x cores used / cores on chip (--static per-core); "
                "the default --static whole-chip charges the whole chip",
}


def command(args: argparse.Namespace) -> int:
    """Benchmark a network on hardware profiles and write a report (with --population: many genomes)."""
    import time

    from .. import api
    from . import bench_population

    if args.population is not None or args.target is None:
        return bench_population.command(args)
    bench_population.check_population_options(args)
    if getattr(args, "coding", None):
        return _codings(args)

    started = time.perf_counter()
    bench = api.bench(args.target, args.input, args.profiles, args.backend, args.calibration, args.output,
                      samples=args.samples, compile_profile=args.compile_profile, window_us=args.event_window_us,
                      static_mode=args.static, progress=not args.no_progress and not args.json)
    report, out_dir = bench.report, Path(bench.output)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    for line in summary_lines(report):
        print(line)
    print(f"wrote {out_dir / 'report.json'}, {out_dir / 'report.md'} and {out_dir / 'report.html'} "
          f"in {time.perf_counter() - started:.2f} s")
    return 0


def summary_lines(report: dict[str, Any]) -> list[str]:
    """What `bench` prints for a report (without the closing "wrote ..." line)."""
    lines = [f"{report['network']}: {report['data']['samples']} samples on the {report['backend']} backend; "
             f"{report['metrics']['spikes']:.0f} spikes and {report['metrics']['synaptic_events']:.0f} synaptic "
             f"events per sample"]
    if "accuracy" in report:
        acc = report["accuracy"]
        uar = "n/a" if acc["uar"] is None else f"{acc['uar'] * 100:.2f} %"
        lines.append(f"accuracy (WAR) {acc['war'] * 100:.2f} %, UAR {uar}")
    if "regression" in report:
        from ..regression import regression_lines
        lines += regression_lines(report["regression"])
    lines += table_lines(report["profiles"])
    lines += static_lines(report["profiles"])
    lines += validation_lines(report["profiles"])
    lines += [f"{name}: {block['note']}" for name, block in report["profiles"].items() if block.get("note")]
    return lines


def table_lines(profiles: dict[str, Any]) -> list[str]:
    """The profiles as an aligned table: fit, cores, energy per inference [band], its static part, latency [band]."""
    banded = any((b.get("energy") or {}).get(k) for b in profiles.values() if b["kind"] != "baseline"
                 for k in ("band_uj", "latency_band_ms"))
    band = " [band]" if banded else ""
    rows = [["profile", "kind", "fits", "cores", f"energy/inference{band}", "static", f"latency{band}"]]
    for name, block in profiles.items():
        if block["kind"] == "baseline":
            base = block["baseline"]
            rows.append([name, "ANN baseline", "-", "-", _fmt_energy(base["total_pj"], base["dynamic_pj"]),
                         _fmt_static(base.get("static_pj"), base["total_pj"]), _fmt_latency(base["latency_ns"])])
            continue
        placement = block["placement"]
        energy = block["energy"] or {}
        fits = "yes" if placement["fits"] else ("unknown" if (placement["problem"] or "").startswith("unknown")
                                                 else "NO")
        cores = "-" if placement["cores_used"] is None else (
            f"{placement['cores_used']}/{placement['cores_available'] or '?'}")
        rows.append([name, "neuromorphic", fits, cores,
                     _fmt_energy(energy.get("total_pj"), energy.get("dynamic_pj"), energy.get("band_uj")),
                     _fmt_static(energy.get("static_pj"), energy.get("total_pj")),
                     _fmt_latency(energy.get("latency_ns"), energy.get("latency_band_ms"))])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def static_lines(profiles: dict[str, Any]) -> list[str]:
    """How the chips' static power was charged: one line when every chip says the same, else one per chip."""
    modes = {name: (block.get("energy") or {}).get("static_mode") for name, block in profiles.items()
             if block["kind"] != "baseline"}
    modes = {name: mode for name, mode in modes.items() if mode}
    if len(set(modes.values())) == 1:
        mode = next(iter(modes.values()))
        return [_STATIC_LINES.get(mode, f"static: {mode}")]
    return [f"{name}: static {mode}" for name, mode in modes.items()]


def validation_lines(profiles: dict[str, Any]) -> list[str]:
    """One line per published point each estimate was checked against: the error, published against modelled,
    then the source (last: sources are long)."""
    lines = []
    for name, block in profiles.items():
        energy = block.get("energy") if block["kind"] != "baseline" else None
        for what, key in (("energy", "validation"), ("latency", "latency_validation")):
            check = (energy or {}).get(key)
            if not check:
                continue
            unit, error = check.get("unit") or "", check.get("error_pct")
            kind = f" ({check['kind']})" if check.get("kind") else ""
            if check.get("published") is None and check.get("modelled") is None:     # the authors' own figure
                numbers = "error unknown" if error is None else f"error within +-{abs(error):.3g} %"
            else:
                modelled, published = (("unknown" if v is None else f"{_num(v)} {unit}".rstrip())
                                       for v in (check.get("modelled"), check.get("published")))
                numbers = f"error {_fmt_pct(error)}, modelled {modelled}, published {published}"
            lines.append(f"{name}: {what} {numbers}{kind}; checked against {check.get('source', 'unknown source')}")
    return lines


_ENERGY_UNITS = (("pJ", 1e-6), ("nJ", 1e-3), ("uJ", 1.0), ("mJ", 1e3), ("J", 1e6))        # sizes in uJ
_TIME_UNITS = (("ns", 1e-6), ("us", 1e-3), ("ms", 1.0), ("s", 1e3))                       # sizes in ms


def _num(value: float) -> str:
    """3 significant digits without an exponent from 0.001 up ("8250", not "8.25e+03")."""
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def _scaled(value: float | None, units: tuple[tuple[str, float], ...], band: Any = None) -> str:
    """`value` (in the units' base) in the unit that puts it between 1 and 1000, and its band in the same unit:
    "8.25 mJ [8.25, 8.66]"; "unknown" for None."""
    if value is None:
        return "unknown"
    name, size = units[0]
    for candidate in units:
        if abs(float(f"{value:.3g}")) >= candidate[1]:
            name, size = candidate
    text = f"{_num(value / size)} {name}"
    if isinstance(band, (list, tuple)) and len(band) == 2 and all(isinstance(v, (int, float)) for v in band):
        text += f" [{_num(band[0] / size)}, {_num(band[1] / size)}]"
    return text


def _fmt_pct(value: float | None) -> str:
    return "unknown" if value is None else f"{value:+.1f} %"


def _fmt_static(static_pj: float | None, total_pj: float | None) -> str:
    """The static part with its share of the total: "36.4 uJ (68 %)", "940 pJ (0.026 %)"."""
    if static_pj is None:
        return "unknown"
    share = ""
    if total_pj:
        pct = 100 * static_pj / total_pj
        share = f" ({pct:.2g} %)" if pct < 1 else f" ({pct:.0f} %)"
    return _scaled(static_pj / 1e6, _ENERGY_UNITS) + share


def _fmt_energy(total_pj: float | None, dynamic_pj: float | None, band_uj: Any = None) -> str:
    """Energy per inference with its band; with the static part unknown, the dynamic part as a lower bound."""
    if total_pj is None and dynamic_pj is not None:
        return f">= {_scaled(dynamic_pj / 1e6, _ENERGY_UNITS)} (dynamic)"
    return _scaled(None if total_pj is None else total_pj / 1e6, _ENERGY_UNITS, band_uj)


def _fmt_latency(latency_ns: float | None, band_ms: Any = None) -> str:
    return _scaled(None if latency_ns is None else latency_ns / 1e6, _TIME_UNITS, band_ms)


def _codings(args: argparse.Namespace) -> int:
    """`bench genome.json --coding ttfs,sdnn`: the genome in each coding, side by side (`energy/codings.py`)."""
    from pathlib import Path

    from ..energy.codings import render_markdown, run_codings_bench

    out_dir = args.output or Path("build") / f"codings-{args.target.stem}"
    comparison = run_codings_bench(
        args.target, args.input, [c.strip() for c in args.coding.split(",")], out_dir, profiles=args.profiles,
        backend=args.backend, calibration=args.calibration, progress=not args.no_progress and not args.json,
        samples=args.samples, compile_profile=args.compile_profile, window_us=args.event_window_us,
        static_mode=args.static)
    if args.json:
        print(json.dumps(comparison, indent=2, sort_keys=True))
        return 0
    print(render_markdown(comparison), end="")
    print(f"wrote {out_dir / 'codings.json'}, {out_dir / 'codings.md'} and the report of each coding in {out_dir}")
    return 0
