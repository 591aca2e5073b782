"""Sigma-delta (SDNN) against the ANN: accuracy, spikes and logit error per delta threshold and per step count.

    .venv/bin/python benchmarks/sdnn_settling.py

The bundled digits model (models/digits_ttfs.json + .h5) compiled with `--coding sdnn` on models/digits_calib.npz
for each delta threshold (a fraction of each layer's calibration peak), evaluated on models/digits_test.npz. For
every step count 1 .. settle + 1 (the readout is read after that many steps) it reports the float sigma-delta network
(lowered float weights, the compiled thresholds in real units) and the integer one (the reference simulator) against
the genome's float64 ReLU ANN: accuracy and the largest |logit - ANN logit|. Prints JSON; no timings.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tnas_deploy.ann import ann_activations  # noqa: E402
from tnas_deploy.compiler import compile_network, load_inputs  # noqa: E402
from tnas_deploy.schemes import CompileOptions, scheme_named  # noqa: E402
from tnas_deploy.schemes.sdnn.float_model import simulate_float  # noqa: E402
from tnas_deploy.schemes.sdnn.refsim import run_sdnn  # noqa: E402

THRESHOLDS = (0.0, 1 / 256, 1 / 128, 1 / 64, 1 / 32, 1 / 16)


def main() -> None:
    models = ROOT / "models"
    inputs = load_inputs(models / "digits_ttfs.json", None, "loihi2", models / "digits_calib.npz")
    test = scheme_named("sdnn").load_data(models / "digits_test.npz", inputs.genome)
    ann = ann_activations(inputs.genome, inputs.weights, test.x)[inputs.genome.readout.id]
    report: dict = {"model": "digits_ttfs", "test_samples": len(test), "calibration_samples": len(inputs.calibration),
                    "ann_accuracy": float((ann.argmax(1) == test.y).mean()), "thresholds": []}
    for theta in THRESHOLDS:
        net = compile_network(inputs, CompileOptions(coding="sdnn", delta_threshold=theta))
        steps = net.steps + 1
        floats = simulate_float(inputs, net, test.x, steps)
        sent, _, _, ints = run_sdnn(net.layers, test.x, steps, integer=True)
        scale = net.readout.scale
        per_step = []
        for k in range(steps):
            f, i = floats[k], ints[k] / scale
            per_step.append({"steps": k + 1,
                             "float_accuracy": float((f.argmax(1) == test.y).mean()),
                             "float_max_logit_error": float(np.abs(f - ann).max()),
                             "integer_accuracy": float((ints[k].argmax(1) == test.y).mean()),
                             "integer_max_logit_error": float(np.abs(i - ann).max())})
        spikes = sum(int(np.count_nonzero(v)) for k, v in sent.items() if k != net.layers[0].id) / len(test)
        report["thresholds"].append({"delta_threshold": theta, "settle_steps": net.steps,
                                     "graded_spikes_per_sample": round(spikes, 2), "per_step": per_step})
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
