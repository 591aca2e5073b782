"""lava-dl netx export and import: exported files run bit-exact in Lava (netx 0.6.0, fixed_pt), the weight
pipeline mirror agrees with netx and Lava, netx -> genome -> netx is the identity on our files, and what netx
cannot express is refused with the reason. lava-dl's own example files: tests/test_netx_examples.py."""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from tnas_deploy.artifact import save_artifact
from tnas_deploy.cli import main
from tnas_deploy.compiler import compile_network, load_inputs
from tnas_deploy.errors import OverflowReport
from tnas_deploy.genome import load_genome
from tnas_deploy.schemes.rate.netx import compile_for_netx, dense_effect, export_netx
from tnas_deploy.schemes.rate.netx_run import run_netx
from tnas_deploy.schemes.rate.layers import CubaLayer
from tnas_deploy.schemes.rate.refsim import input_payload
from tnas_deploy.runner import simulate
from tnas_deploy.summary import summarize
from tnas_deploy.weights import expected_shapes, save_weights

ROOT = Path(__file__).resolve().parents[1]


def _genome(name: str, shape: list[int], steps: int, nodes: list[dict], classes: int) -> dict:
    return {"format": "tnas-genome", "version": 2, "name": name, "weights": "w.h5",
            "task": {"input_shape": shape, "classes": [f"c{i}" for i in range(classes)]},
            "coding": {"scheme": "rate", "steps": steps}, "nodes": [{"id": "x", "type": "input"}] + nodes}


GENOMES = {
    # dense IF -> LIF chain, membrane readout with bias
    "mlp": _genome("mlp", [12], 6, [
        {"id": "d1", "type": "dense", "inputs": ["x"], "units": 10, "neuron": {"model": "if", "threshold": 1.0}},
        {"id": "d2", "type": "dense", "inputs": ["d1"], "units": 8,
         "neuron": {"model": "lif", "tau": 2.0, "threshold": 0.5}},
        {"id": "o", "type": "dense", "inputs": ["d2"], "units": 3},
        {"id": "out", "type": "readout", "inputs": ["o"]}], 3),
    # conv + max-pool of spikes + conv + flatten + dense (with a synaptic current) + spike-count readout
    "cnn": _genome("cnn", [2, 6, 6], 5, [
        {"id": "c1", "type": "conv2d", "inputs": ["x"], "out_channels": 3, "kernel": 3, "padding": 1,
         "neuron": {"model": "lif", "tau": 3.0, "threshold": 1.0}},
        {"id": "p1", "type": "maxpool2d", "inputs": ["c1"], "kernel": 2},
        {"id": "c2", "type": "conv2d", "inputs": ["p1"], "out_channels": 4, "kernel": 2,
         "neuron": {"model": "if", "threshold": 1.0}},
        {"id": "f", "type": "flatten", "inputs": ["c2"]},
        {"id": "h", "type": "dense", "inputs": ["f"], "units": 7, "bias": False,
         "neuron": {"model": "lif", "tau": 2.0, "threshold": 1.0, "tau_current": 2.0}},
        {"id": "o", "type": "dense", "inputs": ["h"], "units": 4, "neuron": {"model": "if", "threshold": 1.0}},
        {"id": "out", "type": "readout", "inputs": ["o"], "mode": "spike_count"}], 4),
}


def _write(tmp_path: Path, key: str, seed: int = 1, **changes) -> Path:
    obj = json.loads(json.dumps(GENOMES[key]))
    for node in obj["nodes"]:
        node.update(changes.get(node["id"], {}))
    path = tmp_path / f"{key}.json"
    path.write_text(json.dumps(obj))
    genome = load_genome(path)
    rng = np.random.default_rng(seed)
    weights = {k: {n: rng.normal(0.3, 0.6, s) for n, s in v.items()} for k, v in expected_shapes(genome).items()}
    save_weights(weights, tmp_path / "w.h5")
    return path


@pytest.fixture(scope="module")
def netx_lava():
    return pytest.importorskip("lava.lib.dl.netx")


@pytest.mark.parametrize("key", sorted(GENOMES))
def test_exported_file_runs_bit_exact_on_lava(tmp_path, key, netx_lava) -> None:
    """netx.hdf5.Network on Loihi2SimCfg(select_tag='fixed_pt'): every population's spikes and the membrane
    readout equal the integer reference simulator's."""
    net = compile_for_netx(load_inputs(_write(tmp_path, key), None, "loihi2", None))
    export_netx(net, tmp_path / "m.net")
    x = np.random.default_rng(7).uniform(0, 1, (2,) + tuple(net.input_shape))
    ref = simulate(net, x)
    populations = [la.id for la in net.layers if isinstance(la, CubaLayer)]
    for s in range(len(x)):
        out = run_netx(tmp_path / "m.net", input_payload(x[s:s + 1], net.layers[0], net.steps)[0], net.run_steps)
        assert len(out["spikes"]) == len(populations) + (net.readout.mode == "membrane")
        for raster, pid in zip(out["spikes"], populations):
            np.testing.assert_array_equal(raster, ref.spike_times[pid][s], err_msg=f"{key} sample {s} layer {pid}")
            assert raster.any()                      # the comparison is not vacuous
        if net.readout.mode == "membrane":
            np.testing.assert_array_equal(out["v"], ref.readout[s])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")      # netx divides by zero on one-signed matrices
