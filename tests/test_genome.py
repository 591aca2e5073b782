"""Genome format, weights, data and profile loading: round trips and every user-facing error.

Every error test checks that a `DeployError` is raised and that its text names the file and the field
(e.g. `nodes[2]` and the node id), not the whole wording of the message.
"""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tnas_deploy.errors import DeployError
from tnas_deploy.genome import NODE_TYPES, Edge, genome_from_json, load_genome, node_types

TTFS = {"model": "ttfs"}


# -- genome builders ---------------------------------------------------------------------------------

def make_genome(nodes: list[dict], input_shape=(1, 6, 6), n_classes: int = 3, **extra) -> dict:
    obj = {
        "format": "tnas-genome", "version": 1, "name": "test-genome",
        "task": {"input_shape": list(input_shape), "classes": [f"c{i}" for i in range(n_classes)]},
        "coding": {"scheme": "ttfs"},
        "time": {"steps_per_window": 8},
        "nodes": nodes,
    }
    obj.update(extra)
    return obj


def cnn_genome() -> dict:
    """The shared small CNN (tests/genomes/small_cnn.json): conv+bn+neuron, maxpool, flatten, dense, readout."""
    shared = json.loads((Path(__file__).resolve().parent / "genomes" / "small_cnn.json").read_text())
    return make_genome(shared["nodes"])


def _head(src: str, n_classes: int = 3) -> list[dict]:
    return [{"id": "head", "type": "dense", "inputs": [src], "units": n_classes},
            {"id": "out", "type": "readout", "inputs": ["head"]}]


#: For every node type: a valid genome that contains it (with non-default values where it has any),
#: and the id of that node.
GENOMES_BY_TYPE = {
    "input": (lambda: make_genome(
        [{"id": "x", "type": "input", "label": "pixels"},
         {"id": "f", "type": "flatten", "inputs": ["x"]}] + _head("f"), input_shape=(1, 4, 4),
        description="only an input", provenance={"generation": 7, "parent": {"id": "g3", "score": 0.91}},
        weights="w.h5"), "x"),
    "conv2d": (lambda: make_genome(
        [{"id": "x", "type": "input"},
         {"id": "c", "type": "conv2d", "inputs": ["x"], "out_channels": 2, "kernel": [3, 2], "stride": 2,
          "padding": [1, 0], "bias": False, "neuron": TTFS, "label": "first conv"},
         {"id": "f", "type": "flatten", "inputs": ["c"]}] + _head("f")), "c"),
    "dense": (lambda: make_genome(
        [{"id": "x", "type": "input"},
         {"id": "d", "type": "dense", "inputs": ["x"], "units": 4, "bias": False, "neuron": TTFS}] + _head("d"),
        input_shape=(5,)), "d"),
    "batchnorm": (lambda: make_genome(
        [{"id": "x", "type": "input"},
         {"id": "c", "type": "conv2d", "inputs": ["x"], "out_channels": 3, "kernel": 3},
         {"id": "bn", "type": "batchnorm", "inputs": ["c"], "eps": 0.001, "neuron": TTFS},
         {"id": "f", "type": "flatten", "inputs": ["bn"]}] + _head("f")), "bn"),
    "maxpool2d": (lambda: make_genome(
        [{"id": "x", "type": "input"},
         {"id": "c", "type": "conv2d", "inputs": ["x"], "out_channels": 2, "kernel": 3, "neuron": TTFS},
         {"id": "p", "type": "maxpool2d", "inputs": ["c"], "kernel": 2, "stride": 1},
         {"id": "f", "type": "flatten", "inputs": ["p"]}] + _head("f")), "p"),
    "avgpool2d": (lambda: make_genome(
        [{"id": "x", "type": "input"},
         {"id": "c", "type": "conv2d", "inputs": ["x"], "out_channels": 2, "kernel": 3, "neuron": TTFS},
         {"id": "a", "type": "avgpool2d", "inputs": ["c"], "kernel": [2, 2], "neuron": TTFS},
         {"id": "f", "type": "flatten", "inputs": ["a"]}] + _head("f")), "a"),
    "flatten": (lambda: make_genome(
        [{"id": "x", "type": "input"},
         {"id": "f", "type": "flatten", "inputs": ["x"], "label": "to features"}] + _head("f")), "f"),
    "add": (lambda: make_genome(
        [{"id": "x", "type": "input"},
         {"id": "d1", "type": "dense", "inputs": ["x"], "units": 4, "neuron": TTFS},
         {"id": "d2", "type": "dense", "inputs": ["x"], "units": 4, "neuron": TTFS},
         {"id": "s", "type": "add", "inputs": ["d1", "d2", "x"], "neuron": TTFS}] + _head("s"),
        input_shape=(4,)), "s"),
    "concat": (lambda: make_genome(
        [{"id": "x", "type": "input"},
         {"id": "d1", "type": "dense", "inputs": ["x"], "units": 2, "neuron": TTFS},
         {"id": "d2", "type": "dense", "inputs": ["x"], "units": 3, "neuron": TTFS},
         {"id": "cat", "type": "concat", "inputs": ["d1", "d2"]}] + _head("cat"), input_shape=(4,)), "cat"),
    "readout": (lambda: make_genome(
        [{"id": "x", "type": "input"},
         {"id": "d", "type": "dense", "inputs": ["x"], "units": 3},
         {"id": "logits", "type": "readout", "inputs": ["d"], "mode": "membrane", "label": "class scores"}],
        input_shape=(4,)), "logits"),
}


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    return path


