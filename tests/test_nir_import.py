"""NIR import (graphs as snnTorch, Norse and Sinabs write them, built with the `nir` package) and rate-genome
export: genome -> NIR -> genome keeps the float behaviour (same logits) and the compiled integers; whatever would
change behaviour is refused in one line naming the node and the parameter; what cannot be kept is printed as a
note. The imported networks against the producers' own semantics: tests/test_nir_producers.py."""
from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from tnas_deploy.cli import main
from tnas_deploy.compilation import CompileInputs
from tnas_deploy.compiler import compile_network
from tnas_deploy.genome import genome_from_json, load_genome
from tnas_deploy.interop.nir_common import RATE_EXTENSION
from tnas_deploy.interop.nir_import import graph_to_genome
from tnas_deploy.profiles import load_profile
from tnas_deploy.runner import simulate
from tnas_deploy.schemes.rate.nir import rate_genome_to_nir
from tnas_deploy.schemes.rate.torch_model import build_rate_snn
from tnas_deploy.weights import check_weights, expected_shapes, save_weights

ROOT = Path(__file__).resolve().parent.parent


def _rate(name: str, shape: list[int], nodes: list[dict], classes: int, steps: int = 6):
    genome = genome_from_json({"format": "tnas-genome", "version": 2, "name": name,
                               "task": {"input_shape": shape, "classes": [f"k{i}" for i in range(classes)]},
                               "coding": {"scheme": "rate", "steps": steps},
                               "nodes": [{"id": "x", "type": "input"}] + nodes})
    rng = np.random.default_rng(len(nodes))
    weights = {k: {n: rng.normal(0.25, 0.5, s) for n, s in v.items()} for k, v in expected_shapes(genome).items()}
    for w in weights.values():
        if "running_var" in w:
            w["running_var"] = np.abs(w["running_var"]) + 0.1
    return genome, check_weights(genome, weights, name)


MLP = [{"id": "d1", "type": "dense", "inputs": ["x"], "units": 9, "neuron": {"model": "if", "threshold": 1.0}},
       {"id": "d2", "type": "dense", "inputs": ["d1"], "units": 7,
        "neuron": {"model": "lif", "tau": 3.0, "threshold": 0.7, "decay_input": False}},
       {"id": "o", "type": "dense", "inputs": ["d2"], "units": 3},
       {"id": "out", "type": "readout", "inputs": ["o"]}]
CNN = [{"id": "c1", "type": "conv2d", "inputs": ["x"], "out_channels": 3, "kernel": 3, "padding": 1},
       {"id": "bn", "type": "batchnorm", "inputs": ["c1"], "neuron": {"model": "lif", "tau": 2.0, "threshold": 1.0}},
       {"id": "p", "type": "avgpool2d", "inputs": ["bn"], "kernel": 2, "padding": 1,
        "neuron": {"model": "if", "threshold": 0.5}},
       {"id": "c2", "type": "conv2d", "inputs": ["p"], "out_channels": 4, "kernel": 2},
       {"id": "n2", "type": "neuron", "inputs": ["c2"], "neuron": {"model": "if", "threshold": 1.0}},
       {"id": "a", "type": "avgpool2d", "inputs": ["n2"], "kernel": 2},
       {"id": "f", "type": "flatten", "inputs": ["a"]},
       {"id": "h", "type": "dense", "inputs": ["f"], "units": 6, "bias": False,
        "neuron": {"model": "lif", "tau": 2.0, "threshold": 0.8, "tau_current": 3.0}},
       {"id": "o", "type": "dense", "inputs": ["h"], "units": 4, "neuron": {"model": "if", "threshold": 0.5}},
       {"id": "out", "type": "readout", "inputs": ["o"], "mode": "spike_count"}]


def _round_trip(genome, weights, tmp_path: Path, dt: float):
    path = tmp_path / "g.nir"
    nir.write(path, rate_genome_to_nir(genome, weights, dt))
    imported = graph_to_genome(nir.read(path), path)
    again = genome_from_json(imported.genome)
    return again, check_weights(again, imported.weights, path), imported


