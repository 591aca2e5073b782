"""Wall time of `tnas-deploy bench` on the digits test split, all bundled profiles, reference backend.

    .venv/bin/python benchmarks/bench_report.py          # prints one JSON object

Imports are done before timing; the timed part is everything `bench` does: load the artifact and data,
run the 360 samples, measure activity, map and estimate on every profile, write report.json, .md, .html
and the plots. Target: under 10 s.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402,F401  (imports are not part of the timing)
import matplotlib.pyplot  # noqa: E402,F401

from tnas_deploy.artifact import save_artifact  # noqa: E402
from tnas_deploy.compiler import compile_files  # noqa: E402
from tnas_deploy.energy.bench import run_bench  # noqa: E402
from tnas_deploy.profiles import available_profiles  # noqa: E402

REPEATS = 3


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        artifact = Path(tmp) / "digits.tdart"
        net, summary = compile_files(ROOT / "models/digits_ttfs.json", calibration_path=ROOT / "models/digits_calib.npz")
        save_artifact(net, artifact, summary)
        times = []
        for i in range(REPEATS):
            start = time.perf_counter()
            report, _ = run_bench(artifact, ROOT / "models/digits_test.npz", progress=False,
                                  out_dir=Path(tmp) / f"report{i}")
            times.append(time.perf_counter() - start)
    print(json.dumps({"samples": report["data"]["samples"], "profiles": available_profiles(),
                      "bench_s_best": round(min(times), 3), "bench_s_all": [round(t, 3) for t in times],
                      "target_s": 10.0, "meets_target": min(times) < 10.0}, indent=2))


if __name__ == "__main__":
    main()