def genome_error(tmp_path: Path, obj, name: str = "genome.json") -> str:
    """Load `obj` from a file; it must fail with a DeployError naming that file. Returns the message."""
    path = write_json(tmp_path / name, obj)
    with pytest.raises(DeployError) as info:
        load_genome(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    assert "Traceback" not in msg
    return msg


# -- round trips -------------------------------------------------------------------------------------

def test_every_node_type_has_a_round_trip_case():
    assert set(GENOMES_BY_TYPE) == set(node_types(1))


@pytest.mark.parametrize("node_type", sorted(node_types(1)))
def test_round_trip_each_node_type(node_type, tmp_path):
    build, node_id = GENOMES_BY_TYPE[node_type]
    obj = build()
    g = genome_from_json(obj)
    node = g.by_id[node_id]
    assert type(node) is NODE_TYPES[node_type]
    assert node.to_json()["type"] == node_type

    again = genome_from_json(json.loads(g.dumps()))
    assert again == g
    assert again.by_id[node_id] == node
    assert again.to_json() == g.to_json()
    assert again.dumps() == g.dumps()
    third = genome_from_json(json.loads(again.dumps()))
    assert third == again and third.dumps() == again.dumps()

    # the same through a file, and the file is remembered for messages and relative weight paths
    path = write_json(tmp_path / "g.json", obj)
    loaded = load_genome(path)
    assert loaded == g
    assert loaded.source == path
    if loaded.weights is not None:
        assert loaded.weights_path() == tmp_path / "w.h5"


def test_round_trip_keeps_values():
    build, _ = GENOMES_BY_TYPE["conv2d"]
    g = genome_from_json(json.loads(genome_from_json(build()).dumps()))
    c = g.by_id["c"]
    assert (c.kernel, c.stride, c.padding, c.bias, c.label) == ((3, 2), (2, 2), (1, 0), False, "first conv")
    assert c.spiking
    assert g.shapes["c"] == (2, 3, 3)       # (6 + 2 - 3) // 2 + 1, (6 + 0 - 2) // 2 + 1
    p = genome_from_json(GENOMES_BY_TYPE["maxpool2d"][0]()).by_id["p"]
    assert (p.kernel, p.stride) == ((2, 2), (1, 1))
    a = genome_from_json(GENOMES_BY_TYPE["avgpool2d"][0]()).by_id["a"]
    assert a.stride == (2, 2)                     # default stride = kernel
    g_in = genome_from_json(GENOMES_BY_TYPE["input"][0]())
    assert g_in.provenance == {"generation": 7, "parent": {"id": "g3", "score": 0.91}}
    assert g_in.description == "only an input" and g_in.weights == "w.h5"
    assert g_in.time.window_margin == 1.5


def test_dumps_is_canonical_for_equal_genomes():
    a = make_genome(cnn_genome()["nodes"], provenance={"b": 1, "a": {"y": 2, "x": 3}})
    b = make_genome(cnn_genome()["nodes"], provenance={"a": {"x": 3, "y": 2}, "b": 1})
    ga, gb = genome_from_json(a), genome_from_json(b)
    assert ga == gb
    assert ga.dumps() == gb.dumps()


@settings(max_examples=60, deadline=None)
@given(size=st.integers(3, 12), channels=st.integers(1, 4), kernel=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       stride=st.integers(1, 3), padding=st.tuples(st.integers(0, 2), st.integers(0, 2)), bias=st.booleans(),
       spiking=st.booleans(), units=st.lists(st.integers(1, 6), max_size=3))
def test_round_trip_random_conv_dense_chains(size, channels, kernel, stride, padding, bias, spiking, units):
    assume(all(k <= size + 2 * p for k, p in zip(kernel, padding)))
    nodes = [{"id": "x", "type": "input"},
             {"id": "c", "type": "conv2d", "inputs": ["x"], "out_channels": channels, "kernel": list(kernel),
              "stride": stride, "padding": list(padding), "bias": bias, "neuron": TTFS if spiking else None},
             {"id": "f", "type": "flatten", "inputs": ["c"]}]
    prev = "f"
    for i, u in enumerate(units):
        nodes.append({"id": f"d{i}", "type": "dense", "inputs": [prev], "units": u, "neuron": TTFS})
        prev = f"d{i}"
    g = genome_from_json(make_genome(nodes + _head(prev), input_shape=(2, size, size)))
    again = genome_from_json(json.loads(g.dumps()))
    assert again == g and again.dumps() == g.dumps()
    h, w = ((size + 2 * p - k) // stride + 1 for k, p in zip(kernel, padding))
    assert g.shapes["c"] == (channels, h, w)
    assert g.shapes["f"] == (channels * h * w,)
    assert g.shapes["out"] == (3,)


def test_recurrent_edge_round_trips_and_compiler_rejects_it(tmp_path):
    obj = make_genome([
        {"id": "x", "type": "input"},
        {"id": "h", "type": "dense", "inputs": ["x", {"node": "h2", "recurrent": True}], "units": 4, "neuron": TTFS},
        {"id": "h2", "type": "dense", "inputs": ["h"], "units": 4, "neuron": TTFS},
        {"id": "d", "type": "dense", "inputs": ["h2"], "units": 3},
        {"id": "out", "type": "readout", "inputs": ["d"]},
    ], input_shape=(5,))
    g = load_genome(write_json(tmp_path / "rec.json", obj))
    assert g.by_id["h"].inputs == (Edge("x"), Edge("h2", recurrent=True))
    assert g.by_id["h"].forward_inputs == ("x",)
    assert g.order == ("x", "h", "h2", "d", "out")
    dumped = json.loads(g.dumps())
    assert dumped["nodes"][1]["inputs"] == ["x", {"node": "h2", "recurrent": True}]
    again = genome_from_json(dumped)
    assert again == g and again.dumps() == g.dumps()

    from tnas_deploy.schemes.ttfs.lowering import lower
    with pytest.raises(DeployError) as info:
        lower(g, {})
    msg = str(info.value)
    assert "recurrent" in msg and "nodes[1]" in msg and "'h'" in msg and str(tmp_path / "rec.json") in msg


def test_recurrent_self_edge_is_not_a_cycle():
    obj = make_genome([
        {"id": "x", "type": "input"},
        {"id": "h", "type": "dense", "inputs": ["x", {"node": "h", "recurrent": True}], "units": 3},
        {"id": "out", "type": "readout", "inputs": ["h"]},
    ], input_shape=(5,))
    g = genome_from_json(obj)
    assert genome_from_json(json.loads(g.dumps())) == g


# -- genome errors -----------------------------------------------------------------------------------

def test_malformed_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "format": "tnas-genome",\n  "version": 1,,\n}\n', encoding="utf-8")
    with pytest.raises(DeployError) as info:
        load_genome(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "malformed JSON" in msg and "line 3" in msg and "column" in msg


def test_missing_genome_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(DeployError) as info:
        load_genome(path)
    assert str(path) in str(info.value) and "not found" in str(info.value)


def test_top_level_not_an_object(tmp_path):
    msg = genome_error(tmp_path, [1, 2, 3])
    assert "object" in msg


def test_wrong_format(tmp_path):
    obj = cnn_genome()
    obj["format"] = "onnx"
    msg = genome_error(tmp_path, obj)
    assert "format" in msg and "tnas-genome" in msg and "'onnx'" in msg


def test_unsupported_version(tmp_path):
    obj = cnn_genome()
    obj["version"] = 5
    msg = genome_error(tmp_path, obj)
    assert "version" in msg and "5" in msg and "[1, 2, 3, 4]" in msg


def test_unknown_node_type(tmp_path):
    obj = cnn_genome()
    obj["nodes"][2]["type"] = "lstm"
    msg = genome_error(tmp_path, obj)
    assert "nodes[2] (id 'bn1').type" in msg
    assert "unknown node type 'lstm'" in msg
    assert "conv2d" in msg            # lists the known ones


def test_missing_required_field(tmp_path):
    obj = cnn_genome()
    del obj["nodes"][1]["kernel"]
    msg = genome_error(tmp_path, obj)
    assert "nodes[1] (id 'c1')" in msg and "'kernel'" in msg and "required" in msg


def test_missing_top_level_field(tmp_path):
    obj = cnn_genome()
    del obj["time"]
    msg = genome_error(tmp_path, obj)
    assert "'time'" in msg and "required" in msg


def test_extra_unknown_node_field(tmp_path):
    obj = cnn_genome()
    obj["nodes"][1]["dilation"] = 2
    msg = genome_error(tmp_path, obj)
    assert "nodes[1] (id 'c1')" in msg and "'dilation'" in msg


def test_extra_unknown_top_level_field(tmp_path):
    obj = cnn_genome()
    obj["optimizer"] = "adam"
    msg = genome_error(tmp_path, obj)
    assert "'optimizer'" in msg


def test_schema_value_error_names_the_field(tmp_path):
    obj = cnn_genome()
    obj["time"]["steps_per_window"] = 0
    msg = genome_error(tmp_path, obj)
    assert "time.steps_per_window" in msg


def test_bad_neuron_model(tmp_path):
    obj = cnn_genome()
    obj["nodes"][5]["neuron"] = {"model": "lif"}
    msg = genome_error(tmp_path, obj)
    assert "nodes[5] (id 'd1').neuron" in msg and "lif" in msg


def test_neuron_on_a_node_that_cannot_spike(tmp_path):
    obj = cnn_genome()
    obj["nodes"][3]["neuron"] = TTFS        # maxpool2d p1
    msg = genome_error(tmp_path, obj)
    assert "nodes[3] (id 'p1').neuron" in msg


def test_duplicate_ids(tmp_path):
    obj = cnn_genome()
    obj["nodes"][5]["id"] = "c1"            # d1 renamed to c1
    obj["nodes"][6]["inputs"] = ["c1"]
    msg = genome_error(tmp_path, obj)
    assert "nodes[5].id" in msg and "'c1'" in msg and "nodes[1]" in msg and "duplicate" in msg


def test_unknown_source_id(tmp_path):
    obj = cnn_genome()
    obj["nodes"][6]["inputs"] = ["dd1"]
    msg = genome_error(tmp_path, obj)
    assert "nodes[6] (id 'd2').inputs[0]" in msg and "'dd1'" in msg


def test_forward_self_edge(tmp_path):
    obj = cnn_genome()
    obj["nodes"][6]["inputs"] = ["d2"]
    msg = genome_error(tmp_path, obj)
    assert "nodes[6] (id 'd2')" in msg and "recurrent" in msg


def test_forward_cycle(tmp_path):
    obj = make_genome([
        {"id": "x", "type": "input"},
        {"id": "a", "type": "add", "inputs": ["x", "b"], "neuron": TTFS},
        {"id": "b", "type": "dense", "inputs": ["a"], "units": 4, "neuron": TTFS},
        {"id": "d", "type": "dense", "inputs": ["b"], "units": 3},
        {"id": "out", "type": "readout", "inputs": ["d"]},
    ], input_shape=(4,))
    msg = genome_error(tmp_path, obj)
    assert "cycle" in msg and "'a'" in msg and "'b'" in msg and "nodes" in msg
    # the same edge declared recurrent is accepted
    obj["nodes"][1]["inputs"] = ["x", {"node": "b", "recurrent": True}]
    obj["nodes"][2]["inputs"] = ["a"]
    obj["nodes"][1]["type"] = "dense"
    obj["nodes"][1]["units"] = 4
    g = genome_from_json(obj)
    assert g.order == ("x", "a", "b", "d", "out")


def test_no_readout(tmp_path):
    obj = make_genome([
        {"id": "x", "type": "input"},
        {"id": "d", "type": "dense", "inputs": ["x"], "units": 3},
        {"id": "d2", "type": "dense", "inputs": ["d"], "units": 3},
    ], input_shape=(4,))
    msg = genome_error(tmp_path, obj)
    assert "readout" in msg and "found 0" in msg and "nodes" in msg


def test_two_inputs(tmp_path):
    obj = make_genome([
        {"id": "x", "type": "input"},
        {"id": "x2", "type": "input"},
        {"id": "s", "type": "add", "inputs": ["x", "x2"], "neuron": TTFS},
        {"id": "d", "type": "dense", "inputs": ["s"], "units": 3},
        {"id": "out", "type": "readout", "inputs": ["d"]},
    ], input_shape=(4,))
    msg = genome_error(tmp_path, obj)
    assert "input" in msg and "found 2" in msg


def test_shape_mismatch_dense_fed_3d(tmp_path):
    obj = cnn_genome()
    del obj["nodes"][4]                        # drop flatten
    obj["nodes"][4]["inputs"] = ["p1"]         # d1 now reads [4, 3, 3]
    msg = genome_error(tmp_path, obj)
    assert "nodes[4] (id 'd1').inputs" in msg and "[4, 3, 3]" in msg and "flatten" in msg


def test_shape_mismatch_add(tmp_path):
    obj = make_genome([
        {"id": "x", "type": "input"},
        {"id": "d1", "type": "dense", "inputs": ["x"], "units": 4, "neuron": TTFS},
        {"id": "d2", "type": "dense", "inputs": ["x"], "units": 5, "neuron": TTFS},
        {"id": "s", "type": "add", "inputs": ["d1", "d2"], "neuron": TTFS},
        {"id": "d", "type": "dense", "inputs": ["s"], "units": 3},
        {"id": "out", "type": "readout", "inputs": ["d"]},
    ], input_shape=(4,))
    msg = genome_error(tmp_path, obj)
    assert "nodes[3] (id 's')" in msg and "[4]" in msg and "[5]" in msg


def test_shape_mismatch_concat(tmp_path):
    obj = make_genome([
        {"id": "x", "type": "input"},
        {"id": "c", "type": "conv2d", "inputs": ["x"], "out_channels": 2, "kernel": 3, "neuron": TTFS},
        {"id": "f", "type": "flatten", "inputs": ["x"]},
        {"id": "cat", "type": "concat", "inputs": ["c", "f"]},
        {"id": "f2", "type": "flatten", "inputs": ["cat"]},
        {"id": "d", "type": "dense", "inputs": ["f2"], "units": 3},
        {"id": "out", "type": "readout", "inputs": ["d"]},
    ])
    msg = genome_error(tmp_path, obj)
    assert "nodes[3] (id 'cat')" in msg and "concat" in msg


def test_conv_kernel_bigger_than_input(tmp_path):
    obj = cnn_genome()
    obj["nodes"][1]["kernel"] = 9
    obj["nodes"][1]["padding"] = 1
    msg = genome_error(tmp_path, obj)
    assert "nodes[1] (id 'c1').kernel" in msg and "9" in msg and "8" in msg


def test_pool_kernel_bigger_than_input(tmp_path):
    obj = cnn_genome()
    obj["nodes"][3]["kernel"] = 7
    msg = genome_error(tmp_path, obj)
    assert "nodes[3] (id 'p1').kernel" in msg


def test_readout_size_differs_from_classes(tmp_path):
    obj = cnn_genome()
    obj["nodes"][6]["units"] = 4
    msg = genome_error(tmp_path, obj)
    assert "nodes[7] (id 'out')" in msg and "4 outputs" in msg and "3 classes" in msg


def test_recurrent_edge_with_mismatched_shapes(tmp_path):
    obj = cnn_genome()
    obj["nodes"][5]["inputs"] = ["f", {"node": "d2", "recurrent": True}]   # d1 has 8 units, d2 has 3
    msg = genome_error(tmp_path, obj)
    assert "nodes[5] (id 'd1').inputs" in msg and "'d2'" in msg and "[3]" in msg and "[8]" in msg


def test_dead_end_node(tmp_path):
    obj = cnn_genome()
    obj["nodes"].insert(6, {"id": "side", "type": "dense", "inputs": ["d1"], "units": 2, "neuron": TTFS})
    msg = genome_error(tmp_path, obj)
    assert "nodes[6] (id 'side')" in msg and "dead end" in msg


def test_node_feeding_only_itself_is_a_dead_end(tmp_path):
    obj = cnn_genome()
    obj["nodes"].insert(6, {"id": "side", "type": "dense", "units": 8, "neuron": TTFS,
                            "inputs": ["d1", {"node": "side", "recurrent": True}]})
    msg = genome_error(tmp_path, obj)
    assert "nodes[6] (id 'side')" in msg and "dead end" in msg


@pytest.mark.parametrize("text, field", [
    ('"window_margin": Infinity', "time.window_margin"),
    ('"window_margin": NaN', "time.window_margin"),
    ('"window_margin": 1e400', "time.window_margin"),
])
def test_non_finite_numbers_rejected(tmp_path, text, field):
    body = json.dumps(cnn_genome()).replace('"steps_per_window": 8', '"steps_per_window": 8, ' + text)
    path = tmp_path / "genome.json"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(DeployError) as info:
        load_genome(path)
    msg = str(info.value)
    assert str(path) in msg and field in msg and "finite" in msg


def test_non_finite_in_node_and_provenance(tmp_path):
    obj = cnn_genome()
    obj["nodes"][2]["eps"] = float("inf")
    msg = genome_error(tmp_path, obj)
    assert "nodes[2] (id 'bn1').eps" in msg and "finite" in msg
    obj = cnn_genome()
    obj["provenance"] = {"scores": [0.5, float("nan")]}
    msg = genome_error(tmp_path, obj)
    assert "provenance.scores[1]" in msg and "finite" in msg


def test_wrong_arity(tmp_path):
    obj = cnn_genome()
    obj["nodes"].insert(5, {"id": "s", "type": "add", "inputs": ["f"], "neuron": TTFS})
    obj["nodes"][6]["inputs"] = ["s"]
    msg = genome_error(tmp_path, obj)
    assert "nodes[5] (id 's').inputs" in msg and "too short" in msg


def test_single_input_node_with_two_forward_inputs(tmp_path):
    obj = cnn_genome()
    obj["nodes"][6]["inputs"] = ["d1", "f"]
    msg = genome_error(tmp_path, obj)
    assert "nodes[6] (id 'd2').inputs" in msg and "exactly 1" in msg


def test_recurrent_edge_does_not_count_as_forward_input(tmp_path):
    obj = cnn_genome()
    obj["nodes"][6]["inputs"] = [{"node": "d2", "recurrent": True}]     # no forward input left
    msg = genome_error(tmp_path, obj)
    assert "nodes[6] (id 'd2').inputs" in msg and "got 0" in msg


# -- weights -----------------------------------------------------------------------------------------

@pytest.fixture
def cnn(tmp_path):
    """A valid genome file, its Genome, and float weights exported from its (seeded) ANN counterpart."""
    import torch
    from tnas_deploy.ann import build_ann

    path = write_json(tmp_path / "cnn.json", cnn_genome())
    g = load_genome(path)
    torch.manual_seed(0)
    model = build_ann(g)
    with torch.no_grad():
        bn = model.layers["bn1"]
        bn.running_mean.uniform_(-0.1, 0.1)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
    return g, model, model.export_weights()


def save_h5(path: Path, weights) -> Path:
    from tnas_deploy.weights import save_weights
    save_weights(weights, path)
    return path


def weights_error(g, path) -> str:
    from tnas_deploy.weights import load_weights
    with pytest.raises(DeployError) as info:
        load_weights(g, path)
    msg = str(info.value)
    assert str(path) in msg, msg
    return msg


def test_weights_load(cnn, tmp_path):
    from tnas_deploy.weights import expected_shapes, load_weights
    g, _, w = cnn
    loaded = load_weights(g, save_h5(tmp_path / "w.h5", w))
    assert set(loaded) == {"c1", "bn1", "d1", "d2"}
    for nid, shapes in expected_shapes(g).items():
        for name, shape in shapes.items():
            assert loaded[nid][name].shape == shape and loaded[nid][name].dtype == np.float64
            np.testing.assert_array_equal(loaded[nid][name], w[nid][name].astype(np.float32))
    assert expected_shapes(g)["c1"] == {"weight": (4, 1, 3, 3), "bias": (4,)}
    assert expected_shapes(g)["d1"]["weight"] == (8, 36)


def test_weights_missing_file(cnn, tmp_path):
    g, _, _ = cnn
    msg = weights_error(g, tmp_path / "absent.h5")
    assert "not found" in msg


def test_weights_genome_names_no_file(cnn):
    from tnas_deploy.weights import load_weights
    g, _, _ = cnn
    with pytest.raises(DeployError) as info:
        load_weights(g)
    assert "weights" in str(info.value) and str(g.source) in str(info.value)


def test_weights_not_hdf5(cnn, tmp_path):
    g, _, _ = cnn
    path = tmp_path / "w.h5"
    path.write_text("not hdf5")
    msg = weights_error(g, path)
    assert "HDF5" in msg


def test_weights_missing_group(cnn, tmp_path):
    g, _, w = cnn
    del w["d1"]
    msg = weights_error(g, save_h5(tmp_path / "w.h5", w))
    assert "'d1'" in msg and "missing" in msg


def test_weights_missing_tensor(cnn, tmp_path):
    g, _, w = cnn
    del w["bn1"]["running_var"]
    msg = weights_error(g, save_h5(tmp_path / "w.h5", w))
    assert "bn1/running_var" in msg and "missing" in msg and "[4]" in msg


def test_weights_wrong_shape(cnn, tmp_path):
    g, _, w = cnn
    w["c1"]["weight"] = np.zeros((4, 1, 5, 5), dtype=np.float32)
    msg = weights_error(g, save_h5(tmp_path / "w.h5", w))
    assert "c1/weight" in msg and "[4, 1, 3, 3]" in msg and "[4, 1, 5, 5]" in msg


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_weights_non_finite(cnn, tmp_path, bad):
    g, _, w = cnn
    w["d1"]["bias"] = w["d1"]["bias"].copy()
    w["d1"]["bias"][3] = bad
    msg = weights_error(g, save_h5(tmp_path / "w.h5", w))
    assert "d1/bias" in msg and "1 non-finite" in msg


def test_weights_negative_running_var(cnn, tmp_path):
    g, _, w = cnn
    w["bn1"]["running_var"] = -np.ones(4, dtype=np.float32)
    msg = weights_error(g, save_h5(tmp_path / "w.h5", w))
    assert "bn1/running_var" in msg


def test_weights_non_numeric(cnn, tmp_path):
    g, _, w = cnn
    path = save_h5(tmp_path / "w.h5", w)
    with h5py.File(path, "r+") as f:
        del f["d2/bias"]
        f["d2"].create_dataset("bias", data=np.array([b"a", b"b", b"c"]))
    msg = weights_error(g, path)
    assert "d2/bias" in msg and "numeric" in msg


def test_state_dict_matches_hdf5(cnn, tmp_path):
    import torch
    from tnas_deploy.weights import load_weights
    g, model, w = cnn
    pt = tmp_path / "w.pt"
    torch.save(model.state_dict(), pt)
    from_pt = load_weights(g, pt)
    from_h5 = load_weights(g, save_h5(tmp_path / "w.h5", w))
    assert set(from_pt) == set(from_h5) == {"c1", "bn1", "d1", "d2"}
    for nid in from_h5:
        assert set(from_pt[nid]) == set(from_h5[nid])
        for name in from_h5[nid]:
            assert from_pt[nid][name].dtype == np.float64
            np.testing.assert_array_equal(from_pt[nid][name], from_h5[nid][name])


def test_state_dict_with_missing_tensor(cnn, tmp_path):
    import torch
    g, model, _ = cnn
    state = model.state_dict()
    del state["layers.c1.bias"]
    pt = tmp_path / "w.pt"
    torch.save(state, pt)
    msg = weights_error(g, pt)
    assert "c1/bias" in msg


def test_state_dict_unreadable(cnn, tmp_path):
    g, _, _ = cnn
    pt = tmp_path / "w.pt"
    pt.write_bytes(b"garbage")
    msg = weights_error(g, pt)
    assert "state_dict" in msg


# -- data --------------------------------------------------------------------------------------------

SHAPE = (1, 6, 6)


def data_error(path: Path, n_classes: int | None = 3) -> str:
    from tnas_deploy.data import load_dataset
    with pytest.raises(DeployError) as info:
        load_dataset(path, SHAPE, n_classes)
    msg = str(info.value)
    assert str(path) in msg, msg
    return msg


def npz(path: Path, **arrays) -> Path:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def test_dataset_loads(tmp_path):
    from tnas_deploy.data import load_dataset, save_dataset
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (5, *SHAPE))
    y = np.array([0, 1, 2, 1, 0])
    save_dataset(tmp_path / "d.npz", x, y)
    d = load_dataset(tmp_path / "d.npz", SHAPE, 3)
    np.testing.assert_array_equal(d.x, x)
    np.testing.assert_array_equal(d.y, y)
    assert len(d) == 5 and len(d.head(2)) == 2 and d.sha256 and len(d.sha256) == 64
    save_dataset(tmp_path / "nolabels.npz", x.astype(np.float32))
    assert load_dataset(tmp_path / "nolabels.npz", SHAPE).y is None


def test_data_missing_x(tmp_path):
    msg = data_error(npz(tmp_path / "d.npz", images=np.zeros((2, *SHAPE))))
    assert ": x:" in msg and "'images'" in msg


def test_data_wrong_shape(tmp_path):
    msg = data_error(npz(tmp_path / "d.npz", x=np.zeros((2, 6, 6))))
    assert ": x:" in msg and "[2, 6, 6]" in msg and "1, 6, 6" in msg


def test_data_wrong_rank(tmp_path):
    msg = data_error(npz(tmp_path / "d.npz", x=np.zeros((2, 1, 1, 6, 6))))
    assert ": x:" in msg


def test_data_out_of_range(tmp_path):
    msg = data_error(npz(tmp_path / "d.npz", x=np.full((2, *SHAPE), 255.0)))
    assert ": x:" in msg and "[0, 1]" in msg and "255" in msg


def test_data_negative(tmp_path):
    x = np.zeros((2, *SHAPE))
    x[1, 0, 2, 2] = -0.5
    msg = data_error(npz(tmp_path / "d.npz", x=x))
    assert ": x:" in msg and "-0.5" in msg


def test_data_nan(tmp_path):
    x = np.zeros((2, *SHAPE))
    x[0, 0, 0, 0] = np.nan
    msg = data_error(npz(tmp_path / "d.npz", x=x))
    assert ": x:" in msg and "NaN" in msg


def test_data_empty(tmp_path):
    msg = data_error(npz(tmp_path / "d.npz", x=np.zeros((0, *SHAPE))))
    assert ": x:" in msg


@pytest.mark.parametrize("y, what", [
    (np.array([0.0, 1.0]), "float labels"),
    (np.array([0, 1, 2]), "wrong length"),
    (np.array([[0], [1]]), "wrong rank"),
    (np.array([0, 3]), "out of range"),
    (np.array([-1, 0]), "negative"),
])
def test_data_bad_labels(tmp_path, y, what):
    msg = data_error(npz(tmp_path / "d.npz", x=np.zeros((2, *SHAPE)), y=y))
    assert ": y:" in msg, what


def test_data_not_npz(tmp_path):
    path = tmp_path / "d.npz"
    path.write_text("x,y\n0,1\n")
    msg = data_error(path)
    assert "npz" in msg


def test_data_pickled_object_array_rejected(tmp_path):
    path = tmp_path / "d.npz"
    with open(path, "wb") as fh:
        np.savez(fh, x=np.array([{"a": 1}, None], dtype=object))
    msg = data_error(path)
    assert "npz" in msg or ": x:" in msg


def test_dataset_head(tmp_path):
    from tnas_deploy.data import load_dataset
    d = load_dataset(npz(tmp_path / "d.npz", x=np.zeros((4, *SHAPE)), y=np.arange(4) % 3), SHAPE, 3)
    assert len(d.head(None)) == 4 and len(d.head(10)) == 4
    np.testing.assert_array_equal(d.head(2).y, [0, 1])
    for n in (0, -1):
        with pytest.raises(DeployError) as info:
            d.head(n)
        assert "--samples" in str(info.value)


def test_data_missing_file(tmp_path):
    from tnas_deploy.data import load_dataset
    with pytest.raises(DeployError) as info:
        load_dataset(tmp_path / "none.npz", SHAPE, 3, role="--calibration")
    assert "--calibration" in str(info.value) and "none.npz" in str(info.value)


# -- hardware profiles -------------------------------------------------------------------------------

@pytest.fixture
def bundled_toml(monkeypatch) -> str:
    from tnas_deploy.profiles import BUNDLED_DIR
    monkeypatch.delenv("TNAS_DEPLOY_PROFILES", raising=False)
    return (BUNDLED_DIR / "loihi2.toml").read_text(encoding="utf-8")


def test_bundled_profile_by_name(bundled_toml):
    from tnas_deploy.profiles import available_profiles, load_profile
    assert "loihi2" in available_profiles()
    p = load_profile("loihi2")
    assert p.name == "loihi2"
    assert p.format.weight_bits == 8 and p.format.state_bits == 24 and p.format.threshold_shift == 6


def test_user_profile_by_path(bundled_toml, tmp_path):
    from tnas_deploy.profiles import load_profile
    text = bundled_toml.replace('name = "loihi2"', 'name = "mychip"')
    text = text.replace("[format.state_bits]\nvalue = 24", "[format.state_bits]\nvalue = 32")
    path = tmp_path / "mychip.toml"
    path.write_text(text, encoding="utf-8")
    p = load_profile(str(path))
    assert p.name == "mychip" and p.path == path
    assert p.format.state_bits == 32 and p.format.weight_bits == 8
    assert p.raw["format"]["state_bits"]["value"] == 32


def test_user_profile_with_estimate_loads(bundled_toml, tmp_path):
    from tnas_deploy.profiles import load_profile
    text = bundled_toml.replace('value = 24\nsource = "', 'value = 24\nestimate = "')
    path = tmp_path / "est.toml"
    path.write_text(text, encoding="utf-8")
    assert load_profile(str(path)).format.state_bits == 24


def profile_error(tmp_path: Path, text: str) -> str:
    from tnas_deploy.profiles import load_profile
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DeployError) as info:
        load_profile(str(path))
    msg = str(info.value)
    assert str(path) in msg, msg
    return msg


