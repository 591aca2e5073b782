"""Energy, latency and mapping arithmetic on small hand-computed networks; profile validation; fit checks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tnas_deploy.compilation import CompileInputs
from tnas_deploy.compiler import compile_network
from tnas_deploy.dataset import Dataset
from tnas_deploy.energy.activity import neurobench_metrics
from tnas_deploy.schemes import scheme_for
from tnas_deploy.energy.baseline import ann_operations, estimate_baseline
from tnas_deploy.energy.mapping import place
from tnas_deploy.energy.model import estimate
from tnas_deploy.errors import DeployError
from tnas_deploy.profiles import load_profile
from tnas_deploy.runner import simulate

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
#: made-up, hand-computable numbers (shaped like Loihi 1's); shared with tests/test_report.py
CHIP = (PROFILE_DIR / "testchip.toml").read_text()
CPU = (PROFILE_DIR / "testcpu.toml").read_text()


def _profile(tmp_path: Path, text: str, name: str = "p.toml"):
    path = tmp_path / name
    path.write_text(text)
    return load_profile(str(path))


@pytest.fixture()
def tiny(mlp_genome):
    """x (2 inputs) -> h (1 TTFS neuron, weights 0.5) -> o (2 outputs) -> readout; K = 8, input [1, 0]."""
    genome = mlp_genome(2, 1, "tiny")
    weights = {"h": {"weight": np.array([[0.5, 0.5]]), "bias": np.zeros(1)},
               "o": {"weight": np.array([[1.0], [-1.0]]), "bias": np.zeros(2)}}
    x = np.array([[1.0, 0.0]])
    net = compile_network(CompileInputs(genome, weights, Path(__file__), load_profile("loihi2"),
                                        Dataset(x, None, None, None)))
    result = simulate(net, x)
    return genome, net, result


def test_activity_counts_by_hand(tiny) -> None:
    _, net, result = tiny
    act = scheme_for(net).measure_activity(net, result)
    assert scheme_for(net).total_steps(net) == 16                       # input window 0, h fires in window 1, readout reads then
    h, out = act["h"], act["out"]
    assert h.spikes == 1 and h.synaptic_events == 1     # one input spike, fan-out 1
    assert h.active_updates == 16 and h.idle_updates == 0   # integrate (steps 0-7) + fire (8-15)
    assert out.synaptic_events == 2                     # h's spike reaches both outputs
    assert out.active_updates == 16 and out.idle_updates == 16   # 2 neurons x 8 steps active, 8 idle
    m = neurobench_metrics(net, result, act, scheme_for(net).total_steps(net))
    assert m["effective_synaptic_ops"] == 3 and m["activation_sparsity"] == 0.0


def test_energy_and_latency_by_hand(tiny, tmp_path) -> None:
    _, net, result = tiny
    chip = _profile(tmp_path, CHIP)
    act = scheme_for(net).measure_activity(net, result)
    placement = place(net, act, chip)
    assert placement.fits and placement.cores_used == 2 and placement.mean_hops("h", "out") == 1.0
    est = estimate(act, placement, chip)
    assert est.layers["h"]["synaptic"] == pytest.approx(1 * 23.6)
    assert est.layers["out"]["synaptic"] == pytest.approx(2 * 23.6)
    assert est.layers["h"]["neuron_active"] == pytest.approx(16 * 81)
    assert est.layers["out"]["neuron_idle"] == pytest.approx(16 * 52)
    assert est.layers["h"]["routing"] == pytest.approx(1 * 1 * (1.7 + 1 * 3.5))   # 1 spike, 1 packet, 1 hop
    assert est.layers["h"]["spike_out"] == pytest.approx(1 * 10)
    assert act["out"].spikes == 0 and est.layers["out"]["spike_out"] == 0       # the readout does not spike
    dynamic = 23.6 + 2 * 23.6 + 16 * 81 + 16 * 81 + 0 * 52 + 16 * 52 + 5.2 + 10
    assert est.dynamic_pj == pytest.approx(dynamic)
    # busiest core per step: step 0: h, one event + update (3.5 + 8.4 = 11.9) beats the readout core's two
    # idle updates (2 x 5.3 = 10.6), which are the busiest in steps 1-7 (h: 8.4); steps 8-15: the readout
    # core updates 2 neurons (16.8), plus 2 events (7.0) in the step h spikes (h then: 8.4 + 2 + 5.3 = 15.7);
    # every step adds the 300 ns barrier
    latency = (3.5 + 8.4) + 7 * (2 * 5.3) + 8 * 16.8 + 7.0 + 16 * 300
    assert est.latency_ns == pytest.approx(latency)
    assert est.static_pj == pytest.approx(20e-3 * latency * 1e-9 * 1e12)
    assert est.total_pj == pytest.approx(dynamic + est.static_pj)
    assert est.missing == []


def test_unknown_numbers_stay_unknown(tiny, tmp_path) -> None:
    _, net, result = tiny
    text = CHIP.replace('static_power_mw = { value = 20, estimate = "test" }\n', "").replace(
        'barrier_ns = { value = 300, estimate = "test" }\n', "")
    chip = _profile(tmp_path, text)
    act = scheme_for(net).measure_activity(net, result)
    est = estimate(act, place(net, act, chip), chip)
    assert est.dynamic_pj is not None
    assert est.latency_ns is None and est.static_pj is None and est.total_pj is None
    assert est.missing == ["energy.static_power_mw", "time.barrier_ns"]


def test_ann_baseline_by_hand(tiny, tmp_path) -> None:
    genome, net, _ = tiny
    ops = ann_operations(genome)
    assert ops["macs"] == 2 + 2 and ops["weight_bytes"] == (2 + 1) + (2 + 2) and ops["activation_bytes"] == 2 + 1 + 2
    base = estimate_baseline(net.genome, _profile(tmp_path, CPU))
    dynamic = 4 * 0.23 + (7 + 2 * 5) * 1.25
    assert base["dynamic_pj"] == pytest.approx(dynamic)
    assert base["latency_ns"] == pytest.approx(1.0)
    assert base["total_pj"] == pytest.approx(dynamic + 100e-3 * 1e-9 * 1e12)
    assert base["total_with_dram_weights_pj"] == pytest.approx(base["total_pj"] + 7 * 240)


def test_does_not_fit_names_the_limit_and_the_excess(tiny, tmp_path) -> None:
    _, net, result = tiny
    act = scheme_for(net).measure_activity(net, result)
    small = CHIP.replace("cores = { value = 128", "cores = { value = 1").replace(
        "max_fan_out = { value = 4096", "max_fan_out = { value = 1")
    placement = place(net, act, _profile(tmp_path, small))
    assert not placement.fits
    assert "needs 2 cores, the profile has 1" in placement.problem and "1 too many" in placement.problem
    assert placement.layers["h"].copies == 2 and "fan-out" not in placement.problem   # copied, not refused


def test_memory_limited_layer_takes_more_cores(tiny, tmp_path) -> None:
    _, net, result = tiny
    act = scheme_for(net).measure_activity(net, result)
    # the readout has 2 synapses of 8 bits = 16 bits; with 8 bits per core it needs 2 cores
    placement = place(net, act, _profile(tmp_path, CHIP.replace("value = 1048576", "value = 8")))
    assert placement.layers["out"].cores == 2 and placement.layers["out"].limited_by == "synapse_memory_bits_per_core"


@pytest.mark.parametrize("text, field, words", [
    ("[profile]\nname = 'x'\n[resources]\ncores = 5\n", "resources.cores", "source"),
    ("[profile]\nname = 'x'\n[resources]\ncores = { value = 5 }\n", "resources.cores", "estimate"),
    ("[profile]\nname = 'x'\n[resources]\ncores = { value = -1, source = 's' }\n", "resources.cores.value", ">= 0"),
    ("[profile]\nname = 'x'\n[resources]\ncorez = { value = 1, source = 's' }\n", "resources.corez", "unknown key"),
    ("[profile]\nname = 'x'\n[power]\na = 1\n", "power", "unknown table"),
    ("[profile]\nname = 'x'\nkind = 'gpu'\n", "profile.kind", "neuromorphic"),
    ("[profile]\nname = 'x'\n[energy\n", None, "malformed TOML"),
])
def test_bad_profiles_name_file_and_key(tmp_path, text, field, words) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(DeployError) as info:
        load_profile(str(path))
    message = str(info.value)
    assert str(path) in message and words in message
    if field:
        assert field in message


def test_profile_without_format_cannot_be_compiled_for(tmp_path) -> None:
    chip = _profile(tmp_path, CHIP)
    assert chip.format is None
    with pytest.raises(DeployError, match="no \\[format\\] table"):
        chip.require_format()


def test_nonzero_fan_out_matches_the_explicit_synapse_matrix():
    """Effective synaptic events count only non-zero weights; computed without building big matrices."""
    from scipy import sparse

    from tnas_deploy.projection import Projection
    rng = np.random.default_rng(0)
    cases = [
        ("conv2d", rng.integers(-2, 3, (5, 3, 3, 3)), (3, 7, 6), (5, 4, 3),
         dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1))),
        ("conv2d", rng.integers(-1, 2, (4, 2, 3, 3)), (2, 5, 5), (4, 5, 5),
         dict(kernel=(3, 3), stride=(1, 1), padding=(1, 1))),
        ("dense", rng.integers(-1, 2, (4, 12)), (3, 2, 2), (4,), {}),
        ("avgpool2d", np.array([1, 0, 2]), (3, 6, 6), (3, 6, 6), dict(kernel=(3, 3), stride=(1, 1), padding=(1, 1))),
        ("identity", np.array([1, 0, 2]), (3, 2, 2), (3, 2, 2), {}),
    ]
    for kind, w, src, out, kw in cases:
        p = Projection("s", kind, w, **kw)
        m = p.matrix(src, out).tocsc()
        m.eliminate_zeros()
        expected = np.diff(m.indptr).reshape(src)
        assert np.array_equal(p.nonzero_fan_out(src, out), expected), kind
        as_sparse = Projection("s", "sparse", sparse.csr_matrix(p.matrix(src, out)))
        assert np.array_equal(as_sparse.nonzero_fan_out(src, out), expected), kind


def test_packets_count_the_destination_cores_a_spike_reaches(tiny, tmp_path) -> None:
    """h's one spike targets both readout neurons; one neuron per core puts them on two cores: 2 packets.

    Cores fill row by row on a mesh of 8 columns: h on core 0, the readout on cores 1 and 2, so the packets
    travel 1 and 2 hops (mean 1.5). Routing energy = spikes x packets x (in-core + mean hops x hop energy).
    """
    _, net, result = tiny
    one_per_core = CHIP.replace("neurons_per_core = { value = 1024", "neurons_per_core = { value = 1")
    chip = _profile(tmp_path, one_per_core)
    act = scheme_for(net).measure_activity(net, result)
    placement = place(net, act, chip)
    assert placement.layers["out"].cores == 2 and placement.packets[("h", "out")] == 2.0
    assert placement.mean_hops("h", "out") == 1.5
    est = estimate(act, placement, chip)
    assert est.layers["h"]["routing"] == pytest.approx(1 * 2 * (1.7 + 1.5 * 3.5))


def test_zero_weight_synapses_cost_nothing(mlp_genome, tmp_path) -> None:
    """Synaptic energy is charged on effective events only (NeuroBench's effective synaptic operations)."""
    genome = mlp_genome(2, 1, "zeros")
    weights = {"h": {"weight": np.array([[0.5, 0.5]]), "bias": np.zeros(1)},
               "o": {"weight": np.array([[1.0], [0.0]]), "bias": np.zeros(2)}}
    x = np.array([[1.0, 0.0]])
    net = compile_network(CompileInputs(genome, weights, Path(__file__), load_profile("loihi2"),
                                        Dataset(x, None, None, None)))
    act = scheme_for(net).measure_activity(net, simulate(net, x))
    chip = _profile(tmp_path, CHIP)
    est = estimate(act, place(net, act, chip), chip)
    assert act["out"].synaptic_events == 2 and act["out"].effective_synaptic_events == 1
    assert est.layers["out"]["synaptic"] == pytest.approx(1 * 23.6)


def test_static_power_whole_chip_or_per_core(tiny, tmp_path) -> None:
    """--static per-core charges static power x cores used / cores on the chip (2 of 128 here)."""
    _, net, result = tiny
    chip = _profile(tmp_path, CHIP)
    act = scheme_for(net).measure_activity(net, result)
    placement = place(net, act, chip)
    whole = estimate(act, placement, chip)
    per_core = estimate(act, placement, chip, static_mode="per-core")
    assert whole.static_share == 1.0 and per_core.static_share == pytest.approx(2 / 128)
    assert per_core.static_pj == pytest.approx(whole.static_pj * 2 / 128)
    assert per_core.dynamic_pj == whole.dynamic_pj and per_core.latency_ns == whole.latency_ns
    assert per_core.to_json()["static_mode"] == "per-core"
