"""Train the bundled rate-coded digits models (genome version 2) on scikit-learn's 8x8 digits, and write
their genomes (`models/<name>.json`, with provenance) and weights (`models/<name>.h5`).

    .venv/bin/python examples/train_rate_digits.py --all                    # both models
    .venv/bin/python examples/train_rate_digits.py --model csnn_digits      # one of them

* `csnn_digits`: the facial-emotion CSNN layout (../shared/DOMAIN.md section 4) scaled to 8x8 digits, T = 4:
  conv3x3(1->16)+BN-IF-maxpool2, conv3x3(16->32)+BN-IF-maxpool2, dense 128->64 LIF, 64->32 LIF, 32->10 LIF,
  spike-count readout. Trained with a batchnorm after each conv, which is folded into the conv when the
  weights are written ("BN folded"): the genome has each conv2d with its IF neuron directly.
* `snasnet_digits`: a SNASNet-style network (DOMAIN.md section 3), T = 5: stem conv3x3(1->16)+BN, one
  `snas_cell` with backward edges (LIF tau 4/3), BN-LIF, avgpool2, dense 256->32 LIF, dense 32->10,
  membrane readout. (With 8 stem channels it reached ~94 %, with 16 ~98 %.)

Both are trained in float with surrogate gradients (`tnas_deploy.rate.torch_model`, ATan), cross-entropy on
the readout's logits (spike counts, resp. summed membrane), on the same split as `models/digits_ttfs`
(`examples/train_digits.py:digits_splits`). Reproducible: fixed seeds, one thread, deterministic algorithms;
a second run writes the same bytes.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

from tnas_deploy.genome import genome_from_json, load_genome  # noqa: E402
from tnas_deploy.io_utils import write_text_atomic  # noqa: E402
from tnas_deploy.schemes.rate.torch_model import RateSNN, build_rate_snn  # noqa: E402
from tnas_deploy.weights import Weights, expected_shapes, load_weights, save_weights  # noqa: E402
from train_digits import SEED, digits_splits  # noqa: E402  (same seed and split as models/digits_ttfs)

BN_EPS = 1e-5            # the batchnorm nodes' default eps
CLASSES = [str(d) for d in range(10)]
TASK = {"input_shape": [1, 8, 8], "classes": CLASSES,
        "description": "scikit-learn digits (1,797 real 8x8 images, 16 grey levels), pixels scaled to [0, 1]"}


def if_neuron() -> dict[str, Any]:
    return {"model": "if", "threshold": 1.0, "reset": "zero", "tau": None, "decay_input": True, "tau_current": None}


def lif_neuron(tau: float) -> dict[str, Any]:
    return {"model": "lif", "threshold": 1.0, "reset": "zero", "tau": tau, "decay_input": True, "tau_current": None}


# -- the two networks ------------------------------------------------------------------------------
CSNN_NODES: list[dict[str, Any]] = [
    {"id": "x", "type": "input"},
    {"id": "conv1", "type": "conv2d", "inputs": ["x"], "out_channels": 16, "kernel": 3, "padding": 1,
     "neuron": if_neuron()},
    {"id": "pool1", "type": "maxpool2d", "inputs": ["conv1"], "kernel": 2},
    {"id": "conv2", "type": "conv2d", "inputs": ["pool1"], "out_channels": 32, "kernel": 3, "padding": 1,
     "neuron": if_neuron()},
    {"id": "pool2", "type": "maxpool2d", "inputs": ["conv2"], "kernel": 2},
    {"id": "flat", "type": "flatten", "inputs": ["pool2"]},
    {"id": "fc1", "type": "dense", "inputs": ["flat"], "units": 64, "neuron": lif_neuron(2.0)},
    {"id": "fc2", "type": "dense", "inputs": ["fc1"], "units": 32, "neuron": lif_neuron(2.0)},
    {"id": "fc3", "type": "dense", "inputs": ["fc2"], "units": 10, "neuron": lif_neuron(2.0)},
    {"id": "out", "type": "readout", "inputs": ["fc3"], "mode": "spike_count"},
]

SNAS_MATRIX = [[0, 2, 3, 1], [4, 0, 2, 3], [0, 1, 0, 4], [0, 0, 2, 0]]   # three backward edges
SNAS_NODES: list[dict[str, Any]] = [
    {"id": "x", "type": "input"},
    {"id": "stem", "type": "conv2d", "inputs": ["x"], "out_channels": 16, "kernel": 3, "padding": 1, "bias": False},
    {"id": "stem_bn", "type": "batchnorm", "inputs": ["stem"]},
    {"id": "cell1", "type": "snas_cell", "inputs": ["stem_bn"], "matrix": SNAS_MATRIX, "neuron": lif_neuron(4 / 3)},
    {"id": "bn1", "type": "batchnorm", "inputs": ["cell1"], "neuron": lif_neuron(4 / 3)},
    {"id": "pool1", "type": "avgpool2d", "inputs": ["bn1"], "kernel": 2},
    {"id": "flat", "type": "flatten", "inputs": ["pool1"]},
    {"id": "fc1", "type": "dense", "inputs": ["flat"], "units": 32, "neuron": lif_neuron(4 / 3)},
    {"id": "fc2", "type": "dense", "inputs": ["fc1"], "units": 10},
    {"id": "out", "type": "readout", "inputs": ["fc2"]},
]


@dataclass(frozen=True)
class Recipe:
    nodes: list[dict[str, Any]]
    steps: int
    description: str
    source: str
    epochs: int
    lr: float
    #: conv2d ids trained with a batchnorm after them that is folded in when the weights are written.
    fold_bn: tuple[str, ...] = ()
    batch: int = 64


RECIPES: dict[str, Recipe] = {
    "csnn_digits": Recipe(
        CSNN_NODES, 4,
        "The facial-emotion CSNN layout (conv3x3+BN-IF-maxpool2 twice, three LIF linear layers, spike-count "
        "readout, T = 4) scaled down to scikit-learn's 8x8 digits, BN folded into the convolutions; trained by "
        "examples/train_rate_digits.py.",
        "facial-emotion CSNN seed report (see ../shared/DOMAIN.md section 4), scaled to 8x8 digits",
        epochs=40, lr=5e-3, fold_bn=("conv1", "conv2")),
    "snasnet_digits": Recipe(
        SNAS_NODES, 5,
        "SNASNet-style network (stem conv3x3(1->16)+BN, one snas_cell with backward edges, LIF tau 4/3, BN-LIF, "
        "avgpool, dense-LIF-dense, membrane readout, T = 5) for scikit-learn's 8x8 digits; trained by "
        "examples/train_rate_digits.py.",
        "SNASNet, Kim et al., ECCV 2022, arXiv 2201.10355 (see ../shared/DOMAIN.md section 3), scaled to 8x8 digits",
        epochs=30, lr=5e-3),
}


def genome_json(name: str, recipe: Recipe, provenance: dict[str, Any],
                nodes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"format": "tnas-genome", "version": 2, "name": name, "description": recipe.description, "task": TASK,
            "coding": {"scheme": "rate", "steps": recipe.steps}, "weights": f"{name}.h5",
            "provenance": provenance, "nodes": recipe.nodes if nodes is None else nodes}


def dump_genome(obj: dict[str, Any]) -> str:
    """The genome as JSON laid out like the other bundled genomes: one line per key of the small objects,
    one line per node."""
    parts = []
    for key, value in obj.items():
        if key == "nodes":
            body = ",\n".join(f"    {json.dumps(n)}" for n in value)
            parts.append(f'  "nodes": [\n{body}\n  ]')
        elif isinstance(value, dict) and key != "coding":
            body = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
            parts.append(f"  {json.dumps(key)}: {{\n{body}\n  }}")
        else:
            parts.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


# -- BN folding ------------------------------------------------------------------------------------
def with_training_batchnorm(nodes: list[dict[str, Any]], convs: tuple[str, ...]) -> list[dict[str, Any]]:
    """The nodes with conv `c` (which carries a neuron) split into conv `c` (no bias, no neuron) and a
    batchnorm `c_bn` carrying the neuron; edges that named `c` name `c_bn`."""
    out: list[dict[str, Any]] = []
    rename = {c: f"{c}_bn" for c in convs}
    for node in copy.deepcopy(nodes):
        if "inputs" in node:
            node["inputs"] = [rename.get(s, s) for s in node["inputs"]]
        if node["id"] in rename:
            neuron = node.pop("neuron")
            out.append({**node, "bias": False, "neuron": None})
            out.append({"id": rename[node["id"]], "type": "batchnorm", "inputs": [node["id"]], "neuron": neuron})
        else:
            out.append(node)
    return out


def fold_batchnorm(weights: Weights, convs: tuple[str, ...]) -> Weights:
    """Fold batchnorm `c_bn` into conv `c` (no bias): W' = W g, b' = bias_bn - running_mean g,
    g = weight_bn / sqrt(running_var + eps). Computed in float64, then stored as float32."""
    out = {k: dict(v) for k, v in weights.items() if not any(k == f"{c}_bn" for c in convs)}
    for c in convs:
        bn = {k: np.asarray(v, np.float64) for k, v in weights[f"{c}_bn"].items()}
        g = bn["weight"] / np.sqrt(bn["running_var"] + BN_EPS)
        out[c] = {"weight": np.asarray(weights[c]["weight"], np.float64) * g[:, None, None, None],
                  "bias": bn["bias"] - bn["running_mean"] * g}
    return out


# -- training --------------------------------------------------------------------------------------
def evaluate(model: RateSNN, x: np.ndarray, y: np.ndarray, batch: int = 512) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(torch.as_tensor(x[i:i + batch]))
            correct += int((logits.argmax(1).numpy() == y[i:i + batch]).sum())   # argmax: lowest index on ties
    return correct / len(x)


def train_model(name: str, models_dir: Path, epochs: int | None = None,
                log: Callable[[str], None] = print) -> float:
    """Train `name`, write its genome and weights into `models_dir`; returns the float test accuracy of
    the written (deployed) genome and weights."""
    recipe = RECIPES[name]
    epochs = recipe.epochs if epochs is None else epochs
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    x_train, x_test, y_train, y_test = digits_splits()
    train_nodes = with_training_batchnorm(recipe.nodes, recipe.fold_bn)
    train_genome = genome_from_json(genome_json(name, recipe, {}, train_nodes))
    model = build_rate_snn(train_genome).train()
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.as_tensor(x_train), torch.as_tensor(y_train)
    gen = torch.Generator().manual_seed(SEED)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), recipe.batch):
            idx = perm[i:i + recipe.batch]
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        sched.step()
        if epoch % 10 == 9 or epoch == epochs - 1:
            log(f"{name}  epoch {epoch + 1:3d}  loss {total / len(xt):.4f}  "
                f"train-graph test accuracy {evaluate(model, x_test, y_test) * 100:.2f} %")
    seconds = time.perf_counter() - start

    weights = fold_batchnorm(model.export_weights(), recipe.fold_bn)
    provenance = {
        "source": recipe.source,
        "search": "hand-designed reference point (not searched)",
        "weights_status": "trained",
        "training": (f"examples/train_rate_digits.py --model {name} --epochs {epochs}: seed {SEED}, Adam lr "
                     f"{recipe.lr:g} cosine, batch {recipe.batch}, {epochs} epochs on the digits_ttfs train split, "
                     "float model with ATan surrogate gradients, cross-entropy on the readout's logits "
                     + ("(spike counts)" if recipe.nodes[-1].get("mode") == "spike_count" else "(summed membrane)")
                     + ("; batchnorm after each conv during training, folded into the conv" if recipe.fold_bn else "")),
    }
    genome_path = models_dir / f"{name}.json"
    genome_obj = genome_json(name, recipe, provenance)
    genome = genome_from_json(genome_obj, genome_path)
    missing = set(expected_shapes(genome)) ^ set(weights)
    assert not missing, f"weights and genome disagree on {sorted(missing)}"
    save_weights(weights, models_dir / f"{name}.h5")
    # Measure what was written: the deployed genome (BN folded, float32 weights file), in float64.
    accuracy = evaluate(build_rate_snn(genome, load_weights(genome, models_dir / f"{name}.h5")).double(),
                        x_test.astype(np.float64), y_test)
    genome_obj["provenance"]["float_test_accuracy"] = round(accuracy, 6)
    write_text_atomic(genome_path, dump_genome(genome_obj))
    load_genome(genome_path)   # the file written is a valid genome
    log(f"{name}: float test accuracy {accuracy * 100:.2f} % ({round(accuracy * len(y_test))}/{len(y_test)}), "
        f"trained in {seconds:.0f} s; wrote {genome_path} and {models_dir / f'{name}.h5'}")
    return accuracy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", choices=sorted(RECIPES))
    which.add_argument("--all", action="store_true", help="train every model")
    ap.add_argument("--epochs", type=int, default=None,
                    help="default: the recipe's (" + ", ".join(f"{k} {r.epochs}" for k, r in RECIPES.items()) + ")")
    ap.add_argument("--models-dir", type=Path, default=ROOT / "models",
                    help="where to write <name>.json and <name>.h5 (default: the bundled models)")
    args = ap.parse_args()
    args.models_dir.mkdir(parents=True, exist_ok=True)
    for name in (sorted(RECIPES) if args.all else [args.model]):
        train_model(name, args.models_dir, args.epochs)


if __name__ == "__main__":
    main()
