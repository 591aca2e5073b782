"""Axonal delays (genome version 3; docs/genome.md, section 12.1): the edge fields round-trip and are
checked with messages naming file, node and field; the reference simulator, its headroom pass and Lava agree bit
for bit on delayed networks; activity puts each event at the step it arrives; the profile's limit is enforced; and
lava-dl's ntidigits.net (axonal delays 0..62) imports, compiles and runs spike for spike as netx runs it and as
lava-dl's own recorded output says. About 15 s on 2 cores (half of it importing and running netx)."""
from __future__ import annotations

import copy
import json
import multiprocessing
from pathlib import Path

import h5py
import numpy as np
import pytest

from tnas_deploy.artifact import load_artifact, save_artifact
from tnas_deploy.cli import main
from tnas_deploy.compilation import CompileInputs
from tnas_deploy.lava_dl_files import lava_dl_folder
from tnas_deploy.compiled import CompiledNetwork
from tnas_deploy.compiler import compile_network
from tnas_deploy.dataset import Dataset
from tnas_deploy.errors import DeployError
from tnas_deploy.genome import genome_from_json, load_genome
from tnas_deploy.interop.netx_delay import netx_edge_delay
from tnas_deploy.profiles import load_profile
from tnas_deploy.runner import run_lava, simulate
from tnas_deploy.schemes import CompileOptions
from tnas_deploy.schemes.rate.activity import measure_activity
from tnas_deploy.schemes.rate.layers import CubaLayer
from tnas_deploy.schemes.rate.peaks import measure_peaks
from tnas_deploy.summary import summarize
from tnas_deploy.verify import compare, result_dict
from tnas_deploy.weights import expected_shapes, load_weights, save_weights

NTIDIGITS = lava_dl_folder("tests/lava/lib/dl/netx/gts/ntidigits", "the ntidigits network")[0]

#: Every form of delay: per source neuron (from the graded input), one number plus per target neuron, per source
#: neuron into an add, a recurrent edge with a delay, and per target neuron into the membrane readout's input.
NODES = [
    {"id": "x", "type": "input"},
    {"id": "h1", "type": "dense", "inputs": [{"node": "x", "delay": [0, 1, 2, 3, 4, 5]}], "units": 8,
     "neuron": {"model": "if", "threshold": 1.0}},
    {"id": "h2", "type": "dense", "inputs": [{"node": "h1", "delay": 2, "target_delay": [0, 3, 1, 5, 2, 0]}],
     "units": 6, "neuron": {"model": "lif", "tau": 2.0, "threshold": 0.5, "reset": "subtract"}},
    {"id": "a", "type": "add", "inputs": [{"node": "h2", "delay": [1, 0, 2, 0, 3, 0]},
                                          {"node": "h2", "recurrent": True, "delay": 2}],
     "neuron": {"model": "if", "threshold": 0.4}},
    {"id": "o", "type": "dense", "inputs": [{"node": "a", "target_delay": [0, 2, 4]}], "units": 3},
    {"id": "out", "type": "readout", "inputs": ["o"]},
]


def _genome_json(nodes: list[dict] = NODES, steps: int = 6, version: int = 3) -> dict:
    return {"format": "tnas-genome", "version": version, "name": "delays", "coding": {"scheme": "rate", "steps": steps},
            "task": {"input_shape": [6], "classes": ["a", "b", "c"]}, "nodes": copy.deepcopy(nodes)}


def _write(tmp_path: Path, obj: dict, name: str = "g.json", seed: int = 0) -> Path:
    """The genome and weights of equal magnitude per layer (no precision groups: one weight exponent each)."""
    path = tmp_path / name
    obj = dict(obj, weights="w.h5")
    path.write_text(json.dumps(obj))
    rng = np.random.default_rng(seed)
    weights = {}
    for node, tensors in expected_shapes(load_genome(path)).items():
        weights[node] = {k: (np.where(rng.random(s) < 0.5, -1.0, 1.0) * np.where(rng.random(s) < 0.5, 1.5, 0.75)
                             if k == "weight" else rng.normal(0.0, 0.1, s)) for k, s in tensors.items()}
    save_weights(weights, tmp_path / "w.h5")
    return path