def test_weight_pipeline_mirror_agrees_with_netx_and_lava(netx_lava) -> None:
    """`dense_effect` accepts a stored weight matrix exactly when netx's optimize_weight_bits and Lava's Dense
    (clip, truncate, output shift) deliver `weight @ spikes` unchanged."""
    from lava.lib.dl.netx.utils import optimize_weight_bits
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    rng = np.random.default_rng(0)
    cases = [rng.integers(-254, 255, (5, 7)), rng.integers(0, 256, (4, 4)), rng.integers(-256, 1, (3, 5)),
             np.array([[-1, 0], [0, -1]]), np.array([[-128, 0], [0, 0]]), np.array([[-255, 0, -3]]),
             np.array([[2, 4, 6]]), np.array([[1, -1]]), np.array([[254, -256]]), np.array([[3, 0], [0, 0]]),
             np.array([[255, -1]]), np.array([[0, 0]]), np.array([[300, 2]])]
    cases += [rng.integers(-4, 5, (6, 6)) * 2 ** k for k in range(6)]
    accepted = 0
    for w in cases:
        mine, _ = dense_effect(w)
        try:
            lw, bits, exp, _ = optimize_weight_bits(w.copy())
            mode = determine_sign_mode(lw)
            lava = truncate_weights(clip_weights(lw, mode, num_bits=8), mode, bits)
            exact = exp <= 0 and np.array_equal(lava, w.astype(np.int64) << -exp)
        except (OverflowError, ValueError):          # netx fails on an all-zero matrix
            exact = False
        assert (mine is not None) == exact, w
        if exact:
            accepted += 1
            s = rng.integers(0, 2, (w.shape[1], 16))
            np.testing.assert_array_equal((lava @ s) >> -exp, w @ s)     # PyDenseModelBitAcc's output
    assert 5 < accepted < len(cases)


def test_netx_import_export_round_trip_is_the_identity(tmp_path) -> None:
    """export genome -> import -> export: the same file; the imported genome behaves as the exported network; its
    chip integers (9-bit weights, some odd) do not fit Loihi 2's 8-bit mantissas, which the exact compile refuses
    naming the layer, and without chip_integers the genome is quantized for Loihi 2 anew."""
    genome_path = _write(tmp_path, "cnn")
    assert main(["export", str(genome_path), "--format", "netx", "-o", str(tmp_path / "a.net"),
                 "--artifact", str(tmp_path / "a.tdart")]) == 0
    assert main(["import", str(tmp_path / "a.net"), "-o", str(tmp_path / "imp" / "g.json")]) == 0
    assert (tmp_path / "imp" / "g.h5").is_file()
    assert main(["export", str(tmp_path / "imp" / "g.json"), "--format", "netx", "-o", str(tmp_path / "b.net")]) == 0

    def datasets(path: Path) -> dict:
        out: dict = {}
        with h5py.File(path) as f:
            f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        return out

    a, b = datasets(tmp_path / "a.net"), datasets(tmp_path / "b.net")
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    imported = load_genome(tmp_path / "imp" / "g.json")
    assert [n.id for n in imported.nodes if n.neuron is not None] == ["c1", "c2", "h", "o"]
    original = compile_for_netx(load_inputs(genome_path, None, "loihi2", None))
    again = compile_for_netx(load_inputs(tmp_path / "imp" / "g.json", None, "loihi2", None))
    x = np.random.default_rng(3).uniform(0, 1, (16, 2, 6, 6))
    r1, r2 = simulate(original, x), simulate(again, x)
    for pid in r1.spike_times:
        np.testing.assert_array_equal(r1.spike_times[pid], r2.spike_times[pid])
    np.testing.assert_array_equal(r1.readout, r2.readout)
    assert again.options["chip_integers"] and "chip_integers" not in original.options
    top = max(int(np.abs(np.asarray(p.weight)).max()) for la in again.layers if isinstance(la, CubaLayer)
              for p in la.projections if p.kind != "sparse")
    assert top > 127                                  # the exporter's weights use 9 bits
    with pytest.raises(OverflowReport) as err:
        compile_network(load_inputs(tmp_path / "imp" / "g.json", None, "loihi2", None))
    assert re.fullmatch(r"layer \w+: weight", err.value.field) and "8-bit mantissas" in err.value.message
    assert "remove chip_integers from the genome" in err.value.message
    obj = json.loads((tmp_path / "imp" / "g.json").read_text())
    del obj["chip_integers"]
    (tmp_path / "imp" / "g.json").write_text(json.dumps(obj))
    compile_network(load_inputs(tmp_path / "imp" / "g.json", None, "loihi2", None))     # quantized anew