@pytest.mark.parametrize("nodes, shape, classes, dt", [(MLP, [10], 3, 1.0), (CNN, [2, 7, 7], 4, 1e-3)])
def test_genome_nir_genome_keeps_the_float_behaviour(tmp_path, nodes, shape, classes, dt) -> None:
    genome, weights = _rate("rt", shape, nodes, classes)
    again, again_w, imported = _round_trip(genome, weights, tmp_path, dt)
    assert imported.notes == []
    assert again.steps == genome.steps and again.task == genome.task and again.readout.mode == genome.readout.mode
    neurons = {n.id: n.neuron for n in genome.nodes if n.neuron is not None}
    for node in again.nodes:
        if node.neuron is not None:        # exact neuron values (the record); bn's sits on c1, n2's on c2
            assert node.neuron == neurons[{"c1": "bn", "c2": "n2"}.get(node.id, node.id)]
    x = torch.tensor(np.random.default_rng(5).uniform(0, 1, (12, *shape)))
    with torch.no_grad():
        a = build_rate_snn(genome, weights).double()(x)
        b = build_rate_snn(again, again_w).double()(x)
    assert a.abs().sum() > 0
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-9, atol=1e-9)


def test_round_trip_compiles_to_the_same_integers(tmp_path) -> None:
    genome, weights = _rate("rt", [10], MLP, 3)
    again, again_w, _ = _round_trip(genome, weights, tmp_path, 0.5)
    save_weights(weights, tmp_path / "w.h5")
    nets = [compile_network(CompileInputs(g, w, tmp_path / "w.h5", load_profile("loihi2"), None))
            for g, w in ((genome, weights), (again, again_w))]
    x = np.random.default_rng(1).uniform(0, 1, (32, 10))
    r1, r2 = simulate(nets[0], x), simulate(nets[1], x)
    assert r1.spike_times.keys() == r2.spike_times.keys()
    for key in r1.spike_times:
        np.testing.assert_array_equal(r1.spike_times[key], r2.spike_times[key])
    np.testing.assert_array_equal(r1.readout, r2.readout)


# -- graphs as other producers write them (their behaviour against a numpy reference: test_nir_producers.py) ----

def _snntorch_mlp(dt: float = 1e-4, beta: float = 0.8) -> nir.NIRGraph:
    """snnTorch's export: Leaky with tau = dt / (1 - beta), r = tau / dt (input gain 1), v_leak 0."""
    rng = np.random.default_rng(11)
    tau = dt / (1 - beta)
    lif = lambda n: nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / dt), v_leak=np.zeros(n),
                            v_threshold=np.ones(n))
    return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([8])}),
                               "fc1": nir.Linear(weight=rng.normal(0.3, 0.5, (12, 8))), "lif1": lif(12),
                               "fc2": nir.Linear(weight=rng.normal(0.3, 0.5, (4, 12))), "lif2": lif(4),
                               "output": nir.Output(output_type={"output": np.array([4])})},
                        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")])


def _norse_cuba(dt: float = 1e-3) -> nir.NIRGraph:
    rng = np.random.default_rng(12)
    cuba = lambda n: nir.CubaLIF(tau_syn=np.full(n, 5e-3), tau_mem=np.full(n, 1e-2), r=np.ones(n),
                                 v_leak=np.zeros(n), v_threshold=np.full(n, 0.05), w_in=np.ones(n))
    return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([6])}),
                               "linear": nir.Linear(weight=rng.normal(0.4, 0.5, (10, 6))), "cuba": cuba(10),
                               "readout_w": nir.Linear(weight=rng.normal(0.4, 0.5, (3, 10))), "out_cuba": cuba(3),
                               "output": nir.Output(output_type={"output": np.array([3])})},
                        edges=[("input", "linear"), ("linear", "cuba"), ("cuba", "readout_w"),
                               ("readout_w", "out_cuba"), ("out_cuba", "output")])


def _sinabs_cnn() -> nir.NIRGraph:
    """Sinabs: IAF as IF(r = 1), SumPool2d, Flatten, Linear; dt = 1 step."""
    rng = np.random.default_rng(13)
    return nir.NIRGraph(nodes={
        "0": nir.Input(input_type={"input": np.array([1, 8, 8])}),
        "1": nir.Conv2d(input_shape=(8, 8), weight=rng.normal(0.3, 0.5, (4, 1, 3, 3)), stride=1, padding=1,
                        dilation=1, groups=1, bias=np.zeros(4)),
        "2": nir.IF(r=np.ones((4, 8, 8)), v_threshold=np.ones((4, 8, 8))),
        "3": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "4": nir.Flatten(input_type={"input": np.array([4, 4, 4])}, start_dim=1),
        "5": nir.Linear(weight=rng.normal(0.1, 0.3, (5, 64))),
        "6": nir.IF(r=np.ones(5), v_threshold=np.full(5, 2.0)),
        "7": nir.Output(output_type={"output": np.array([5])})},
        edges=[("0", "1"), ("1", "2"), ("2", "3"), ("3", "4"), ("4", "5"), ("5", "6"), ("6", "7")],
        type_check=False)


