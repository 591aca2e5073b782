"""NIR export: the written graph, read back with the `nir` package and interpreted under the documented
`tnas_deploy.ttfs` extension, is exactly the genome's ANN counterpart; what NIR cannot express is refused."""
from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from tnas_deploy.ann import ann_activations
from tnas_deploy.cli import main
from tnas_deploy.genome import load_genome
from tnas_deploy.interop.nir_common import EXTENSION
from tnas_deploy.random_genome import random_genome, random_inputs
from tnas_deploy.weights import load_weights, save_weights

ROOT = Path(__file__).resolve().parent.parent
AVGPOOL_SEED, MAXPOOL_SEED = 17, 4


def interpret(graph: nir.NIRGraph, x: np.ndarray) -> np.ndarray:
    """Evaluate the graph in the value domain the extension defines: a TTFS neuron's spike codes ReLU of its
    summed input; a first-spike max-pool codes the max; the readout integrator holds its input."""
    incoming: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        incoming.setdefault(dst, []).append(src)
    values: dict[str, torch.Tensor] = {}

    def value(name: str) -> torch.Tensor:
        if name in values:
            return values[name]
        node = graph.nodes[name]
        args = [value(s) for s in incoming.get(name, [])]
        total = sum(args[1:], args[0]) if args else None
        if isinstance(node, nir.Input):
            out = torch.as_tensor(x, dtype=torch.float64)
        elif isinstance(node, nir.Affine):
            out = total @ torch.as_tensor(node.weight).T + torch.as_tensor(node.bias)
        elif isinstance(node, nir.Conv2d):
            out = torch.nn.functional.conv2d(total, torch.as_tensor(node.weight), torch.as_tensor(node.bias),
                                             tuple(node.stride), tuple(node.padding), tuple(node.dilation),
                                             node.groups)
        elif isinstance(node, nir.Scale):
            out = total * torch.as_tensor(node.scale)
        elif isinstance(node, nir.IF):
            assert node.metadata[EXTENSION]["neuron"] == "b1-fire-once"
            out = torch.relu(total)
        elif isinstance(node, nir.SumPool2d):
            if any(isinstance(graph.nodes[d], nir.Threshold) for s_, d in graph.edges if s_ == name):
                out = total                               # pooled by the first-spike node that follows
            else:                                         # average pooling: window sum (then a Scale)
                out = torch.nn.functional.avg_pool2d(total, tuple(node.kernel_size), tuple(node.stride)) * float(
                    np.prod(node.kernel_size))
        elif isinstance(node, nir.Threshold):
            assert node.metadata[EXTENSION]["op"] == "maxpool2d"
            pool = graph.nodes[incoming[name][0]]
            out = torch.nn.functional.max_pool2d(total, tuple(pool.kernel_size), tuple(pool.stride))
        elif isinstance(node, nir.Flatten):
            out = total.flatten(1)
        elif isinstance(node, (nir.I, nir.Output)):
            out = total
        else:  # pragma: no cover
            raise TypeError(type(node))
        values[name] = out
        return out

    return value("output").numpy()


def _export(tmp_path: Path, genome_path: Path, *extra: str) -> nir.NIRGraph:
    out = tmp_path / "net.nir"
    assert main(["export", str(genome_path), "--format", "nir", "-o", str(out), *extra]) == 0
    return nir.read(out)


def test_digits_export_is_the_ann_counterpart(tmp_path) -> None:
    graph = _export(tmp_path, ROOT / "models/digits_ttfs.json", "--calibration", str(ROOT / "models/digits_calib.npz"))
    genome = load_genome(ROOT / "models/digits_ttfs.json")
    weights = load_weights(genome)
    x = np.load(ROOT / "models/digits_test.npz")["x"][:64].astype(np.float64)
    ann = ann_activations(genome, weights, x)[genome.readout.id]
    np.testing.assert_allclose(interpret(graph, x), ann, atol=1e-9)
    # every node whose NIR meaning differs from ours says so
    for name, node in graph.nodes.items():
        if isinstance(node, (nir.IF, nir.Threshold, nir.I)):
            assert EXTENSION in node.metadata, name
    assert graph.metadata[EXTENSION]["coding"] == "ttfs"
    assert graph.nodes["conv1.neuron"].metadata[EXTENSION]["window_index"] == 1


# seeds whose random genomes have no concat and together hold residual adds, batch norm, avg- and max-pooling
@pytest.mark.parametrize("seed", [2, 7, 9, 10, AVGPOOL_SEED, MAXPOOL_SEED])
def test_random_genomes_export_exactly(tmp_path, seed) -> None:
    genome, weights = random_genome(seed)
    assert all(node.type_tag != "concat" for node in genome.nodes)
    path = tmp_path / "g.json"
    path.write_text(json.dumps({**genome.to_json(), "weights": "w.h5"}))
    save_weights(weights, tmp_path / "w.h5")
    graph = _export(tmp_path, path)
    x = random_inputs(genome, 8, seed)
    ann = ann_activations(load_genome(path), load_weights(load_genome(path)), x)[genome.readout.id]
    np.testing.assert_allclose(interpret(graph, x), ann, atol=1e-6)


def test_netx_refuses_ttfs_with_the_reason(tmp_path, capsys) -> None:
    assert main(["export", str(ROOT / "models/digits_ttfs.json"), "--format", "netx", "-o",
                 str(tmp_path / "x.net")]) == 2
    err = capsys.readouterr().err
    assert "netx cannot express a TTFS network" in err and "fire-once" in err
    assert not (tmp_path / "x.net").exists()


def test_artifact_is_not_a_nir_source(tmp_path, capsys) -> None:
    art = tmp_path / "a.tdart"
    art.write_bytes(b"not json")
    assert main(["export", str(art), "--format", "nir", "-o", str(tmp_path / "x.nir")]) == 2
    assert "expected a genome .json" in capsys.readouterr().err
