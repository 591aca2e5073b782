"""Discrete-time TTFS error against the ANN, and the proven bound, for several steps per window K.

    .venv/bin/python examples/ttfs_error_vs_steps.py

Float TTFS network (`tnas_deploy.schemes.ttfs.mapping.simulate_float`, no fixed-point quantization) of the bundled digits
model, windows calibrated on models/digits_calib.npz (the genome's margin), evaluated on models/digits_test.npz.
"ANN" is the genome's ReLU ANN counterpart in float64 (`tnas_deploy.ann`). The bound is the largest entry of
`tnas_deploy.schemes.ttfs.mapping.error_bound` (docs/ttfs.md); it applies because no test activation exceeds its window,
which the script checks. The last row is continuous time (no grid): the mapping itself, exact up to float64.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tnas_deploy.ann import ann_activations  # noqa: E402
from tnas_deploy.data import load_dataset  # noqa: E402
from tnas_deploy.genome import load_genome  # noqa: E402
from tnas_deploy.schemes.ttfs.lowering import lower  # noqa: E402
from tnas_deploy.schemes.ttfs.mapping import calibrate_windows, error_bound, forward_float, simulate_float  # noqa: E402
from tnas_deploy.weights import load_weights  # noqa: E402

STEPS = (8, 32, 256, 4096)


def main() -> None:
    models = ROOT / "models"
    genome = load_genome(models / "digits_ttfs.json")
    weights = load_weights(genome)
    shape, n_classes = genome.task.input_shape, len(genome.task.classes)
    calib = load_dataset(models / "digits_calib.npz", shape, n_classes, "--calibration")
    test = load_dataset(models / "digits_test.npz", shape, n_classes)

    layers = lower(genome, weights)
    windows = calibrate_windows(layers, calib.x, genome.time.window_margin)
    ann = ann_activations(genome, weights, test.x)[genome.readout.id]

    # the bound needs every ANN activation inside its window: check it on the test data
    acts = forward_float(layers, test.x)
    fill = max(float(acts[k].max()) / b for k, b in windows.length.items())

    print(f"{genome.name}: {len(test)} test samples, windows from {windows.method} "
          f"(margin {genome.time.window_margin}); largest test activation / window = {fill:.3f}")
    print(f"{'K':>5}  {'max |TTFS - ANN|':>16}  {'bound':>10}  {'within bound':>12}")
    for k in STEPS:
        err = np.abs(simulate_float(layers, windows, test.x, k).logits - ann)
        bound = error_bound(layers, windows, k)
        holds = bool(np.all(err <= bound)) and fill <= 1.0
        print(f"{k:>5}  {err.max():>16.3e}  {bound.max():>10.3e}  {'yes' if holds else 'NO':>12}")
    err = np.abs(simulate_float(layers, windows, test.x, None).logits - ann)
    print(f"{'cont.':>5}  {err.max():>16.3e}  {0.0:>10.3e}  {'(float64)':>12}")


if __name__ == "__main__":
    main()