def test_snntorch_neuron_parameters() -> None:
    genome = genome_from_json(graph_to_genome(_snntorch_mlp(), "s.nir", dt=1e-4, steps=5).genome)
    spec = genome.by_id["fc1"].neuron
    assert spec.model == "lif" and spec.tau == pytest.approx(5.0) and spec.decay_input is False
    assert spec.threshold == 1.0 and spec.reset == "zero"
    cuba = genome_from_json(graph_to_genome(_norse_cuba(), "n.nir", dt=1e-3, steps=5).genome).by_id["linear"].neuron
    assert cuba.tau == pytest.approx(10.0) and cuba.tau_current == pytest.approx(5.0) and cuba.decay_input
    assert cuba.threshold == pytest.approx(0.05 * 5.0)     # the synaptic gain dt / tau_syn folded into it


def _with(graph: nir.NIRGraph, name: str, **changes) -> nir.NIRGraph:
    nodes = dict(graph.nodes)
    node = nodes[name]
    fields = {k: v for k, v in node.__dict__.items() if k not in ("input_type", "output_type", "metadata")}
    nodes[name] = type(node)(**{**fields, **changes})
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges), metadata=dict(graph.metadata or {}), type_check=False)


def _replace(graph: nir.NIRGraph, name: str, node) -> nir.NIRGraph:
    return nir.NIRGraph(nodes={**graph.nodes, name: node}, edges=list(graph.edges), type_check=False)


def _chain(readout) -> nir.NIRGraph:
    """input -> Linear -> `readout` (named 'li') -> Output."""
    return nir.NIRGraph(nodes={"i": nir.Input(input_type={"input": np.array([3])}), "w": nir.Linear(weight=np.eye(3)),
                               "li": readout, "o": nir.Output(output_type={"output": np.array([3])})},
                        edges=[("i", "w"), ("w", "li"), ("li", "o")], type_check=False)


