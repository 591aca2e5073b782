"""`tnas-deploy view`: ONNX views of genomes and artifacts for netron, and serving them with netron's own server.

The views must pass `onnx.checker`, hold one node per genome node (plus one `tnas.TtfsNeuron` per neuron) or
per artifact layer, be connected (every node input is a graph input, an initializer or another node's
output) and carry the numbers users look for. Serving binds to localhost only and is stopped in bounded time.
"""
from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from tnas_deploy.artifact import load_artifact, save_artifact
from tnas_deploy.cli import main
from tnas_deploy.compiler import compile_files
from tnas_deploy.genome import load_genome
from tnas_deploy.interop.netron_view import DOMAIN, OPSET, serve, stop, write_view
from tnas_deploy.schemes.ttfs.layers import InputLayer, ReadoutLayer, TtfsLayer

ROOT = Path(__file__).resolve().parents[1]
GENOME = ROOT / "models" / "digits_ttfs.json"
CALIB = ROOT / "models" / "digits_calib.npz"
HTTP_TIMEOUT = 10


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    net, summary = compile_files(GENOME, calibration_path=CALIB)
    path = tmp_path_factory.mktemp("view") / "digits_ttfs.loihi2.tdart"
    save_artifact(net, path, summary)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str = "/") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)   # no proxy, loopback only
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def assert_connected(model: onnx.ModelProto) -> None:
    g = model.graph
    available = {i.name for i in g.input} | {t.name for t in g.initializer}
    for node in g.node:                       # nodes are in topological order
        for name in node.input:
            assert name in available, f"{node.name}: input {name!r} comes from nowhere"
        available.update(node.output)
    produced = {o for n in g.node for o in n.output}
    assert {o.name for o in g.output} <= produced
    used = {i for n in g.node for i in n.input}
    assert all(o in used or o in {x.name for x in g.output} for o in produced), "a node output goes nowhere"


def assert_edges_have_shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    g = model.graph
    infos = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
             for v in list(g.value_info) + list(g.input) + list(g.output)}
    inits = {t.name for t in g.initializer}
    for node in g.node:
        for name in list(node.input) + list(node.output):
            if name not in inits:
                assert name in infos, f"edge {name!r} has no value_info"
                assert infos[name][0] == 1 and all(d > 0 for d in infos[name]), (name, infos[name])
    return infos


def attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def meta(proto) -> dict[str, str]:
    return {p.key: p.value for p in proto.metadata_props}


# -- genome -------------------------------------------------------------------------------------------
def test_genome_view(tmp_path: Path) -> None:
    genome = load_genome(GENOME)
    out = write_view(GENOME, tmp_path / "g.onnx")
    model = onnx.load(out)
    onnx.checker.check_model(model, full_check=True)
    assert {o.domain: o.version for o in model.opset_import} == {"": OPSET, DOMAIN: 1}
    nodes = {n.name: n for n in model.graph.node}
    spiking = [n for n in genome.nodes if n.spiking]
    assert len(model.graph.node) == len(genome.nodes) - 1 + len(spiking)      # input = graph input
    assert [i.name for i in model.graph.input] == [genome.input_node.id]
    expected_op = {"conv2d": "Conv", "dense": "Gemm", "batchnorm": "BatchNormalization", "maxpool2d": "MaxPool",
                   "flatten": "Flatten", "readout": "Identity"}
    for node in genome.nodes[1:]:
        assert nodes[node.id].op_type == expected_op[node.type_tag]
        assert meta(nodes[node.id])["genome_node"] == node.id
    for node in spiking:
        neuron = nodes[f"{node.id}.neuron"]
        assert (neuron.domain, neuron.op_type) == (DOMAIN, "TtfsNeuron")
        assert attrs(neuron)["model"] == b"ttfs" and attrs(neuron)["steps_per_window"] == 32
    assert attrs(nodes["conv1"])["kernel_shape"] == [3, 3] and attrs(nodes["conv1"])["pads"] == [1, 1, 1, 1]
    assert json.loads(meta(nodes["conv1"])["out_channels"]) == 16
    assert_connected(model)
    infos = assert_edges_have_shapes(model)
    for node_id, shape in genome.shapes.items():
        assert infos[node_id] == [1, *shape]
    props = meta(model)
    assert props["provenance.weights_status"] == "trained" and props["format"] == "tnas-genome"
    assert props["weights"].startswith("included")
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert init["conv1.weight"].shape == (16, 1, 3, 3) and init["conv1.weight"].dtype == np.float32


def test_genome_without_weights_file(tmp_path: Path) -> None:
    shutil.copy(GENOME, tmp_path / "g.json")                      # its weights file is not next to it
    model = onnx.load(write_view(tmp_path / "g.json", tmp_path / "g.onnx"))
    onnx.checker.check_model(model)
    assert meta(model)["weights"].startswith("not included")
    assert not model.graph.initializer
    assert "conv1.weight" in {i.name for i in model.graph.input}   # shapes only, fed from outside
    assert_connected(model)


