"""Write the bundled `models/tnas_er_eye` weights (seeded, UNTRAINED) and a small synthetic event-camera set.

    .venv/bin/python examples/make_eye_model.py

The weights are PyTorch's default initialisation under a fixed seed, batch norm at identity statistics:
a network of the right structure and size for energy, resource and bit-exactness work, with no claim
of accuracy. The inputs are synthetic eye recordings: a dark pupil ellipse makes a small saccade over a
bright iris; an event camera fires OFF events where the pupil arrives and ON events where it leaves,
plus sparse noise events. Each pixel and polarity keeps its first event time t as the TTFS value
1 - t / T (0 = no event); channel 0 holds OFF events, channel 1 ON events, as `tnas_deploy.events`
encodes real recordings. Clearly synthetic: no labels are written.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tnas_deploy.ann import build_ann  # noqa: E402
from tnas_deploy.data import save_dataset  # noqa: E402
from tnas_deploy.genome import load_genome  # noqa: E402
from tnas_deploy.weights import save_weights  # noqa: E402

SEED = 7
SIZE = 64
STEPS = 50            # time resolution of the simulated recording
SAMPLES = 32


def synthetic_eye_events(rng: np.random.Generator, samples: int = SAMPLES) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    out = np.zeros((samples, 2, SIZE, SIZE))
    for s in range(samples):
        c0 = rng.uniform(20, 44, size=2)
        c1 = c0 + rng.uniform(-10, 10, size=2)          # saccade end point
        ry, rx = rng.uniform(6, 11), rng.uniform(7, 12)
        first = np.full((2, SIZE, SIZE), np.inf)
        prev = None
        for t in range(STEPS):
            c = c0 + (c1 - c0) * min(1.0, t / (0.6 * STEPS))
            inside = ((yy - c[0]) / ry) ** 2 + ((xx - c[1]) / rx) ** 2 <= 1.0
            if prev is not None:
                on = prev & ~inside                        # pupil leaves: brighter
                off = inside & ~prev                       # pupil arrives: darker
                first[1][on & np.isinf(first[1])] = t     # channel 1: ON (as tnas_deploy.events encodes)
                first[0][off & np.isinf(first[0])] = t    # channel 0: OFF
            prev = inside
        noise = rng.random((2, SIZE, SIZE)) < 0.01
        noise_t = rng.integers(0, STEPS, size=(2, SIZE, SIZE)).astype(np.float64)
        first = np.where(noise & (noise_t < first), noise_t, first)
        out[s] = np.where(np.isinf(first), 0.0, 1.0 - first / STEPS)
    return out.astype(np.float32)


def main() -> None:
    torch.manual_seed(SEED)
    genome = load_genome(ROOT / "models" / "tnas_er_eye.json")
    model = build_ann(genome)        # default PyTorch init; batch norm: mean 0, var 1, gamma 1, beta 0
    save_weights(model.export_weights(), genome.weights_path())
    x = synthetic_eye_events(np.random.default_rng(SEED))
    save_dataset(ROOT / "models" / "eye_events_synthetic.npz", x)
    print(f"wrote {genome.weights_path()} and models/eye_events_synthetic.npz ({len(x)} synthetic samples)")


if __name__ == "__main__":
    main()
