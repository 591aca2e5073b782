"""Compile time of each bundled model (imports excluded) and reference-simulator throughput.

    .venv/bin/python benchmarks/compile_speed.py          # prints one JSON object

Compile = load genome, weights, profile and calibration data, lower, choose windows, quantize, measure
headroom on the calibration data, write the artifact. Targets: tnas_er_eye under 2 s.
Throughput: samples per second of the integer reference simulator on the digits test split.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tnas_deploy.artifact import save_artifact  # noqa: E402  (imports are not part of the timing)
from tnas_deploy.compiler import compile_files  # noqa: E402
from tnas_deploy.data import load_dataset  # noqa: E402
from tnas_deploy.runner import simulate  # noqa: E402

MODELS = {
    "digits_ttfs": ("models/digits_ttfs.json", "models/digits_calib.npz"),
    "tnas_er_eye": ("models/tnas_er_eye.json", "models/eye_events_synthetic.npz"),
}
REPEATS = 3


def best_of(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    out: dict[str, object] = {"repeats": REPEATS, "statistic": "best of repeats, seconds"}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (genome, calib) in MODELS.items():
            def job(genome: str = genome, calib: str = calib, name: str = name) -> None:
                net, summary = compile_files(ROOT / genome, calibration_path=ROOT / calib)
                save_artifact(net, Path(tmp) / f"{name}.tdart", summary)
            out[f"compile_s_{name}"] = round(best_of(job), 3)
        net, _ = compile_files(ROOT / MODELS["digits_ttfs"][0], calibration_path=ROOT / MODELS["digits_ttfs"][1])
        test = load_dataset(ROOT / "models/digits_test.npz", net.input_shape)
        seconds = best_of(lambda: simulate(net, test.x))
        out["refsim_samples"] = len(test)
        out["refsim_samples_per_s_digits"] = round(len(test) / seconds, 1)
    out["target_compile_s_tnas_er_eye"] = 2.0
    out["meets_target"] = out["compile_s_tnas_er_eye"] < 2.0
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