def test_residual_genome_view(tmp_path: Path) -> None:
    model = onnx.load(write_view(ROOT / "models" / "tnas_er_eye.json", tmp_path / "eye.onnx"))
    onnx.checker.check_model(model)
    ops = {n.name: n.op_type for n in model.graph.node}
    assert ops["skip"] == "Add" and ops["gap"] == "AveragePool" and ops["skip.neuron"] == "TtfsNeuron"
    assert_connected(model)
    assert_edges_have_shapes(model)


# -- artifact -----------------------------------------------------------------------------------------
def test_artifact_view(artifact: Path, tmp_path: Path) -> None:
    net, summary = load_artifact(artifact)
    model = onnx.load(write_view(artifact, tmp_path / "a.onnx"))
    onnx.checker.check_model(model, full_check=True)
    layers = [la for la in net.layers if not isinstance(la, InputLayer)]
    assert [n.name for n in model.graph.node] == [la.id for la in layers]
    rows = {r["layer"]: r for r in summary["layers"]}
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for layer, node in zip(layers, model.graph.node):
        if isinstance(layer, (TtfsLayer, ReadoutLayer)):
            a = attrs(node)
            assert node.domain == DOMAIN
            assert node.op_type == ("TtfsNeuron" if isinstance(layer, TtfsLayer) else "TtfsReadout")
            assert a["weight_bits"] == net.fmt.weight_bits == 8
            assert a["weight_exp"] == rows[layer.id]["weight_exp"]
            assert a["window"] == layer.window and a["steps_per_window"] == net.steps
            assert a["neurons"] == rows[layer.id]["neurons"] and a["synapses"] == rows[layer.id]["synapses"]
            w = init[f"{layer.id}.w0"]
            assert w.dtype == np.int8 and np.array_equal(w, layer.projections[0].weight)
            if isinstance(layer, TtfsLayer):
                assert a["ramp"] == layer.ramp
                assert np.array_equal(init[f"{layer.id}.threshold"], layer.threshold)
                assert np.array_equal(init[f"{layer.id}.v_init"], layer.v_init)
            assert "input_names" in meta(node)                    # netron labels the custom op's inputs
        else:
            assert node.domain == "" and node.op_type in ("MaxPool", "Flatten", "Concat")
            assert json.loads(meta(node)["window"]) == layer.window
    assert_connected(model)
    infos = assert_edges_have_shapes(model)
    for layer in net.layers:
        assert infos[layer.id] == [1, *layer.shape]
    props = meta(model)
    assert props["format"] == "tnas-artifact" and props["profile"] == "loihi2"
    assert props["provenance.weights_status"] == "trained"
    assert props["sha256.genome"] == net.inputs["genome"]


def test_view_is_reproducible(artifact: Path, tmp_path: Path) -> None:
    for source in (GENOME, artifact):
        a = write_view(source, tmp_path / "1.onnx").read_bytes()
        b = write_view(source, tmp_path / "2.onnx").read_bytes()
        assert a == b


# -- CLI ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["genome", "artifact"])
def test_cli_export(which: str, artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = GENOME if which == "genome" else artifact
    out = tmp_path / "sub" / "view.onnx"
    assert main(["view", str(source), "--export", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    onnx.checker.check_model(onnx.load(out))
    assert [p.name for p in out.parent.iterdir()] == ["view.onnx"]          # no temp file left beside it


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "tnas-genome", "version": 1,')
    return {"missing": tmp_path / "missing.tdart", "text": text, "broken_json": broken,
            "hdf5_not_artifact": ROOT / "models" / "digits_ttfs.h5", "directory": tmp_path}


@pytest.mark.parametrize("case", ["missing", "text", "broken_json", "hdf5_not_artifact", "directory"])
def test_cli_bad_input(case: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out" / "view.onnx"
    assert main(["view", str(source), "--export", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tnas-deploy: error: ") and str(source) in err and "Traceback" not in err
    assert not out.exists()


# -- serving ------------------------------------------------------------------------------------------
def test_serve_and_stop(artifact: Path, tmp_path: Path) -> None:
    import netron

    path = write_view(artifact, tmp_path / "served.onnx")
    port = free_port()
    url = serve(path, port, browse=False)
    try:
        assert url == f"http://localhost:{port}/"
        status, body = http_get(port, "/")
        assert status == 200 and b"<html" in body.lower()
        status, body = http_get(port, f"/data/{path.name}")             # the page loads the model from here
        assert status == 200 and body == path.read_bytes()
    finally:
        stop(url)
    assert not netron.status(("localhost", port))


def test_serve_free_port_and_busy_port(tmp_path: Path) -> None:
    path = write_view(GENOME, tmp_path / "g.onnx")
    url = serve(path, None, browse=False)
    try:
        port = int(url.rsplit(":", 1)[1].rstrip("/"))
        assert http_get(port)[0] == 200
    finally:
        stop(url)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert main(["view", str(GENOME), "--no-browser", "--port", str(taken)]) == 2


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_until_interrupted(sig: signal.Signals) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tnas_deploy.cli", "view", str(GENOME), "--no-browser",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()                 # printed once the server is up
        assert f"http://localhost:{port}/" in line
        assert http_get(port)[0] == 200
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopped" in out