@pytest.mark.parametrize("graph, field, words", [
    (_with(_snntorch_mlp(), "lif1", v_leak=np.full(12, 0.1)), "node 'lif1'.v_leak", "v_leak 0.1"),
    (_with(_snntorch_mlp(), "lif1", tau=np.linspace(1e-3, 2e-3, 12)), "node 'lif1'.tau", "one tau for all"),
    (_with(_snntorch_mlp(), "lif2", v_reset=np.full(4, -0.5)), "node 'lif2'.v_reset", "reset to 0"),
    (_with(_snntorch_mlp(), "lif2", tau=np.full(4, 5e-5)), "node 'lif2'.tau", "at least one step"),
    (_with(_sinabs_cnn(), "1", groups=2), "node '1'.groups", "no groups"),
    (_with(_sinabs_cnn(), "1", dilation=2), "node '1'.dilation", "no dilation"),
    (_replace(_sinabs_cnn(), "3", nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                               padding=np.array([1, 1]))), "node '3'.padding", "count_include_pad"),
    (nir.NIRGraph(nodes={"i": nir.Input(input_type={"input": np.array([3])}), "d": nir.Delay(delay=np.ones(3)),
                         "o": nir.Output(output_type={"output": np.array([3])})},
                  edges=[("i", "d"), ("d", "o")], type_check=False), "node 'd'.type", "cannot import a Delay"),
    (_chain(nir.LI(tau=np.full(3, 5e-5), r=np.ones(3), v_leak=np.zeros(3))), "node 'li'.tau", "at least one step"),
    (_chain(nir.LI(tau=np.full(3, 1e-4), r=np.ones(3), v_leak=np.ones(3))), "node 'li'.v_leak", "rest at 0"),
    (_chain(nir.CubaLI(tau_syn=np.ones(3), tau_mem=np.ones(3), r=np.ones(3), v_leak=np.zeros(3))), "node 'li'.type",
     "cannot import a CubaLI"),
    (_with(_snntorch_mlp(), "fc1", weight=np.full((12, 8), 0.5 + 0.5j)), "node 'fc1'.weight", "complex values"),
    (_with(_snntorch_mlp(), "fc2", weight=np.full((4, 12), "0.5")), "node 'fc2'.weight",
     "expected real numbers, got dtype <U3"),
    (_with(_snntorch_mlp(), "lif1", v_threshold=np.array([1.0] * 11 + [None], dtype=object)),
     "node 'lif1'.v_threshold", "expected real numbers, got dtype object"),
    (_with(_snntorch_mlp(), "lif2", tau=np.array([2e-4, 2e-4, np.nan, np.inf])), "node 'lif2'.tau",
     "2 non-finite value(s)"),
    (_replace(_norse_cuba(), "linear", nir.Affine(weight=np.ones((10, 6)), bias=np.full(10, 0.1))),
     "node 'linear'.bias", "a non-zero bias reaches CubaLIF 'cuba'"),
    (nir.NIRGraph(nodes={"i": nir.Input(input_type={"input": np.array([3])}), "w": nir.Linear(weight=np.eye(3)),
                         "lif": nir.IF(r=np.ones(3), v_threshold=np.ones(3)),
                         "o": nir.Output(output_type={"output": np.array([3])})},
                  edges=[("i", "w"), ("w", "w"), ("w", "lif"), ("lif", "o")], type_check=False),
     "node 'w'.inputs", "closes a loop through no neuron"),
    (nir.NIRGraph(nodes={"i": nir.Input(input_type={"input": np.array([3])}), "w": nir.Linear(weight=np.eye(3)),
                         "li": nir.I(r=np.ones(3)), "w2": nir.Linear(weight=np.eye(3)),
                         "o": nir.Output(output_type={"output": np.array([3])})},
                  edges=[("i", "w"), ("w", "li"), ("li", "w2"), ("w2", "o")], type_check=False),
     "node 'li'.outputs", "must feed the Output and nothing else"),
])
def test_refusals_name_the_node_and_parameter(graph, field, words) -> None:
    from tnas_deploy.errors import DeployError
    with pytest.raises(DeployError) as info:
        graph_to_genome(graph, "bad.nir", dt=1e-4, steps=4)
    text = str(info.value)
    assert text.startswith(f"bad.nir: {field}:") and words in text, text


def test_missing_time_step_is_asked_for() -> None:
    from tnas_deploy.errors import DeployError
    with pytest.raises(DeployError, match=r"node 'lif1'.tau: continuous-time neuron: pass --dt"):
        graph_to_genome(_snntorch_mlp(), "s.nir", steps=4)


def test_ttfs_graph_is_not_imported_as_rate(tmp_path, capsys) -> None:
    out = tmp_path / "digits.nir"
    assert main(["export", str(ROOT / "models/digits_ttfs.json"), "--format", "nir", "-o", str(out)]) == 0
    assert main(["import", str(out), "-o", str(tmp_path / "g.json"), "--dt", "1", "--steps", "4"]) == 2
    err = capsys.readouterr().err
    assert "digits.nir: metadata.tnas_deploy.ttfs:" in err and "TTFS network" in err
    assert not (tmp_path / "g.json").exists()


def test_cli_import_writes_genome_and_weights(tmp_path, capsys) -> None:
    path = tmp_path / "snn.nir"
    nir.write(path, _snntorch_mlp())
    assert main(["import", str(path), "-o", str(tmp_path / "out" / "snn.json"), "--dt", "1e-4", "--steps", "10"]) == 0
    assert "wrote" in capsys.readouterr().out
    genome = load_genome(tmp_path / "out" / "snn.json")
    assert genome.weights == "snn.h5" and genome.steps == 10
    assert main(["compile", str(tmp_path / "out" / "snn.json"), "-o", str(tmp_path / "snn.tdart"), "--json"]) == 0


def test_cli_refuses_complex_weights_in_one_line(tmp_path, capsys) -> None:
    """nir writes and reads complex weights; the import used to keep their real part with only a numpy warning."""
    path = tmp_path / "complex.nir"
    nir.write(path, _with(_snntorch_mlp(), "fc1", weight=np.full((12, 8), 0.5 + 0.5j)))
    assert main(["import", str(path), "-o", str(tmp_path / "g.json"), "--dt", "1e-4", "--steps", "4"]) == 2
    err = capsys.readouterr().err
    assert err == (f"tnas-deploy: error: {path}: node 'fc1'.weight: complex values (dtype complex128): the genome's "
                   "weights and neuron parameters are real, and importing would drop the imaginary part\n")
    assert not (tmp_path / "g.json").exists() and not (tmp_path / "g.h5").exists()