def test_loihi2_artifact_that_netx_cannot_store_is_refused(tmp_path, capsys) -> None:
    inputs = load_inputs(_write(tmp_path, "mlp"), None, "loihi2", None)
    net = compile_network(inputs)
    save_artifact(net, tmp_path / "plain.tdart", summarize(net))
    assert main(["export", str(tmp_path / "plain.tdart"), "--format", "netx", "-o", str(tmp_path / "p.net")]) == 2
    err = capsys.readouterr().err
    assert "plain.tdart: layer d1: weights: netx cannot express this" in err and "Export the genome instead" in err
    assert not (tmp_path / "p.net").exists()


def _mlp_variant(tmp_path: Path, nodes: list[dict]) -> Path:
    obj = _genome("mlp", [12], 6, nodes, 3)
    path = tmp_path / "variant.json"
    path.write_text(json.dumps(obj))
    genome = load_genome(path)
    rng = np.random.default_rng(2)
    save_weights({k: {n: rng.normal(0, 0.5, s) for n, s in v.items()} for k, v in expected_shapes(genome).items()},
                 tmp_path / "w.h5")
    return path


D1 = {"id": "d1", "type": "dense", "inputs": ["x"], "units": 10, "neuron": {"model": "if", "threshold": 1.0}}
LIF = {"model": "lif", "tau": 2.0, "threshold": 0.5}
TAIL = [{"id": "o", "type": "dense", "inputs": ["d2"], "units": 3}, {"id": "out", "type": "readout", "inputs": ["o"]}]


@pytest.mark.parametrize("nodes, field, words", [
    ([D1, {"id": "d2", "type": "dense", "inputs": ["d1"], "units": 8,
           "neuron": {"model": "if", "threshold": 1.0, "reset": "subtract"}}] + TAIL,
     "layer d2: reset", "reset by subtraction has no netx form"),
    ([D1, {"id": "d2", "type": "dense", "inputs": ["d1", {"node": "d2", "recurrent": True}], "units": 8,
           "neuron": LIF}] + TAIL, "layer d2: inputs", "recurrent edge"),
    ([D1, {"id": "s", "type": "dense", "inputs": ["x"], "units": 10}, {"id": "a", "type": "add", "inputs": ["d1", "s"]},
      {"id": "d2", "type": "dense", "inputs": ["a"], "units": 8, "neuron": LIF}] + TAIL,
     "layer d2: inputs", "skip connection"),
])
def test_what_netx_cannot_express_is_refused(tmp_path, capsys, nodes, field, words) -> None:
    path = _mlp_variant(tmp_path, nodes)
    assert main(["export", str(path), "--format", "netx", "-o", str(tmp_path / "r.net")]) == 2
    err = capsys.readouterr().err
    assert f"variant.json: {field}: netx cannot express this" in err and words in err, err
    assert not (tmp_path / "r.net").exists()


def _netx_file(path: Path, layers: list[dict]) -> Path:
    with h5py.File(path, "w") as f:
        for i, layer in enumerate(layers):
            g = f.create_group(f"layer/{i}")
            for k, v in layer.items():
                if k == "neuron":
                    n = g.create_group("neuron")
                    for kk, vv in v.items():
                        n.create_dataset(kk, data=vv)
                else:
                    g.create_dataset(k, data=v)
        f.create_dataset("simulation/tSample", data=8)
    return path


CUBA = {"type": np.bytes_("CUBA"), "iDecay": 4096, "vDecay": 512, "vThMant": 100, "refDelay": 1}