def test_profile_number_without_source(bundled_toml, tmp_path):
    start = bundled_toml.index("[format.state_bits]")
    end = bundled_toml.index("[format.threshold_bits]")
    text = bundled_toml[:start] + "[format.state_bits]\nvalue = 24\n\n" + bundled_toml[end:]
    msg = profile_error(tmp_path, text)
    assert "format.state_bits" in msg and "source" in msg and "estimate" in msg


def test_profile_bare_number(bundled_toml, tmp_path):
    start = bundled_toml.index("[format.state_bits]")
    end = bundled_toml.index("[format.threshold_bits]")
    text = bundled_toml[:start] + bundled_toml[end:]
    text = text.replace("[format.weight_bits]", "[format]\nstate_bits = 24\n\n[format.weight_bits]")
    msg = profile_error(tmp_path, text)
    assert "format.state_bits" in msg and "source" in msg


def test_profile_missing_number(bundled_toml, tmp_path):
    start = bundled_toml.index("[format.state_bits]")
    end = bundled_toml.index("[format.threshold_bits]")
    msg = profile_error(tmp_path, bundled_toml[:start] + bundled_toml[end:])
    assert "format.state_bits" in msg and "missing" in msg


def test_profile_non_integer_value(bundled_toml, tmp_path):
    msg = profile_error(tmp_path, bundled_toml.replace("[format.state_bits]\nvalue = 24", "[format.state_bits]\nvalue = 24.5"))
    assert "format.state_bits.value" in msg and "24.5" in msg


