"""The fast cost path gives the reference simulator's integers: the same compiled network, spike steps, readout,
per-layer counts and energy (bundled TTFS models and random genomes), and it runs on untrained genomes."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tnas_deploy.api_inputs import RANDOM_WEIGHTS
from tnas_deploy.compilation import CompileInputs
from tnas_deploy.compiler import compile_files, compile_network
from tnas_deploy.data import load_dataset
from tnas_deploy.dataset import Dataset
from tnas_deploy.energy.activity import population_layers
from tnas_deploy.energy.bench import profile_block
from tnas_deploy.energy.calibration import load_calibration, parse_calibration
from tnas_deploy.energy.mapping import forget_placements, place, place_populations
from tnas_deploy.errors import DeployError
from tnas_deploy.fast_cost import METHOD_REFERENCE, estimate_cost
from tnas_deploy.genome import load_genome
from tnas_deploy.profiles import load_profile, parse_profile
from tnas_deploy.random_genome import random_genome, random_inputs, random_weights
from tnas_deploy.schemes import CompileOptions, scheme_for
from tnas_deploy.schemes.ttfs import activity as ttfs_activity
from tnas_deploy.schemes.ttfs.activity import spike_table, spike_times_behind
from tnas_deploy.schemes.ttfs.bounds import provably_safe, total_steps
from tnas_deploy.schemes.ttfs.fast import METHOD_FAST, compile_and_run, integer_forward
from tnas_deploy.weights import load_weights

MODELS = Path(__file__).resolve().parents[1] / "models"


def _same_layers(a, b) -> None:
    assert [la.id for la in a.layers] == [lb.id for lb in b.layers]
    for la, lb in zip(a.layers, b.layers):
        for name, arr in getattr(la, "arrays", dict)().items():
            assert np.array_equal(arr, lb.arrays()[name]), (la.id, name)
        assert la.to_json() == lb.to_json(), la.id


def _same_result(ref, got) -> None:
    assert set(ref.spike_times) == set(got.spike_times)
    for k in ref.spike_times:
        assert np.array_equal(ref.spike_times[k], got.spike_times[k]), k
    assert np.array_equal(ref.readout, got.readout)
    assert np.array_equal(ref.predictions, got.predictions)
    for layer, counts in ref.counts.items():
        for name, values in counts.items():
            assert np.array_equal(values, got.counts[layer][name]), (layer, name)


@pytest.mark.parametrize("genome, data", [("digits_ttfs.json", "digits_test.npz"),
                                          ("tnas_er_eye.json", "eye_events_synthetic.npz")])
def test_bundled_models_equal_the_reference(genome: str, data: str) -> None:
    ref_net, _ = compile_files(MODELS / genome, calibration_path=MODELS / data)
    x = load_dataset(MODELS / data, ref_net.input_shape).x[:32]
    g = load_genome(MODELS / genome)
    inputs = CompileInputs(g, load_weights(g), None, load_profile("loihi2"),
                           load_dataset(MODELS / data, ref_net.input_shape))
    net, got, method = compile_and_run(inputs, CompileOptions(), x)
    assert method == METHOD_FAST
    _same_layers(ref_net, net)
    ref = scheme_for(ref_net).simulate(ref_net, x)
    _same_result(ref, got)
    scheme = scheme_for(net)
    a, b = scheme.measure_activity(ref_net, ref), scheme.measure_activity(net, got)
    assert profile_block(ref_net, a, "loihi2")["energy"] == profile_block(net, b, "loihi2")["energy"]


@pytest.mark.parametrize("calibrated, steps", [(False, None), (True, 64)])
def test_layers_not_proved_safe_are_checked_step_by_step(calibrated: bool, steps: int | None) -> None:
    """Without calibration (windows from the interval bound) or with long windows, some eye-model layers are not
    proved safe: the fast path checks their per-step states (in the headroom rounds too) and stays exact."""
    g = load_genome(MODELS / "tnas_er_eye.json")
    data = load_dataset(MODELS / "eye_events_synthetic.npz", g.task.input_shape)
    inputs = CompileInputs(g, load_weights(g), None, load_profile("loihi2"), data.head(4) if calibrated else None)
    options = CompileOptions(steps=steps)
    ref_net = compile_network(inputs, options)
    assert not all(provably_safe(ref_net, layer) for layer in ref_net.layers)
    x = data.x[:6]
    net, got, method = compile_and_run(inputs, options, x)
    assert method == METHOD_FAST
    _same_layers(ref_net, net)
    _same_result(scheme_for(ref_net).simulate(ref_net, x), got)


@pytest.mark.parametrize("seed", range(12))
def test_random_genomes_equal_the_reference(seed: int) -> None:
    genome, weights = random_genome(seed)
    x = random_inputs(genome, 24, seed)
    inputs = CompileInputs(genome, weights, None, load_profile("loihi2"), Dataset(x, None, None, None))
    try:
        ref_net = compile_network(inputs)
    except DeployError as exc:            # the fast path refuses what compile refuses, with the same message
        with pytest.raises(DeployError) as info:
            compile_and_run(inputs, CompileOptions(), x)
        assert str(info.value) == str(exc)
        return
    net, got, method = compile_and_run(inputs, CompileOptions(), x)
    assert method == METHOD_FAST
    _same_layers(ref_net, net)
    _same_result(scheme_for(ref_net).simulate(ref_net, x), got)


def test_a_saturating_state_falls_back_to_the_reference() -> None:
    """With --saturate and data far beyond the calibration, states clip: the reference simulator runs."""
    net, _ = compile_files(MODELS / "tnas_er_eye.json", calibration_path=MODELS / "eye_events_synthetic.npz")
    readout = net.layers[-1]
    readout.bias = readout.bias + net.fmt.state_max          # the readout now saturates on every sample
    x = load_dataset(MODELS / "eye_events_synthetic.npz", net.input_shape).x[:4]
    assert integer_forward(net, x) is None


def test_estimate_cost_equals_bench_numbers() -> None:
    est = estimate_cost(MODELS / "digits_ttfs.json", data=MODELS / "digits_test.npz", profiles=["loihi2", "loihi1"],
                        samples=40)
    net, _ = compile_files(MODELS / "digits_ttfs.json", calibration_path=MODELS / "digits_test.npz")
    data = scheme_for(net).load_data(MODELS / "digits_test.npz", net).head(40)
    ref = scheme_for(net).simulate(net, data.x)
    act = scheme_for(net).measure_activity(net, ref)
    assert est.method == METHOD_FAST and est.samples == 40
    assert est.war == pytest.approx(float((ref.predictions == data.y).mean()), abs=0)
    for k, a in act.items():
        assert (est.layers[k].spikes, est.layers[k].synaptic_events) == (a.spikes, a.synaptic_events)
    block = profile_block(net, act, "loihi2")
    assert est.profiles["loihi2"].energy_uj == block["energy"]["total_pj"] * 1e-6
    assert est.profiles["loihi2"].fits is True


def test_untrained_genome_gets_random_weights() -> None:
    est = estimate_cost(MODELS / "tnas_er_eye.json", RANDOM_WEIGHTS, data=MODELS / "eye_events_synthetic.npz",
                        profiles=["loihi2"], samples=4, seed=3)
    again = estimate_cost(MODELS / "tnas_er_eye.json", RANDOM_WEIGHTS, data=MODELS / "eye_events_synthetic.npz",
                          profiles=["loihi2"], samples=4, seed=3)
    assert est.weights.startswith("random") and est.to_dict() == again.to_dict()
    assert est.spikes > 0 and est.profiles["loihi2"].energy_uj is not None


def test_rate_networks_use_the_reference_simulator() -> None:
    est = estimate_cost(MODELS / "csnn_digits.json", data=MODELS / "digits_test.npz", profiles=["loihi2"], samples=8)
    assert est.method == METHOD_REFERENCE and est.war is not None


def test_missing_data_is_a_deploy_error() -> None:
    with pytest.raises(DeployError, match="expected data"):
        estimate_cost(MODELS / "digits_ttfs.json")


# ---- what the fast path remembers and counts ------------------------------------------------------------------

def _activity_spike_by_spike(net, result) -> dict:
    """Per-layer activity counted spike by spike (np.add.at), without tables: the oracle of `measure_activity`."""
    K, total = net.steps, total_steps(net)
    n = max(result.samples, 1)
    out = {}
    for layer in population_layers(net):
        events, effective = np.zeros(total), 0.0
        for proj in layer.incoming():
            src = net.by_id[proj.source]
            fan = proj.fan_out(src.shape, layer.shape).reshape(-1).astype(np.float64)
            nonzero = proj.nonzero_fan_out(src.shape, layer.shape).reshape(-1).astype(np.float64)
            times = spike_times_behind(net, result, proj.source).reshape(result.samples, -1)
            per_step = np.zeros(total + (proj.delay_windows + 1) * K * 4)
            sample, neuron = np.nonzero(times >= 0)
            np.add.at(per_step, times[sample, neuron] + proj.delay_windows * K, fan[neuron])
            events += per_step[:total] / n
            effective += float(nonzero[neuron].sum()) / n
        spikes = np.zeros(total)
        if layer.id in result.spike_times:
            times = result.spike_times[layer.id].reshape(result.samples, -1)
            spikes = np.bincount(times[times >= 0], minlength=total)[:total] / n
        out[layer.id] = (float(spikes.sum()), float(events.sum()), effective, spikes, events)
    return out


@pytest.mark.parametrize("seed, dense", [(seed, True) for seed in range(8)] + [(7, False), (3, False)])
def test_activity_equals_counting_spike_by_spike(seed: int, dense: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table-based counts (spikes per step, synaptic events per step, effective events) are the spike-by-spike
    ones exactly, delays and concatenated sources included, with dense tables and with spike lists."""
    if not dense:
        monkeypatch.setattr(ttfs_activity, "DENSE_CELLS_PER_TIME", 0)
    genome, weights = random_genome(seed)
    x = random_inputs(genome, 16, seed)
    try:
        net = compile_network(CompileInputs(genome, weights, None, load_profile("loihi2"), None))
    except DeployError:
        return
    result = scheme_for(net).simulate(net, x)
    got = scheme_for(net).measure_activity(net, result)
    for layer_id, (spikes, events, effective, per_step, events_per_step) in _activity_spike_by_spike(net,
                                                                                                   result).items():
        a = got[layer_id]
        assert (a.spikes, a.synaptic_events, a.effective_synaptic_events) == (spikes, events, effective), layer_id
        assert np.array_equal(a.spikes_per_step, per_step) and np.array_equal(a.events_per_step, events_per_step)