def _compile(path: Path, x: np.ndarray, profile: str = "loihi2") -> CompiledNetwork:
    """Compile with `x` as calibration data (--saturate: the tests look at agreement, not at headroom)."""
    genome = load_genome(path)
    return compile_network(CompileInputs(genome, load_weights(genome), genome.weights_path(), load_profile(profile),
                                         Dataset(x, None, None, None)), CompileOptions(saturate=True))


X = np.random.default_rng(0).random((4, 6))


def _without_delays(nodes: list[dict]) -> list[dict]:
    """The same nodes with every edge's delay fields removed."""
    def edge(e):
        if isinstance(e, str):
            return e
        return {"node": e["node"], "recurrent": True} if e.get("recurrent") else e["node"]
    return [{**n, "inputs": [edge(e) for e in n["inputs"]]} if "inputs" in n else dict(n) for n in nodes]


# -- the genome -------------------------------------------------------------------------------------------------
def test_delays_round_trip_through_json() -> None:
    genome = genome_from_json(_genome_json(), "g.json")
    h2 = genome.by_id["h2"].inputs[0]
    assert (h2.delay, h2.target_delay) == (2, (0, 3, 1, 5, 2, 0))
    assert genome.by_id["h1"].inputs[0].delay == (0, 1, 2, 3, 4, 5)
    dumped = json.loads(genome.dumps())
    assert dumped["version"] == 3
    assert [n.get("inputs") for n in dumped["nodes"]] == [n.get("inputs") for n in NODES]
    assert genome_from_json(dumped, "g.json") == genome
    plain = genome_from_json(_genome_json(_without_delays(NODES)), "g.json")
    assert all(not e.delayed for n in plain.nodes for e in n.inputs)   # no delays: edges as in version 2


@pytest.mark.parametrize("change, field, message", [
    (lambda o: o.update(version=2), "nodes[1] (id 'h1').inputs[0].delay",
     'axonal delays need genome version 3 ("version": 3); a version 2 edge has only "node" and "recurrent"'),
    (lambda o: o["nodes"][2]["inputs"][0].update(delay=-1), "nodes[2] (id 'h2').inputs[0].delay",
     "a delay cannot be negative, got -1: it counts the steps a spike waits after the usual one-step hop"),
    (lambda o: o["nodes"][2]["inputs"][0].update(delay=2.5), "nodes[2] (id 'h2').inputs[0].delay",
     "expected a whole number of steps, got 2.5"),
    (lambda o: o["nodes"][2]["inputs"][0].update(delay=2.0), "nodes[2] (id 'h2').inputs[0].delay",
     "expected a whole number of steps written without a decimal point, got 2.0"),
    (lambda o: o["nodes"][2]["inputs"][0].update(delay="2"), "nodes[2] (id 'h2').inputs[0].delay",
     "expected a whole number of steps, got '2'"),
    (lambda o: o["nodes"][2]["inputs"][0].update(delay=70000), "nodes[2] (id 'h2').inputs[0].delay",
     "a delay of 70000 steps is more than 65536, the longest run of a rate genome"),
    (lambda o: o["nodes"][1]["inputs"][0].update(delay=[0, 1, -2, 3, 4, 5]), "nodes[1] (id 'h1').inputs[0].delay[2]",
     "a delay cannot be negative, got -2: it counts the steps a spike waits after the usual one-step hop"),
    (lambda o: o["nodes"][1]["inputs"][0].update(delay=[0, 1]), "nodes[1] (id 'h1').inputs[0].delay",
     "expected one delay per element of the output of 'x', 6 for shape [6] (flat, in channel-major order), got 2"),
    (lambda o: o["nodes"][2]["inputs"][0].update(target_delay=[1, 2]), "nodes[2] (id 'h2').inputs[0].target_delay",
     "expected one delay per element of this node's output, 6 for shape [6] (flat, in channel-major order), got 2"),
    (lambda o: o["nodes"][2]["inputs"][0].update(target_delay=3), "nodes[2] (id 'h2').inputs[0].target_delay",
     "expected a list of delays, one per element of this node's output, got 3"),
    (lambda o: o["nodes"][2]["inputs"][0].update(delay=[0] * 8), "nodes[2] (id 'h2').inputs[0].target_delay",
     "one delay per source neuron (delay) and per target neuron (target_delay) on one edge would give every synapse "
     "its own delay, which a genome edge does not hold; keep one of the two lists (a single number in delay may go "
     "with target_delay)"),
    (lambda o: o["nodes"][4]["inputs"][0].update(target_delay=[0] * 3) or o["nodes"][4].update(units=3) or
     o["nodes"].insert(5, {"id": "o2", "type": "dense", "inputs": ["o"], "units": 3}) or
     o["nodes"][6].update(inputs=["o2"]), "nodes[4] (id 'o').inputs[0].target_delay",
     "target_delay delays the input of this node's neurons, but dense 'o' carries no neuron (nor is it the membrane "
     "readout's input); give it a neuron, or delay each source neuron with a list in delay"),
    (lambda o: o["nodes"][5].update(inputs=[{"node": "o", "delay": 1}]), "nodes[5] (id 'out').inputs[0].delay",
     "the readout adds up its input over the whole run, so a delay on its edge changes nothing; put it on the edges "
     "into 'o'"),
])
def test_bad_delays_are_refused_naming_file_node_and_field(change, field, message) -> None:
    obj = _genome_json()
    change(obj)
    with pytest.raises(DeployError) as info:
        genome_from_json(obj, "g.json")
    assert str(info.value) == f"g.json: {field}: {message}"


