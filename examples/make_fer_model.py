"""Write the weights of the bundled `models/csnn_fer` genome (seeded, UNTRAINED) and a few synthetic faces.

    .venv/bin/python examples/make_fer_model.py          # writes models/csnn_fer.h5 (~85 MB, not committed)

The facial-emotion CSNN has about 21.5 M parameters (18432 x 1152 in its first linear layer). They are
PyTorch's default initialisation (Kaiming-uniform weights and biases) under a fixed seed, with batch
norm at identity statistics, so the file is the same bytes on every machine: a network of the report's
size for compile, resource and bit-exactness work, with no claim of accuracy. `models/fer_synthetic.npz`
holds a few synthetic 48x48 "faces" (smooth seeded blobs), clearly not FER2013 data, with no labels.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tnas_deploy.data import save_dataset  # noqa: E402
from tnas_deploy.genome import load_genome  # noqa: E402
from tnas_deploy.weights import expected_shapes, save_weights  # noqa: E402

SEED = 20240404
GENOME = ROOT / "models" / "csnn_fer.json"


def seeded_weights(genome_path: Path = GENOME) -> dict[str, dict[str, np.ndarray]]:
    """PyTorch's default initialisation of every weight the genome names, under SEED (float32)."""
    genome = load_genome(genome_path)
    torch.manual_seed(SEED)
    out: dict[str, dict[str, np.ndarray]] = {}
    for node_id, shapes in expected_shapes(genome).items():
        node = genome.by_id[node_id]
        if node.type_tag == "batchnorm":
            c = shapes["weight"][0]
            out[node_id] = {"weight": np.ones(c, np.float32), "bias": np.zeros(c, np.float32),
                            "running_mean": np.zeros(c, np.float32), "running_var": np.ones(c, np.float32)}
            continue
        w = torch.empty(shapes["weight"])
        torch.nn.init.kaiming_uniform_(w, a=5 ** 0.5)            # nn.Linear / nn.Conv2d default
        tensors = {"weight": w.numpy()}
        if "bias" in shapes:
            fan_in = int(np.prod(shapes["weight"][1:]))
            bound = 1.0 / fan_in ** 0.5
            tensors["bias"] = torch.empty(shapes["bias"]).uniform_(-bound, bound).numpy()
        out[node_id] = tensors
    return out


def synthetic_faces(samples: int = 4) -> np.ndarray:
    """Smooth seeded greyscale blobs in [0, 1], shape (samples, 1, 48, 48)."""
    rng = np.random.default_rng(SEED)
    yy, xx = np.mgrid[0:48, 0:48] / 47.0
    x = np.zeros((samples, 1, 48, 48))
    for i in range(samples):
        img = np.zeros((48, 48))
        for _ in range(6):
            cy, cx, r, a = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.3), rng.uniform(0.2, 1)
            img += a * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        x[i, 0] = np.round(img / img.max() * 255) / 255
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "models" / "csnn_fer.h5")
    ap.add_argument("--faces", type=Path, default=ROOT / "models" / "fer_synthetic.npz")
    args = ap.parse_args()
    save_weights(seeded_weights(), args.output)
    save_dataset(args.faces, synthetic_faces())
    print(f"wrote {args.output} (untrained, seed {SEED}) and {args.faces}")


if __name__ == "__main__":
    main()