def test_profile_value_out_of_range(bundled_toml, tmp_path):
    msg = profile_error(tmp_path, bundled_toml.replace("[format.weight_bits]\nvalue = 8", "[format.weight_bits]\nvalue = 40"))
    assert "format.weight_bits.value" in msg and "between 2 and 16" in msg


def test_profile_malformed_toml(tmp_path):
    msg = profile_error(tmp_path, "[profile\nname = 'x'\n")
    assert "TOML" in msg


def test_profile_missing_name(bundled_toml, tmp_path):
    msg = profile_error(tmp_path, bundled_toml.replace('name = "loihi2"\n', ""))
    assert "profile.name" in msg


def test_profile_file_not_found(tmp_path):
    from tnas_deploy.profiles import load_profile
    with pytest.raises(DeployError) as info:
        load_profile(str(tmp_path / "absent.toml"))
    assert "absent.toml" in str(info.value) and "not found" in str(info.value)


def test_unknown_profile_name_lists_available(monkeypatch, tmp_path):
    from tnas_deploy.profiles import load_profile
    monkeypatch.delenv("TNAS_DEPLOY_PROFILES", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DeployError) as info:
        load_profile("nosuchchip")
    msg = str(info.value)
    assert "--profile" in msg and "'nosuchchip'" in msg and "loihi2" in msg


def test_profile_search_path_from_environment(bundled_toml, monkeypatch, tmp_path):
    from tnas_deploy.profiles import available_profiles, load_profile
    (tmp_path / "mychip.toml").write_text(bundled_toml.replace('name = "loihi2"', 'name = "mychip"'))
    monkeypatch.setenv("TNAS_DEPLOY_PROFILES", str(tmp_path))
    monkeypatch.chdir(tmp_path.parent)
    assert {"mychip", "loihi2"} <= set(available_profiles())
    assert load_profile("mychip").name == "mychip"