def test_ttfs_genomes_refuse_delays() -> None:
    obj = {"format": "tnas-genome", "version": 3, "name": "t", "coding": {"scheme": "ttfs"},
           "time": {"steps_per_window": 8}, "task": {"input_shape": [4], "classes": ["a", "b"]},
           "nodes": [{"id": "x", "type": "input"},
                     {"id": "d", "type": "dense", "inputs": [{"node": "x", "delay": 1}], "units": 2},
                     {"id": "out", "type": "readout", "inputs": ["d"]}]}
    with pytest.raises(DeployError) as info:
        genome_from_json(obj, "t.json")
    assert str(info.value) == ("t.json: nodes[1] (id 'd').inputs[0].delay: axonal delays need rate coding (\"coding\": "
                               "{\"scheme\": \"rate\", \"steps\": T}); a TTFS layer's spike times code values within its "
                               "window, which a delay would change")


def test_a_delay_list_on_analog_values_is_refused_when_compiling(tmp_path, capsys) -> None:
    nodes = [{"id": "x", "type": "input"},
             {"id": "d", "type": "dense", "inputs": ["x"], "units": 4},
             {"id": "h", "type": "dense", "inputs": [{"node": "d", "delay": [0, 1, 2, 3]}], "units": 3,
              "neuron": {"model": "if"}},
             {"id": "out", "type": "readout", "inputs": ["h"], "mode": "spike_count"}]
    path = _write(tmp_path, _genome_json(nodes))
    assert main(["compile", str(path), "-o", str(tmp_path / "a.tdart")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"tnas-deploy: error: {path}: nodes[2] (id 'h').inputs[0].delay: one delay per source neuron needs spikes on "
        "this edge, but 'd' carries the analog output of a dense (from 'x'); give one delay for the whole edge, or "
        "delay the edges into that node")


def test_the_profiles_longest_delay_is_enforced(tmp_path, capsys) -> None:
    profile = tmp_path / "chip62.toml"
    text = (Path(__file__).resolve().parents[1] / "hw_profiles" / "loihi2.toml").read_text()
    start = text.index("[resources.max_synaptic_delay]")       # loihi2 records it; this test states its own
    text = text[:start] + text[text.index("[resources.chips]"):]
    without = tmp_path / "nodelay.toml"
    without.write_text(text.replace('name = "loihi2"', 'name = "nodelay"'))
    profile.write_text(text.replace('name = "loihi2"', 'name = "chip62"') + (
        '\n[resources.max_synaptic_delay]\nvalue = 62\nsource = "lava-dl 0.6.0 netx/hdf5.py:427-430"\n'))
    obj = _genome_json()
    obj["nodes"][2]["inputs"][0]["delay"] = 58                 # 58 + 5 (its largest target_delay) = 63 > 62
    path = _write(tmp_path, obj)
    assert main(["compile", str(path), "--profile", str(profile), "-o", str(tmp_path / "a.tdart")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"tnas-deploy: error: {path}: nodes[2] (id 'h2').inputs[0].delay: a delay of 63 steps, but a synapse of profile "
        "'chip62' holds a spike at most 62 steps beyond the hop (resources.max_synaptic_delay; lava-dl 0.6.0 "
        "netx/hdf5.py:427-430)")
    obj["nodes"][2]["inputs"][0]["delay"] = 57
    path = _write(tmp_path, obj)
    assert main(["compile", str(path), "--profile", str(profile), "-o", str(tmp_path / "a.tdart")]) == 0
    assert "not checked" not in capsys.readouterr().out
    # a profile without the number compiles the delays and says so
    assert main(["compile", str(path), "--profile", str(without), "-o", str(tmp_path / "b.tdart")]) == 0
    assert ("note: layer h2, delay: profile 'nodelay' does not record the chip's longest synaptic delay "
            "(resources.max_synaptic_delay): the axonal delays, up to 62 steps beyond the hop, are not checked against "
            "it") in capsys.readouterr().out


# -- running them -----------------------------------------------------------------------------------------------
def test_reference_headroom_pass_and_lava_agree_bit_for_bit_with_delays(tmp_path) -> None:
    net = _compile(_write(tmp_path, _genome_json()), X)
    projections = {(layer.id, p.source, p.delay): p for layer in net.layers for p in getattr(layer, "projections", [])}
    assert projections[("h1", "x", 1)].neuron_delays_at == "source"
    assert projections[("h2", "h1", 1)].extra_delay == 2 and projections[("h2", "h1", 1)].neuron_delays_at == "target"
    assert projections[("a", "h2", 2)].extra_delay == 2          # the recurrent edge: 2 steps, plus its delay
    # T + D: the slowest forward path x -(1+5)-> h1 -(1+2+5)-> h2 -(1+3)-> a -(1+4)-> readout = 6 + 23
    assert net.run_steps == 6 + 6 + 8 + 4 + 5
    ref = simulate(net, X)
    lava, _ = run_lava(net, X)
    comparison = compare(result_dict(ref), result_dict(lava), [layer.id for layer in net.layers])
    assert comparison.bit_exact, comparison.first
    for layer in net.layers:
        if isinstance(layer, CubaLayer):      # every population spikes in several samples: not a vacuous comparison
            assert (ref.spike_times[layer.id].reshape(len(X), -1).sum(axis=1) > 0).sum() >= 2, layer.id
    assert len(np.unique(ref.readout, axis=0)) > 1
    assert measure_peaks(net.layers, X, net.steps, net.fmt.state_bits) == ref.peaks
    assert not multiprocessing.active_children()
    # the artifact keeps the delays: the loaded network runs the same
    save_artifact(net, tmp_path / "a.tdart", summarize(net))
    loaded, _ = load_artifact(tmp_path / "a.tdart")
    again = simulate(loaded, X)
    assert compare(result_dict(ref), result_dict(again), [layer.id for layer in net.layers]).bit_exact
    assert [row["delays"] for row in summarize(net)["layers"] if row["kind"] == "cuba"] == [["1-6"], ["3-8"], [4, "1-4"]]


def test_without_delays_a_version_3_genome_compiles_to_the_version_2_network(tmp_path) -> None:
    plain = _without_delays(NODES)
    v2 = _compile(_write(tmp_path, _genome_json(plain, version=2), "v2.json"), X)
    v3 = _compile(_write(tmp_path, _genome_json(plain, version=3), "v3.json"), X)
    assert v2.run_steps == v3.run_steps
    assert compare(result_dict(simulate(v2, X)), result_dict(simulate(v3, X)), [la.id for la in v2.layers]).bit_exact


def test_activity_places_each_event_at_the_step_it_arrives(tmp_path) -> None:
    """One input step (T = 1): input neuron i's events reach h at step 1 + delay; per target neuron, each synapse's."""
    def events(edge: dict | str, units: int = 2) -> np.ndarray:
        nodes = [{"id": "x", "type": "input"},
                 {"id": "h", "type": "dense", "inputs": [edge], "units": units, "neuron": {"model": "if"}},
                 {"id": "out", "type": "readout", "inputs": ["h"], "mode": "spike_count"}]
        obj = _genome_json(nodes, steps=1)
        obj["task"] = {"input_shape": [3], "classes": ["a", "b"]}
        net = _compile(_write(tmp_path, obj), np.ones((1, 3)))
        result = simulate(net, np.ones((1, 3)))                  # every input neuron sends at step 0 only
        activity = measure_activity(net, result)["h"]
        assert activity.synaptic_events == result.counts["h"]["synaptic_events"][0] == 6
        return activity.events_per_step

    np.testing.assert_array_equal(events("x"), [0, 6])
    np.testing.assert_array_equal(events({"node": "x", "delay": 3}), [0, 0, 0, 0, 6])
    np.testing.assert_array_equal(events({"node": "x", "delay": [0, 2, 5]}), [0, 2, 0, 2, 0, 0, 2])
    np.testing.assert_array_equal(events({"node": "x", "target_delay": [0, 4]}), [0, 3, 0, 0, 0, 3])


def test_exports_and_the_float_model_refuse_delays(tmp_path, capsys) -> None:
    path = _write(tmp_path, _genome_json())
    assert main(["export", str(path), "--format", "nir", "-o", str(tmp_path / "g.nir")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"tnas-deploy: error: {path}: nodes[1] (id 'h1').inputs[0]: NIR cannot express this: an axonal delay (genome "
        "version 3): the NIR export does not write delays")
    from tnas_deploy.schemes.rate.torch_model import build_rate_snn
    with pytest.raises(DeployError, match=r"nodes\[1\] \(id 'h1'\)\.inputs\[0\]: the float SNN \(torch\) has no axonal"):
        build_rate_snn(load_genome(path))


# -- lava-dl's netx files -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stored, kind, expected", [
    (np.float32(3), "dense", {"delay": 3}),
    (np.arange(4, dtype=np.float32), "dense", {"target_delay": [0, 1, 2, 3]}),        # one per neuron (4 of them)
    (np.arange(5, dtype=np.float32), "dense", {"delay": [0, 1, 2, 3, 4]}),            # one per input (5)
    (np.tile(np.arange(5), (4, 1)), "dense", {"delay": [0, 1, 2, 3, 4]}),              # a matrix equal down columns
    (np.tile(np.arange(4)[:, None], (1, 5)), "dense", {"target_delay": [0, 1, 2, 3]}),
    (np.zeros(4), "dense", {}),
    (np.array([0.0, 70.0, 1.5, 2.0]), "dense", {"target_delay": [0, 62, 1, 2]}),      # netx: clip to 62, astype(int)
    (np.arange(4, dtype=np.float32), "conv", {}),                                       # netx ignores conv delays
])
def test_netx_delays_become_the_edge_fields_netx_runs(tmp_path, stored, kind, expected) -> None:
    with h5py.File(tmp_path / "l.h5", "w") as f:
        f["delay"] = stored
        notes: list[str] = []
        assert netx_edge_delay(f, kind, np.zeros((4, 5)), 4, tmp_path / "m.net", "layer/2", notes) == expected
    if kind == "conv":
        assert notes == ["layer/2/delay: netx 0.6.0 ignores the delays of conv layers (hdf5.py create_conv); imported "
                         "without them, as netx runs the file"]
    if np.max(stored) > 62:
        assert notes == ["layer/2/delay: delays up to 70 steps; netx clamps them to 0..62, and so does the import",
                         "layer/2/delay: delays that are not whole steps are cut to whole steps (astype(int)), as netx "
                         "does",
                         "layer/2/delay: one delay per neuron of the layer, imported as netx 0.6.0 runs it: on the "
                         "synapses into each neuron (SLAYER, which writes this dataset, delays each neuron's output "
                         "spikes instead)"]


@pytest.mark.parametrize("stored, message", [
    (np.array([0.0, -1.0, 2.0, 3.0]), "a negative delay (-1): Lava's DelayDense refuses it, and a spike cannot arrive "
                                      "before the usual one-step hop"),
    (np.arange(20).reshape(4, 5), "a delay per synapse that is neither one per neuron nor one per input: a genome edge "
                                  "holds one delay per source or per target neuron"),
    (np.arange(3), "delays of shape [3] fit neither the layer's 4 neurons nor its 5 inputs (netx raises RuntimeError for "
                   "it)"),
])
def test_netx_delays_a_genome_cannot_hold_are_refused(tmp_path, stored, message) -> None:
    with h5py.File(tmp_path / "l.h5", "w") as f:
        f["delay"] = stored
        with pytest.raises(DeployError) as info:
            netx_edge_delay(f, "dense", np.zeros((4, 5)), 4, tmp_path / "m.net", "layer/2", [])
    assert str(info.value) == f"{tmp_path / 'm.net'}: layer/2/delay: {message}"


@pytest.fixture(scope="module")
def ntidigits(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """lava-dl's ntidigits.net imported and compiled for 120 input steps; lava-dl's input spikes (64, 3000)."""
    folder = tmp_path_factory.mktemp("ntidigits")
    assert main(["import", str(NTIDIGITS / "ntidigits.net"), "-o", str(folder / "nt.json")]) == 0
    assert main(["compile", str(folder / "nt.json"), "--steps", "120", "-o", str(folder / "nt.tdart")]) == 0
    return folder, np.load(NTIDIGITS / "input.npy")                           # (64 channels, steps), 0/1


def test_ntidigits_imports_with_its_delays(ntidigits) -> None:
    folder, _ = ntidigits
    genome = load_genome(folder / "nt.json")
    assert genome.version == 3
    with h5py.File(NTIDIGITS / "ntidigits.net", "r") as f:
        stored = {i: f[f"layer/{i}/delay"][()].astype(np.int64) for i in (2, 3)}
    delays = {n.id: n.inputs[0].target_delay for n in genome.nodes if n.inputs and n.inputs[0].target_delay}
    assert sorted(delays) == ["dense2", "dense3"]          # per neuron of the layer, as netx applies them
    assert delays["dense2"] == tuple(stored[2]) and delays["dense3"] == tuple(stored[3])
    assert max(delays["dense2"]) == 62 and genome.readout.mode == "membrane" and len(genome.task.classes) == 11


def test_ntidigits_runs_as_lava_dls_recorded_output_and_as_our_lava(ntidigits) -> None:
    """The reference's last population equals lava-dl's recorded netx output (gts/ntidigits/output.npy, which is one
    Lava step later: netx's input block receives step t at Lava step t + 1), spike for spike; Lava agrees with it."""
    folder, spikes = ntidigits
    net, _ = load_artifact(folder / "nt.tdart")
    x = (spikes[:, :120].T / 255.0).reshape(1, 120, 1, 1, 64)     # payload round(255 x) = 1 per input spike
    ref = simulate(net, x)
    recorded = np.load(NTIDIGITS / "output.npy")[:, 1:121].T > 0      # (steps, 242)
    ours = ref.spike_times["dense4"][0, :120]
    assert ours.sum() > 500 and np.array_equal(ours, recorded)
    lava, _ = run_lava(net, x)
    comparison = compare(result_dict(ref), result_dict(lava), [layer.id for layer in net.layers])
    assert comparison.bit_exact, comparison.first


def test_ntidigits_runs_spike_for_spike_as_netx_runs_it(ntidigits) -> None:
    """lava-dl's netx.hdf5.Network on the file itself (without its last 'average' layer, which netx cannot build, as
    lava-dl's own test does), on Loihi2SimCfg(select_tag="fixed_pt"): every block's spikes equal the reference's."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io
    from tnas_deploy.schemes.rate.netx_run import import_netx_package

    folder, spikes = ntidigits
    steps, busy = 60, spikes[:, 150:270]                   # a stretch where the input is busy
    netx = import_netx_package()
    network = netx.hdf5.Network(net_config=str(NTIDIGITS / "ntidigits.net"), num_layers=5)
    source = io.source.RingBuffer(data=busy[:, :steps].astype(float))
    source.s_out.connect(network.inp)
    sinks = []
    for block in network.layers:
        sinks.append(io.sink.RingBuffer(shape=block.out.shape, buffer=steps))
        block.out.connect(sinks[-1].a_in)
    try:
        network.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        blocks = [sink.data.get().T > 0 for sink in sinks]                      # (steps, neurons): row t, Lava t + 1
    finally:
        network.stop()
    net, _ = load_artifact(folder / "nt.tdart")
    ref = simulate(net, (busy.T / 255.0).reshape(1, 120, 1, 1, 64))
    for name, block in zip(["dense2", "dense3", "dense4"], blocks):
        ours = ref.spike_times[name][0, :steps]
        assert ours.sum() > 100 and np.array_equal(ours, block), name


def test_long_per_neuron_delays_on_a_recurrent_edge_run_bit_exact_and_too_long_ones_are_refused(tmp_path) -> None:
    """Beyond DelayDense's 63 steps the hop's own steps go to a delay line in front of it; a per-neuron delay beyond
    63 itself cannot run on Lava (the reference runs it), and the lava backend says so."""
    from tnas_deploy.schemes.rate.lava.runner import rate_synapses

    def nodes(longest: int) -> list[dict]:
        return [{"id": "x", "type": "input"},
                {"id": "h", "type": "dense", "units": 3, "neuron": {"model": "if", "threshold": 0.5},
                 "inputs": ["x", {"node": "h", "recurrent": True, "delay": [longest, 0, 3]}]},
                {"id": "out", "type": "readout", "inputs": ["h"], "mode": "spike_count"}]

    x = np.random.default_rng(3).random((3, 6))
    # Loihi 2 itself refuses delays past 62 (resources.max_synaptic_delay); this test is about what Lava's
    # DelayDense holds, so it uses a copy of the profile that does not record the limit
    text = (Path(__file__).resolve().parents[1] / "hw_profiles" / "loihi2.toml").read_text()
    text = text[:text.index("[resources.max_synaptic_delay]")] + text[text.index("[resources.chips]"):]
    unlimited = tmp_path / "unlimited.toml"
    unlimited.write_text(text.replace('name = "loihi2"', 'name = "unlimited"'))
    net = _compile(_write(tmp_path, _genome_json(nodes(63), steps=70)), x, str(unlimited))
    recurrent = next(p for p in net.by_id["h"].projections if p.delay == 2)
    assert recurrent.longest_delay == 65                       # 2 (recurrent) + 63: 64 steps beyond the hop
    ref = simulate(net, x)
    assert ref.spike_times["h"].sum() > 0
    lava, _ = run_lava(net, x)
    assert compare(result_dict(ref), result_dict(lava), [layer.id for layer in net.layers]).bit_exact
    net = _compile(_write(tmp_path, _genome_json(nodes(64), steps=70), "g64.json"), x, str(unlimited))
    with pytest.raises(DeployError, match="layer h: the synapses from h wait up to 64 steps per neuron, and Lava's "
                                          r"DelayDense holds at most 63 \(6 bits\); the lava backend cannot run it"):
        rate_synapses(net, net.by_id["h"])


def test_delayed_networks_are_written_as_artifact_format_3(tmp_path) -> None:
    """A version-2 reader would run the delays without them, so a delayed network needs format version 3."""
    from tnas_deploy.artifact import format_version

    assert format_version(_compile(_write(tmp_path, _genome_json()), X)) == 3
    assert format_version(_compile(_write(tmp_path, _genome_json(_without_delays(_genome_json()["nodes"])),
                                          "plain.json"), X)) == 2