def test_spike_table_of_a_silent_population() -> None:
    table = spike_table(np.full((3, 2, 2), -1, dtype=np.int64))
    assert table.counts.shape == (4, 0) and table.fired().tolist() == [0, 0, 0, 0]
    table = spike_table(np.array([[5, -1, 7], [5, 6, -1]]))
    assert table.first == 5 and table.counts.tolist() == [[2, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert table.per_step(np.array([1, 10, 100])).tolist() == [2, 10, 100]
    wide = spike_table(np.array([[0, -1, 900]]))         # 3 neurons x 901 steps for 2 spikes: a spike list
    assert wide.counts is None and (wide.first, wide.width) == (0, 901)
    assert wide.fired().tolist() == [1, 0, 1] and wide.per_step(np.array([3, 5, 7]))[[0, 900]].tolist() == [3, 7]


def _copy_profile(tmp_path: Path) -> Path:
    path = tmp_path / "chip.toml"
    path.write_text(load_profile("loihi2").path.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def test_cached_profile_sees_a_changed_file(tmp_path: Path) -> None:
    """An edit of the same size and the same timestamps is still seen (the cache is keyed by content)."""
    path = _copy_profile(tmp_path)
    first = load_profile(str(path))
    stat = path.stat()
    text = path.read_text(encoding="utf-8")
    assert 'name = "loihi2"' in text
    path.write_text(text.replace('name = "loihi2"', 'name = "loihiX"', 1), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    second = load_profile(str(path))
    assert (first.name, second.name) == ("loihi2", "loihiX") and first.sha256 != second.sha256
    path.write_text(text.replace('name = "loihi2"', "name = 2", 1), encoding="utf-8")
    for _ in range(2):           # a broken file is never remembered: the same message every time
        with pytest.raises(DeployError, match="expected a \\[profile\\] table with a string `name`"):
            load_profile(str(path))


def test_cached_profile_cannot_be_changed_by_a_caller(tmp_path: Path) -> None:
    path = _copy_profile(tmp_path)
    first = load_profile(str(path))
    assert first == parse_profile(path)
    first.raw["profile"]["name"] = "changed"
    first.raw["energy"].clear()
    first.quantities.clear()
    second = load_profile(str(path))
    assert second == parse_profile(path) and second.raw["profile"]["name"] == "loihi2" and second.quantities


def test_cached_calibration_sees_changes_and_cannot_be_changed(tmp_path: Path) -> None:
    source = load_profile("loihi2").calibration
    path = tmp_path / "table.toml"
    text = source.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    first = load_calibration(path)
    assert first == parse_calibration(path)
    point = first.quantities[0].points[0]
    point.activity.clear()
    first.chip = "changed"
    again = load_calibration(path)
    assert again == parse_calibration(path) and again.quantities[0].points[0].activity
    summary = again.summary
    path.write_text(text.replace(f'summary = "{summary}"', 'summary = "edited"', 1), encoding="utf-8")
    assert load_calibration(path).summary == "edited"


def test_remembered_placements_equal_fresh_ones_and_stay_unchanged() -> None:
    g = load_genome(MODELS / "digits_ttfs.json")
    net = compile_network(CompileInputs(g, load_weights(g), None, load_profile("loihi2"), None))
    other = compile_network(CompileInputs(g, random_weights(g, 1), None, load_profile("loihi2"), None))
    ids = [layer.id for layer in population_layers(net)]
    activity = dict.fromkeys(ids)
    for profile in ("loihi2", "xylo", "speck"):
        prof = load_profile(profile)
        forget_placements()
        first = place(net, activity, prof)
        first.packets.clear()
        first.layers.clear()
        for candidate in (net, other, net):     # other weights: other precision groups, other packets
            assert place(candidate, activity, prof).to_json() == place_populations(candidate, ids, prof).to_json()
