"""Train the bundled `models/digits_ttfs` network on scikit-learn's digits (real 8x8 handwritten digits that
ship inside scikit-learn) and write the genome's weights, the data splits (then `examples/model_cards.py` measures the model card).

    .venv/bin/python examples/train_digits.py            # rewrites models/digits_ttfs.h5 and the data splits

Reproducible: fixed seeds, single-threaded CPU training. The genome itself (models/digits_ttfs.json) is
hand-written; this script only trains its ReLU ANN counterpart and measures the deployed accuracies.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tnas_deploy.ann import build_ann  # noqa: E402
from tnas_deploy.data import save_dataset  # noqa: E402
from tnas_deploy.genome import load_genome  # noqa: E402
from tnas_deploy.weights import save_weights  # noqa: E402

SEED = 20251202          # TNAS-ER's arXiv date, any fixed number would do
CALIBRATION_SAMPLES = 512


def digits_splits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """80/20 stratified split of the 1,797 digits; pixels 0..16 scaled to [0, 1], shape (N, 1, 8, 8)."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)  # type: ignore[return-value]


def train(genome_path: Path, epochs: int) -> None:
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    genome = load_genome(genome_path)
    x_train, x_test, y_train, y_test = digits_splits()
    model = build_ann(genome).train()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.as_tensor(x_train), torch.as_tensor(y_train)
    gen = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        sched.step()
        if epoch % 10 == 9 or epoch == epochs - 1:
            model.eval()
            with torch.no_grad():
                acc = (model(torch.as_tensor(x_test)).argmax(1).numpy() == y_test).mean()
            model.train()
            print(f"epoch {epoch + 1:3d}  loss {total / len(xt):.4f}  test accuracy {acc * 100:.2f} %")
    model.eval()
    weights_path = genome.weights_path()
    save_weights(model.export_weights(), weights_path)
    models = genome_path.parent
    rng = np.random.default_rng(SEED)
    calib = rng.choice(len(x_train), CALIBRATION_SAMPLES, replace=False)
    save_dataset(models / "digits_calib.npz", x_train[np.sort(calib)], y_train[np.sort(calib)])
    save_dataset(models / "digits_test.npz", x_test, y_test)
    print(f"wrote {weights_path}, {models / 'digits_calib.npz'}, {models / 'digits_test.npz'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--genome", type=Path, default=ROOT / "models" / "digits_ttfs.json")
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args()
    train(args.genome, args.epochs)
    print("now run examples/model_cards.py to re-measure the model cards")


if __name__ == "__main__":
    main()