@pytest.mark.parametrize("layer, field, words", [
    ({"type": np.array([b"dense_rec"]), "shape": [3], "weight": np.ones((3, 4)), "weight_rec": np.ones((3, 3)),
      "neuron": CUBA}, "layer/1/type", "after one step"),
    ({"type": np.array([b"pool"]), "shape": [3]}, "layer/1/type", "NotImplementedError"),
    ({"type": np.array([b"dense_comp"]), "shape": [3], "neuron": CUBA}, "layer/1/type", "complex-valued"),
    ({"type": np.array([b"dense"]), "shape": [3], "weight": np.ones((3, 4)),
      "neuron": {**CUBA, "type": np.bytes_("SDNN")}}, "layer/0/type", "a sigma-delta file starts with an input layer"),
    ({"type": np.array([b"lstm"]), "shape": [3]}, "layer/1/type", "unknown layer type"),
])
def test_netx_import_refusals_name_file_and_dataset(tmp_path, capsys, layer, field, words) -> None:
    path = _netx_file(tmp_path / "bad.net", [{"type": np.array([b"input"]), "shape": [4]}, layer])
    assert main(["import", str(path), "-o", str(tmp_path / "g.json")]) == 2
    err = capsys.readouterr().err
    assert f"bad.net: {field}:" in err and words in err, err
    assert not (tmp_path / "g.json").exists() and not (tmp_path / "g.h5").exists()


def test_import_of_a_file_that_is_not_a_network(tmp_path, capsys) -> None:
    (tmp_path / "x.net").write_bytes(b"hello")
    assert main(["import", str(tmp_path / "x.net"), "-o", str(tmp_path / "g.json")]) == 2
    assert "x.net: neither a lava-dl netx file" in capsys.readouterr().err


def test_verify_backend_netx_runs_our_own_export_of_an_artifact(tmp_path, capsys, netx_lava) -> None:
    """An artifact with no netx file behind it (compiled for netx from a genome): verify exports it to a private
    temporary file and runs that in netx; a TTFS artifact is refused (netx cannot express it)."""
    net = compile_for_netx(load_inputs(_write(tmp_path, "cnn"), None, "loihi2", None))
    save_artifact(net, tmp_path / "cnn.tdart", summarize(net))
    np.savez(tmp_path / "x.npz", x=np.random.default_rng(5).uniform(0, 1, (2, 2, 6, 6)))
    assert main(["verify", str(tmp_path / "cnn.tdart"), "--backend", "netx", "--input", str(tmp_path / "x.npz"),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "running tnas-deploy's netx export of the artifact" in out and "bit-exact: 2/2 samples" in out
    assert not list(Path(tempfile.gettempdir()).glob("tnas-netx-*"))
    ttfs = tmp_path / "ttfs.tdart"
    assert main(["compile", str(ROOT / "models/digits_ttfs.json"), "-o", str(ttfs)]) == 0
    capsys.readouterr()
    assert main(["verify", str(ttfs), "--backend", "netx", "--input", str(ROOT / "models/digits_test.npz"),
                 "--samples", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{ttfs}: --backend: netx cannot express a TTFS network" in err and len(err.strip().splitlines()) == 1


def test_import_records_the_files_integers_or_says_why_not(tmp_path, capsys) -> None:
    """An imported file's genome carries chip_integers (version 3) and its provenance the file; iDecay 0 (a current
    that never decays) compiles to du = 0 exactly. A last layer without neuron but with a bias (netx adds it once,
    the genome's readout at every step) cannot be held exactly: no chip_integers, and a note says why."""
    dense = {"type": np.array([b"dense"]), "shape": [3],
             "weight": np.array([[1, -2, 3, 0], [2, 2, -1, 1], [0, 1, 1, 5]]),
             "neuron": {**CUBA, "iDecay": 0}}
    last = {"type": np.array([b"dense"]), "shape": [2], "weight": np.array([[1, -1, 2], [3, 0, -2]])}
    path = _netx_file(tmp_path / "ok.net", [{"type": np.array([b"input"]), "shape": [4]}, dense, last])
    assert main(["import", str(path), "-o", str(tmp_path / "ok" / "g.json")]) == 0
    genome = load_genome(tmp_path / "ok" / "g.json")
    assert genome.version == 3 and genome.chip_integers["state_scales"] == {"dense1": 64.0, "out": 64.0}
    assert genome.provenance["imported_path"] == str(path) and len(genome.provenance["imported_sha256"]) == 64
    net = compile_network(load_inputs(tmp_path / "ok" / "g.json", None, "loihi2", None))
    assert (net.by_id["dense1"].du, net.by_id["dense1"].dv, net.by_id["dense1"].threshold) == (0, 512, 100 << 6)
    capsys.readouterr()
    path = _netx_file(tmp_path / "biased.net", [{"type": np.array([b"input"]), "shape": [4]}, dense,
                                                 {**last, "bias": np.array([5.0, -3.0])}])
    assert main(["import", str(path), "-o", str(tmp_path / "b" / "g.json")]) == 0
    out = capsys.readouterr().out
    assert "note: not imported as chip integers (layer/2/bias: the bias netx adds once is spread over" in out
    genome = load_genome(tmp_path / "b" / "g.json")
    assert genome.chip_integers is None and genome.version == 2