def test_cli_prints_the_behaviour_differences(tmp_path, capsys) -> None:
    path = tmp_path / "snn.nir"
    nir.write(path, _norse_cuba())
    assert main(["import", str(path), "-o", str(tmp_path / "snn.json"), "--dt", "1e-3", "--steps", "10"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0:2] for line in out[:-1]] == [["note", " timing"], ["note", " reset"], ["note", " order"]]
    assert "T + D = 10 + 2 steps" in out[0] and out[0].endswith("(as this one is)")
    assert "'cuba', 'out_cuba' reset v to 0" in out[1] and "reset by subtraction unless" in out[1]
    assert out[-1].startswith("wrote ")


def test_cubalif_without_current_decay_keeps_its_bias(tmp_path) -> None:
    """tau_syn = dt: the current is this step's input, so a bias is exact on a chip (Loihi adds it to v)."""
    graph = _replace(_with(_norse_cuba(), "cuba", tau_syn=np.full(10, 1e-3)), "linear",
                     nir.Affine(weight=np.random.default_rng(3).normal(0.4, 0.5, (10, 6)), bias=np.full(10, 0.1)))
    imported = graph_to_genome(graph, "b.nir", dt=1e-3, steps=6)
    genome = genome_from_json(imported.genome)
    weights = check_weights(genome, imported.weights, "b.nir")
    assert genome.by_id["linear"].neuron.tau_current == 1.0 and genome.by_id["linear"].bias
    assert any("biases ('linear')" in note for note in imported.notes)
    save_weights(weights, tmp_path / "w.h5")
    net = compile_network(CompileInputs(genome, weights, tmp_path / "w.h5", load_profile("loihi2"), None))
    assert simulate(net, np.random.default_rng(2).uniform(0, 1, (4, 6))).readout.shape == (4, 3)


@pytest.mark.parametrize("change, field", [
    ({"d1": {"neuron": {"model": "if", "threshold": 1.0, "reset": "subtract"}}}, "nodes[1] (id 'd1').neuron.reset"),
    ({"d2": {"inputs": ["d1", {"node": "d2", "recurrent": True}]}}, "nodes[2] (id 'd2').inputs[1]"),
])
def test_rate_export_refusals(tmp_path, capsys, change, field) -> None:
    obj = {"format": "tnas-genome", "version": 2, "name": "m", "weights": "w.h5",
           "task": {"input_shape": [10], "classes": ["a", "b", "c"]}, "coding": {"scheme": "rate", "steps": 4},
           "nodes": [{"id": "x", "type": "input"}] + [{**n, **change.get(n["id"], {})} for n in MLP]}
    (tmp_path / "g.json").write_text(json.dumps(obj))
    genome = load_genome(tmp_path / "g.json")
    save_weights({k: {n: np.ones(s) for n, s in v.items()} for k, v in expected_shapes(genome).items()},
                 tmp_path / "w.h5")
    assert main(["export", str(tmp_path / "g.json"), "--format", "nir", "-o", str(tmp_path / "g.nir")]) == 2
    err = capsys.readouterr().err
    assert f"g.json: {field}: NIR cannot express this" in err, err
    assert not (tmp_path / "g.nir").exists()


def test_rate_export_records_dt_and_timing(tmp_path) -> None:
    genome, weights = _rate("m", [10], MLP, 3)
    graph = rate_genome_to_nir(genome, weights, 2e-3)
    record = json.loads(graph.metadata[RATE_EXTENSION])
    assert record["dt"] == 2e-3 and record["steps"] == 6 and record["readout"] == "membrane"
    assert isinstance(graph.nodes["d2.neuron"], nir.LIF)
    assert graph.nodes["d2.neuron"].tau[0] == pytest.approx(6e-3) and graph.nodes["d2.neuron"].r[0] == 3.0
    assert isinstance(graph.nodes["d1.neuron"], nir.IF) and graph.nodes["d1.neuron"].r[0] == 500.0
