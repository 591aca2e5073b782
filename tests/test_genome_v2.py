"""Genome format version 2: rate coding, IF/LIF neurons, `neuron` nodes, readout modes, avgpool2d padding,
and the `snas_cell` node with its expansion into primitive nodes.

Error tests check that a `DeployError` is raised whose text names the file and the field, plus a key
part of the reason, not the whole wording.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from tnas_deploy.errors import DeployError
from tnas_deploy.genome import (NODE_TYPES, Edge, Genome, NeuronNode, NeuronSpec, NodeError, SnasCell, genome_from_json,
                                load_genome, node_types)
from tnas_deploy.weights import expected_shapes

TTFS = {"model": "ttfs"}
LIF = {"model": "lif", "tau": 2.0, "threshold": 1.0, "reset": "zero"}
SNAS_MATRIX = [[0, 2, 3, 1], [4, 0, 2, 3], [0, 1, 0, 4], [0, 0, 2, 0]]
SNAS_NEURON = {"model": "lif", "tau": 1.3333333333333333, "threshold": 1.0}


# -- genome builders ---------------------------------------------------------------------------------

def rate_genome(**extra) -> dict:
    """The example of docs/genome.md (Version 2): IF conv, OR max-pool, LIF dense, spike-count readout."""
    obj = {
        "format": "tnas-genome", "version": 2, "name": "csnn_tiny",
        "task": {"input_shape": [1, 8, 8], "classes": ["a", "b"]},
        "coding": {"scheme": "rate", "steps": 4},
        "nodes": [
            {"id": "x", "type": "input"},
            {"id": "c1", "type": "conv2d", "inputs": ["x"], "out_channels": 4, "kernel": 3, "padding": 1,
             "neuron": {"model": "if", "threshold": 1.0}},
            {"id": "p1", "type": "maxpool2d", "inputs": ["c1"], "kernel": 2},
            {"id": "f", "type": "flatten", "inputs": ["p1"]},
            {"id": "fc", "type": "dense", "inputs": ["f"], "units": 2, "neuron": LIF},
            {"id": "out", "type": "readout", "inputs": ["fc"], "mode": "spike_count"},
        ],
    }
    obj.update(extra)
    return obj


def cnn_nodes() -> list[dict]:
    return json.loads((Path(__file__).resolve().parent / "genomes" / "small_cnn.json").read_text())["nodes"]


def ttfs_genome(version: int, nodes: list[dict] | None = None) -> dict:
    return {"format": "tnas-genome", "version": version, "name": "ttfs-net",
            "task": {"input_shape": [1, 6, 6], "classes": ["c0", "c1", "c2"]},
            "coding": {"scheme": "ttfs"}, "time": {"steps_per_window": 8},
            "nodes": cnn_nodes() if nodes is None else nodes}


def cell_genome(matrix=None, **cell) -> dict:
    """Stem conv + BN, one snas_cell, flatten, dense, membrane readout (SNASNet's shape, made tiny)."""
    spec = {"id": "cell1", "type": "snas_cell", "inputs": ["stem_bn"],
            "matrix": SNAS_MATRIX if matrix is None else matrix, "neuron": SNAS_NEURON}
    spec.update(cell)
    consumer = spec["id"]
    return {
        "format": "tnas-genome", "version": 2, "name": "snas-tiny",
        "task": {"input_shape": [3, 6, 6], "classes": ["a", "b"]},
        "coding": {"scheme": "rate", "steps": 5},
        "nodes": [
            {"id": "x", "type": "input"},
            {"id": "stem", "type": "conv2d", "inputs": ["x"], "out_channels": 4, "kernel": 3, "padding": 1,
             "bias": False},
            {"id": "stem_bn", "type": "batchnorm", "inputs": ["stem"]},
            spec,
            {"id": "f", "type": "flatten", "inputs": [consumer]},
            {"id": "fc", "type": "dense", "inputs": ["f"], "units": 2},
            {"id": "out", "type": "readout", "inputs": ["fc"]},
        ],
    }


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    return path


def genome_error(tmp_path: Path, obj, *parts: str) -> str:
    """Load `obj` from a file; it must fail with a DeployError naming the file and containing `parts`."""
    path = write_json(tmp_path / "genome.json", obj)
    with pytest.raises(DeployError) as info:
        load_genome(path)
    msg = str(info.value)
    assert str(path) in msg and "Traceback" not in msg
    for part in parts:
        assert part in msg, (part, msg)
    return msg


def assert_round_trip(g: Genome) -> None:
    again = genome_from_json(json.loads(g.dumps()))
    assert again == g
    assert again.dumps() == g.dumps()
    assert again.shapes == g.shapes


def edited(obj: dict, change) -> dict:
    obj = copy.deepcopy(obj)
    change(obj)
    return obj


# -- version 1 unchanged, version 2 TTFS like version 1 ------------------------------------------------

def test_version_1_still_loads_and_serialises_as_before():
    g = genome_from_json(ttfs_genome(1))
    assert (g.version, g.coding, g.steps) == (1, "ttfs", None)
    assert g.time.steps_per_window == 8
    dumped = g.to_json()
    assert dumped["coding"] == {"scheme": "ttfs"} and dumped["time"]["steps_per_window"] == 8
    assert all(n.get("neuron") in (None, TTFS) for n in dumped["nodes"])
    assert_round_trip(g)


def test_version_1_avgpool_round_trips_without_padding():
    nodes = [{"id": "x", "type": "input"},
             {"id": "c", "type": "conv2d", "inputs": ["x"], "out_channels": 2, "kernel": 3, "neuron": TTFS},
             {"id": "a", "type": "avgpool2d", "inputs": ["c"], "kernel": 2, "neuron": TTFS},
             {"id": "f", "type": "flatten", "inputs": ["a"]},
             {"id": "d", "type": "dense", "inputs": ["f"], "units": 3},
             {"id": "out", "type": "readout", "inputs": ["d"]}]
    g = genome_from_json(ttfs_genome(1, nodes))
    assert g.by_id["a"].padding == (0, 0)
    assert "padding" not in g.by_id["a"].to_json()      # the v1 schema has no avgpool2d padding
    assert_round_trip(g)


def test_version_1_rejects_version_2_features(tmp_path):
    obj = ttfs_genome(1)
    obj["nodes"][5]["neuron"] = LIF
    genome_error(tmp_path, obj, "nodes[5] (id 'd1').neuron")
    obj = ttfs_genome(1)
    obj["nodes"][3] = {"id": "p1", "type": "avgpool2d", "inputs": ["bn1"], "kernel": 3, "stride": 2, "padding": 1}
    genome_error(tmp_path, obj, "nodes[3] (id 'p1')", "'padding'")
    obj = ttfs_genome(1)
    obj["coding"] = {"scheme": "rate", "steps": 4}
    genome_error(tmp_path, obj, "coding.scheme")


def test_version_1_add_still_needs_two_forward_inputs(tmp_path):
    nodes = [{"id": "x", "type": "input"},
             {"id": "d", "type": "dense", "inputs": ["x"], "units": 3, "neuron": TTFS},
             {"id": "s", "type": "add", "inputs": ["d", {"node": "s", "recurrent": True}], "neuron": TTFS},
             {"id": "h", "type": "dense", "inputs": ["s"], "units": 3},
             {"id": "out", "type": "readout", "inputs": ["h"]}]
    obj = ttfs_genome(1, nodes)
    obj["task"]["input_shape"] = [3]
    genome_error(tmp_path, obj, "nodes[2] (id 's').inputs", "at least 2 forward")


def test_version_2_ttfs_genome_behaves_like_version_1():
    from tnas_deploy.schemes.ttfs.lowering import lower

    g1, g2 = genome_from_json(ttfs_genome(1)), genome_from_json(ttfs_genome(2))
    assert g2.version == 2 and g2.coding == "ttfs" and g2.steps is None
    assert (g2.nodes, g2.time, g2.order, g2.shapes) == (g1.nodes, g1.time, g1.order, g1.shapes)
    assert expected_shapes(g2) == expected_shapes(g1)
    d1, d2 = g1.to_json(), g2.to_json()
    assert d2.pop("version") == 2 and d1.pop("version") == 1 and d1 == d2
    assert_round_trip(g2)
    rng = np.random.default_rng(0)
    weights = {k: {n: rng.normal(0, 0.1, s) for n, s in v.items()} for k, v in expected_shapes(g1).items()}
    weights["bn1"]["running_var"] = np.ones(4)
    assert [layer.id for layer in lower(g2, weights)] == [layer.id for layer in lower(g1, weights)]


def test_node_types_by_version():
    assert "neuron" not in node_types(1) and node_types(2)["neuron"] is NeuronNode
    assert set(node_types(2)) == set(NODE_TYPES)


# -- rate genomes ------------------------------------------------------------------------------------

def test_rate_genome_loads_and_round_trips(tmp_path):
    g = load_genome(write_json(tmp_path / "rate.json", rate_genome()))
    assert (g.version, g.coding, g.steps, g.time) == (2, "rate", 4, None)
    c1, fc, out = g.by_id["c1"].neuron, g.by_id["fc"].neuron, g.readout
    assert c1 == NeuronSpec("if") and c1.tau is None and c1.threshold == 1.0 and c1.reset == "zero"
    assert fc == NeuronSpec("lif", threshold=1.0, reset="zero", tau=2.0, decay_input=True, tau_current=None)
    assert out.mode == "spike_count"
    assert g.shapes["c1"] == (4, 8, 8) and g.shapes["p1"] == (4, 4, 4) and g.shapes["out"] == (2,)
    dumped = g.to_json()
    assert dumped["coding"] == {"scheme": "rate", "steps": 4, "input": "intensity"} and "time" not in dumped
    assert list(dumped["nodes"][4]["neuron"].items()) == [
        ("model", "lif"), ("threshold", 1.0), ("reset", "zero"), ("tau", 2.0), ("decay_input", True),
        ("tau_current", None)]
    assert_round_trip(g)


def test_neuron_fields_round_trip_with_non_defaults():
    obj = rate_genome()
    obj["nodes"][1]["neuron"] = {"model": "if", "threshold": 0.5, "reset": "subtract", "tau_current": 3}
    obj["nodes"][4]["neuron"] = {"model": "lif", "tau": 4, "decay_input": False, "threshold": 2}
    g = genome_from_json(obj)
    assert g.by_id["c1"].neuron == NeuronSpec("if", 0.5, "subtract", None, True, 3.0)
    fc = g.by_id["fc"].neuron
    assert (fc.tau, fc.decay_input, fc.threshold) == (4.0, False, 2.0)
    assert isinstance(fc.tau, float)                      # canonical: integers written as floats
    assert_round_trip(g)


def test_neuron_node_add_with_recurrent_input_and_avgpool_padding():
    obj = rate_genome()
    obj["nodes"][2:3] = [
        {"id": "a", "type": "avgpool2d", "inputs": ["c1"], "kernel": 3, "stride": 1, "padding": 1},
        {"id": "s", "type": "add", "inputs": ["a", {"node": "n", "recurrent": True}]},
        {"id": "n", "type": "neuron", "inputs": ["s"], "neuron": LIF, "label": "LIF"},
        {"id": "p1", "type": "maxpool2d", "inputs": ["n"], "kernel": 2},
    ]
    g = genome_from_json(obj)
    n = g.by_id["n"]
    assert isinstance(n, NeuronNode) and n.spiking and not n.has_weights
    assert g.shapes["a"] == g.shapes["s"] == g.shapes["n"] == (4, 8, 8)
    assert g.by_id["a"].padding == (1, 1)
    assert g.by_id["s"].forward_inputs == ("a",) and g.by_id["s"].inputs[1] == Edge("n", recurrent=True)
    assert g.to_json()["nodes"][2]["padding"] == [1, 1]
    assert "n" not in expected_shapes(g)
    assert_round_trip(g)


def test_avgpool_padding_shape_rule():
    obj = rate_genome()
    obj["nodes"][2] = {"id": "p1", "type": "avgpool2d", "inputs": ["c1"], "kernel": [3, 2], "stride": 2,
                       "padding": [1, 0]}
    g = genome_from_json(obj)
    assert g.shapes["p1"] == (4, 4, 4)      # (8 + 2 - 3) // 2 + 1, (8 - 2) // 2 + 1


def test_python_construction_checks():
    with pytest.raises(NodeError) as info:
        NeuronSpec("lif")
    assert info.value.field == "neuron.tau"
    with pytest.raises(NodeError) as info:
        NeuronSpec("ttfs", threshold=2.0)
    assert info.value.field == "neuron.threshold"
    with pytest.raises(NodeError) as info:
        NeuronNode("n", (Edge("x"),))
    assert info.value.field == "neuron"
    g = genome_from_json(rate_genome())
    with pytest.raises(ValueError, match="steps"):
        Genome(g.name, g.task, "rate", g.time, g.nodes, version=2, steps=None)
    with pytest.raises(ValueError, match="time"):
        Genome(g.name, g.task, "ttfs", None, g.nodes, version=2)


# -- version 2 errors --------------------------------------------------------------------------------

def _set_neuron(index: int, **fields):
    return lambda o: o["nodes"][index]["neuron"].update(fields)


RATE_ERRORS = {
    "time block in a rate genome": (lambda o: o.update(time={"steps_per_window": 8}), ["time", "rate"]),
    "rate without steps": (lambda o: o["coding"].pop("steps"), ["coding", "'steps'", "required"]),
    "steps out of range": (lambda o: o["coding"].update(steps=0), ["coding.steps"]),
    "steps not an integer": (lambda o: o["coding"].update(steps=4.0), ["coding.steps", "integer"]),
    "unknown coding": (lambda o: o["coding"].update(scheme="phase"), ["coding.scheme", "phase"]),
    "lif without tau": (lambda o: o["nodes"][4]["neuron"].pop("tau"), ["nodes[4] (id 'fc').neuron", "'tau'"]),
    "lif tau below 1": (_set_neuron(4, tau=0.5), ["nodes[4] (id 'fc').neuron.tau"]),
    "if with tau": (_set_neuron(1, tau=2.0), ["nodes[1] (id 'c1').neuron.tau", "'if'"]),
    "if without input decay": (_set_neuron(1, decay_input=False), ["nodes[1] (id 'c1').neuron.decay_input"]),
    "zero threshold": (_set_neuron(1, threshold=0), ["nodes[1] (id 'c1').neuron.threshold"]),
    "unknown reset": (_set_neuron(1, reset="hard"), ["nodes[1] (id 'c1').neuron.reset", "subtract"]),
    "tau_current below 1": (_set_neuron(1, tau_current=0.5), ["nodes[1] (id 'c1').neuron.tau_current"]),
    "unknown neuron field": (_set_neuron(1, gain=2), ["nodes[1] (id 'c1').neuron", "'gain'"]),
    "unknown neuron model": (_set_neuron(1, model="izhikevich"), ["nodes[1] (id 'c1').neuron.model"]),
    "ttfs neuron in a rate genome": (lambda o: o["nodes"][1].update(neuron=TTFS),
                                     ["nodes[1] (id 'c1').neuron.model", "rate"]),
    "membrane readout of a neuron": (lambda o: o["nodes"][5].update(mode="membrane"),
                                     ["nodes[5] (id 'out').mode", "'fc'", "spike_count"]),
    "spike count without neuron": (lambda o: o["nodes"][4].update(neuron=None),
                                   ["nodes[5] (id 'out').mode", "'fc'", "no neuron"]),
    "unknown readout mode": (lambda o: o["nodes"][5].update(mode="rate"), ["nodes[5] (id 'out').mode"]),
    "neuron node without neuron": (
        lambda o: o["nodes"].insert(2, {"id": "n", "type": "neuron", "inputs": ["c1"], "neuron": None}),
        ["nodes[2] (id 'n').neuron"]),
    "neuron node with weights fields": (
        lambda o: o["nodes"].insert(2, {"id": "n", "type": "neuron", "inputs": ["c1"], "neuron": LIF, "units": 3}),
        ["nodes[2] (id 'n')", "'units'"]),
    "add without forward input": (
        lambda o: o["nodes"].insert(2, {"id": "s", "type": "add", "inputs": [{"node": "c1", "recurrent": True},
                                                                              {"node": "s", "recurrent": True}]}),
        ["nodes[2] (id 's').inputs", "forward"]),
    "add with one input": (lambda o: o["nodes"].insert(2, {"id": "s", "type": "add", "inputs": ["c1"]}),
                           ["nodes[2] (id 's').inputs", "too short"]),
    "avgpool padding over half the kernel": (
        lambda o: o["nodes"].__setitem__(2, {"id": "p1", "type": "avgpool2d", "inputs": ["c1"], "kernel": 2,
                                             "padding": 2}),
        ["nodes[2] (id 'p1').padding", "half the kernel"]),
    "maxpool padding": (lambda o: o["nodes"][2].update(padding=1), ["nodes[2] (id 'p1')", "'padding'"]),
}


@pytest.mark.parametrize("case", sorted(RATE_ERRORS))
def test_rate_genome_errors(case, tmp_path):
    change, parts = RATE_ERRORS[case]
    genome_error(tmp_path, edited(rate_genome(), change), *parts)


def _ttfs_v2(change):
    return edited(ttfs_genome(2), change)


TTFS_V2_ERRORS = {
    "ttfs without time": (lambda o: o.pop("time"), ["'time'", "required"]),
    "ttfs with steps": (lambda o: o["coding"].update(steps=4), ["coding", "'steps'"]),
    "ttfs neuron with parameters": (lambda o: o["nodes"][5]["neuron"].update(threshold=1.0),
                                    ["nodes[5] (id 'd1').neuron", "'threshold'"]),
    "lif neuron": (lambda o: o["nodes"][5].update(neuron=LIF), ["nodes[5] (id 'd1').neuron.model", "rate coding"]),
    "recurrent edge": (lambda o: o["nodes"][5].update(inputs=["f", {"node": "d1", "recurrent": True}]),
                       ["nodes[5] (id 'd1').inputs[1]", "recurrent", "rate coding"]),
    "neuron node": (lambda o: o["nodes"].insert(3, {"id": "n", "type": "neuron", "inputs": ["bn1"], "neuron": LIF}),
                    ["nodes[3] (id 'n').type", "neuron node", "rate coding"]),
    "spike count readout": (lambda o: (o["nodes"][6].update(neuron=TTFS), o["nodes"][7].update(mode="spike_count")),
                            ["nodes[7] (id 'out').mode", "rate coding"]),
    "snas_cell": (lambda o: o["nodes"].insert(3, {"id": "cell", "type": "snas_cell", "inputs": ["bn1"],
                                                  "matrix": [[0, 1], [0, 0]], "neuron": LIF}),
                  ["nodes[3] (id 'cell').type", "rate"]),
}


@pytest.mark.parametrize("case", sorted(TTFS_V2_ERRORS))
def test_ttfs_version_2_errors(case, tmp_path):
    assert [n["id"] for n in cnn_nodes()] == ["x", "c1", "bn1", "p1", "f", "d1", "d2", "out"]
    change, parts = TTFS_V2_ERRORS[case]
    genome_error(tmp_path, _ttfs_v2(change), *parts)


def test_version_1_keeps_recurrent_edges_valid():
    nodes = cnn_nodes()
    nodes[5]["inputs"] = ["f", {"node": "d1", "recurrent": True}]
    assert genome_from_json(ttfs_genome(1, nodes)).by_id["d1"].inputs[1].recurrent


# -- snas_cell ---------------------------------------------------------------------------------------

#: The expansion of SNAS_MATRIX for cell 'cell1' fed by 'stem_bn': (id, type, forward inputs, recurrent inputs).
EXPECTED_CELL = [
    ("cell1_n0", "add", ["stem_bn"], ["cell1_e10_pool"]),          # backward 1->0: node 0 becomes a sum
    ("cell1_n0_lif", "neuron", ["cell1_n0"], []),
    ("cell1_e01_conv", "conv2d", ["cell1_n0_lif"], []),
    ("cell1_e01_bn", "batchnorm", ["cell1_e01_conv"], []),
    ("cell1_e02_conv", "conv2d", ["cell1_n0_lif"], []),
    ("cell1_e02_bn", "batchnorm", ["cell1_e02_conv"], []),
    ("cell1_n1", "add", ["cell1_e01_bn"], ["cell1_n2"]),            # backward identity 2->1
    ("cell1_n1_lif", "neuron", ["cell1_n1"], []),
    ("cell1_e10_pool", "avgpool2d", ["cell1_n1"], []),
    ("cell1_e12_conv", "conv2d", ["cell1_n1_lif"], []),
    ("cell1_e12_bn", "batchnorm", ["cell1_e12_conv"], []),
    ("cell1_e13_conv", "conv2d", ["cell1_n1_lif"], []),
    ("cell1_e13_bn", "batchnorm", ["cell1_e13_conv"], []),
    ("cell1_n2", "add", ["cell1_e02_bn", "cell1_e12_bn"], ["cell1_e32_bn"]),
    ("cell1_e23_pool", "avgpool2d", ["cell1_n2"], []),
    ("cell1_n3", "add", ["cell1_n0", "cell1_e13_bn", "cell1_e23_pool"], []),   # identity 0->3 is node 0's value
    ("cell1_n3_lif", "neuron", ["cell1_n3"], []),
    ("cell1_e32_conv", "conv2d", ["cell1_n3_lif"], []),
    ("cell1_e32_bn", "batchnorm", ["cell1_e32_conv"], []),
]


def test_snas_cell_expansion(tmp_path):
    g = load_genome(write_json(tmp_path / "snas.json", cell_genome()))
    ids = [n.id for n in g.nodes]
    assert ids == ["x", "stem", "stem_bn"] + [e[0] for e in EXPECTED_CELL] + ["f", "fc", "out"]
    for node_id, tag, forward, recurrent in EXPECTED_CELL:
        node = g.by_id[node_id]
        assert node.type_tag == tag, node_id
        assert list(node.forward_inputs) == forward, node_id
        assert [e.source for e in node.inputs if e.recurrent] == recurrent, node_id
        assert g.shapes[node_id] == (4, 6, 6), node_id      # the cell keeps [C, H, W]
        assert node.label.startswith("snas_cell cell1: "), node_id
        assert "." not in node_id                            # state_dict keys are split at dots
    assert g.by_id["f"].forward_inputs == ("cell1_n3",)      # the consumer now reads node 3
    lif = SNAS_NEURON | {"reset": "zero", "decay_input": True, "tau_current": None}
    for i in (0, 1, 3):
        assert g.by_id[f"cell1_n{i}_lif"].neuron == NeuronSpec(**lif)
    assert "cell1_n2_lif" not in g.by_id                     # node 2 has no LIF-conv operation
    conv1, conv3 = g.by_id["cell1_e01_conv"], g.by_id["cell1_e02_conv"]
    assert (conv1.kernel, conv1.padding, conv1.bias, conv1.out_channels) == ((1, 1), (0, 0), False, 4)
    assert conv1.neuron is None
    assert (conv3.kernel, conv3.padding, conv3.bias) == ((3, 3), (1, 1), False)
    pool = g.by_id["cell1_e23_pool"]
    assert (pool.kernel, pool.stride, pool.padding, pool.neuron) == ((3, 3), (1, 1), (1, 1), None)
    assert g.by_id["cell1_e01_conv"].label == "snas_cell cell1: edge 0->1 op 2 (LIF-conv1x1-BN)"
    assert g.by_id["cell1_e10_pool"].label.endswith("backward")
    assert g.order.index("cell1_n3") < g.order.index("f")


def test_snas_cell_weights_use_generated_ids():
    g = genome_from_json(cell_genome())
    shapes = expected_shapes(g)
    convs = {f"cell1_e{e}_conv": k for e, k in (("01", 1), ("02", 3), ("12", 1), ("13", 3), ("32", 1))}
    for conv, k in convs.items():
        assert shapes[conv] == {"weight": (4, 4, k, k)}
        bn = conv.replace("_conv", "_bn")
        assert shapes[bn] == {"weight": (4,), "bias": (4,), "running_mean": (4,), "running_var": (4,)}
    assert set(shapes) == {"stem", "stem_bn", "fc"} | set(convs) | {c.replace("_conv", "_bn") for c in convs}
    assert shapes["fc"] == {"weight": (2, 4 * 6 * 6), "bias": (2,)}


def test_snas_cell_round_trips_as_its_expansion():
    g = genome_from_json(cell_genome())
    dumped = g.to_json()
    assert "snas_cell" not in {n["type"] for n in dumped["nodes"]}
    assert dumped["nodes"][3]["inputs"] == ["stem_bn", {"node": "cell1_e10_pool", "recurrent": True}]
    assert_round_trip(g)


def test_snas_cell_expansion_is_deterministic():
    assert genome_from_json(cell_genome()).dumps() == genome_from_json(cell_genome()).dumps()


def test_snas_cell_without_backward_edges_uses_no_sum_where_one_input_suffices():
    g = genome_from_json(cell_genome([[0, 2, 0], [0, 0, 4], [0, 0, 0]], id="c"))
    g_ids = [n.id for n in g.nodes if n.id.startswith("c_")]
    assert g_ids == ["c_n0_lif", "c_e01_conv", "c_e01_bn", "c_e12_pool"]
    assert g.by_id["c_n0_lif"].forward_inputs == ("stem_bn",)   # node 0 is the cell input itself
    assert g.by_id["c_e12_pool"].forward_inputs == ("c_e01_bn",)
    assert g.by_id["f"].forward_inputs == ("c_e12_pool",)


def test_chained_cells_and_a_recurrent_consumer_are_redirected():
    obj = cell_genome([[0, 1], [0, 0]], id="alias")          # output = input: a bare alias of 'stem_bn'
    obj["nodes"][3]["inputs"] = ["cell2"]
    obj["nodes"][3:3] = [{"id": "cell2", "type": "snas_cell", "inputs": ["stem_bn"], "matrix": [[0, 3], [0, 0]],
                          "neuron": {"model": "if"}}]
    obj["nodes"][5]["inputs"] = ["alias"]                      # f reads the alias cell
    obj["nodes"].insert(5, {"id": "mix", "type": "add", "inputs": ["alias", {"node": "cell2", "recurrent": True}]})
    obj["nodes"][6]["inputs"] = ["mix"]
    g = genome_from_json(obj)
    assert "alias" not in g.by_id and "cell2" not in g.by_id
    assert g.by_id["mix"].inputs == (Edge("cell2_e01_bn"), Edge("cell2_e01_bn", recurrent=True))
    assert g.by_id["cell2_n0_lif"].neuron.model == "if"
    assert_round_trip(g)


def test_snas_cell_python_api():
    cell = SnasCell("c", (Edge("x"),), [[0, 2], [0, 0]], NeuronSpec("lif", tau=2.0))   # type: ignore[arg-type]
    assert cell.matrix == ((0, 2), (0, 0)) and cell.size == 2
    nodes, output = cell.expand("x", channels=5)
    assert [n.id for n in nodes] == ["c_n0_lif", "c_e01_conv", "c_e01_bn"] and output == "c_e01_bn"
    assert nodes[1].out_channels == 5


def _cell(**fields):
    return lambda o: o["nodes"][3].update(fields)


CELL_ERRORS = {
    "not square": (_cell(matrix=[[0, 1, 1], [0, 0, 1]]), ["nodes[3] (id 'cell1').matrix[0]", "entries"]),
    "short row": (_cell(matrix=[[0, 1, 1], [0, 0], [0, 0, 0]]), ["nodes[3] (id 'cell1').matrix[1]", "3 entries"]),
    "too large": (_cell(matrix=[[0] * 9 for _ in range(9)]), ["nodes[3] (id 'cell1').matrix", "too long"]),
    "too small": (_cell(matrix=[[0]]), ["nodes[3] (id 'cell1').matrix", "too short"]),
    "unknown operation": (_cell(matrix=[[0, 5], [0, 0]]), ["nodes[3] (id 'cell1').matrix[0][1]", "4"]),
    "non-integer operation": (_cell(matrix=[[0, 1.0], [0, 0]]), ["nodes[3] (id 'cell1').matrix[0][1]", "integer"]),
    "boolean operation": (_cell(matrix=[[0, True], [0, 0]]), ["nodes[3] (id 'cell1').matrix[0][1]", "integer"]),
    "non-zero diagonal": (_cell(matrix=[[0, 1, 1], [0, 2, 1], [0, 0, 0]]),
                          ["nodes[3] (id 'cell1').matrix[1][1]", "diagonal"]),
    "node without forward input": (_cell(matrix=[[0, 1, 0], [0, 0, 0], [0, 1, 0]]),
                                   ["nodes[3] (id 'cell1').matrix", "node 2 has no forward input"]),
    "node that leads nowhere": (_cell(matrix=[[0, 1, 1], [0, 0, 0], [0, 0, 0]]),
                                ["nodes[3] (id 'cell1').matrix[1]", "node 1", "output"]),
    "missing neuron": (lambda o: o["nodes"][3].pop("neuron"), ["nodes[3] (id 'cell1')", "'neuron'", "required"]),
    "ttfs neuron": (_cell(neuron=TTFS), ["nodes[3] (id 'cell1').neuron.model"]),
    "two inputs": (_cell(inputs=["stem_bn", "stem"]), ["nodes[3] (id 'cell1').inputs"]),
    "recurrent input": (_cell(inputs=[{"node": "stem_bn", "recurrent": True}]),
                        ["nodes[3] (id 'cell1').inputs", "recurrent"]),
    "unknown input": (_cell(inputs=["zz"]), ["nodes[3] (id 'cell1').inputs[0]", "'zz'"]),
    "id too long": (_cell(id="c" * 56), ["nodes[3]", ".id"]),
    "unknown field": (_cell(channels=4), ["nodes[3] (id 'cell1')", "'channels'"]),
    "duplicate cell id": (lambda o: o["nodes"][2].update(id="cell1"), ["nodes[3] (id 'cell1').id", "duplicate"]),
    "user id equal to a generated id": (
        lambda o: o["nodes"].insert(3, {"id": "cell1_n3", "type": "neuron", "inputs": ["stem_bn"],
                                        "neuron": {"model": "if"}}),
        ["nodes[4] (id 'cell1' -> 'cell1_n3').id", "duplicate", "nodes[3]"]),
    "cells in a cycle": (lambda o: (o["nodes"].insert(4, {"id": "cell2", "type": "snas_cell", "inputs": ["cell1"],
                                                          "matrix": [[0, 1], [0, 0]], "neuron": LIF}),
                                    o["nodes"][3].update(inputs=["cell2"])),
                         ["nodes[3] (id 'cell1').inputs", "cycle"]),
}


@pytest.mark.parametrize("case", sorted(CELL_ERRORS))
def test_snas_cell_errors(case, tmp_path):
    change, parts = CELL_ERRORS[case]
    genome_error(tmp_path, edited(cell_genome(), change), *parts)


def test_snas_cell_needs_an_image_input(tmp_path):
    obj = cell_genome()
    obj["task"]["input_shape"] = [12]
    obj["nodes"][1:3] = [{"id": "stem_bn", "type": "dense", "inputs": ["x"], "units": 6}]
    genome_error(tmp_path, obj, "nodes[2] (id 'cell1').inputs", "[channels, height, width]", "[6]")


def test_rate_input_kind_is_validated_and_round_trips():
    base = {"format": "tnas-genome", "version": 2, "name": "r", "task": {"input_shape": [4], "classes": ["a", "b"]},
            "coding": {"scheme": "rate", "steps": 3, "input": "counts"},
            "nodes": [{"id": "x", "type": "input"},
                      {"id": "h", "type": "dense", "inputs": ["x"], "units": 2, "neuron": {"model": "if"}},
                      {"id": "out", "type": "readout", "inputs": ["h"], "mode": "spike_count"}]}
    g = genome_from_json(base)
    assert g.rate_input == "counts" and genome_from_json(json.loads(g.dumps())) == g
    base["coding"]["input"] = "spikes"
    with pytest.raises(DeployError) as err:
        genome_from_json(base)
    assert "coding.input" in str(err.value) and "intensity" in str(err.value)
