"""Precision groups (docs/fixed_point.md section 11): output channels whose weights are 4x smaller or more get a
weight exponent of their own, one synapse block each. The grouping rule, the mantissas it gives, bit-exactness
between the reference simulator and Lava in both codings, the artifact (format version 3 only with groups) and the
packets placement counts."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from tnas_deploy.artifact import load_artifact, save_artifact
from tnas_deploy.compilation import CompileInputs
from tnas_deploy.compiler import compile_network
from tnas_deploy.dataset import Dataset
from tnas_deploy.energy.mapping import place
from tnas_deploy.errors import DeployError
from tnas_deploy.genome import genome_from_json
from tnas_deploy.profiles import load_profile
from tnas_deploy.quantization import channel_groups
from tnas_deploy.random_genome import random_weights
from tnas_deploy.runner import run_lava, simulate
from tnas_deploy.schemes import scheme_for
from tnas_deploy.schemes.base import CompileOptions
from tnas_deploy.schemes.rate.lava.runner import rate_synapses
from tnas_deploy.verify import compare, result_dict

TTFS = {"model": "ttfs"}
IF = {"model": "if", "threshold": 1.0, "reset": "zero"}
#: hidden channel -> how much smaller its weights are made than the others' (2**3: 3 bits to gain; 2: only 1)
WEAK = {1: 8.0, 4: 2.0}


def _network(coding: dict, neuron: dict, seed: int = 5, weak: dict[int, float] = WEAK):
    """x (5) -> g (dense, 4) -> h (dense, 6) -> o (dense, 3) -> readout. Every neuron of h gets the same weights,
    divided by the factor `weak` gives its channel (so the channels' largest weights are in exactly those ratios)."""
    genome = genome_from_json({
        "format": "tnas-genome", "version": 2 if coding["scheme"] == "rate" else 1, "name": "groups", "coding": coding,
        "task": {"input_shape": [5], "classes": ["a", "b", "c"]},
        **({"time": {"steps_per_window": 8}} if coding["scheme"] == "ttfs" else {}),
        "nodes": [{"id": "x", "type": "input"},
                  {"id": "g", "type": "dense", "inputs": ["x"], "units": 4, "neuron": neuron},
                  {"id": "h", "type": "dense", "inputs": ["g"], "units": 6, "neuron": neuron},
                  {"id": "o", "type": "dense", "inputs": ["h"], "units": 3},
                  {"id": "out", "type": "readout", "inputs": ["o"]}]})
    weights = random_weights(genome, seed)
    weights["g"]["weight"] = weights["g"]["weight"] * 3.0         # activity
    row = weights["h"]["weight"][0] * 3.0
    weights["h"]["weight"] = np.stack([row / weak.get(channel, 1.0) for channel in range(6)])
    x = np.random.default_rng(seed).random((6, 5))
    net = compile_network(CompileInputs(genome, weights, Path(__file__), load_profile("loihi2"),
                                        Dataset(x, None, None, None)), CompileOptions(saturate=True))
    return net, x


@pytest.fixture(scope="module", params=[({"scheme": "ttfs"}, TTFS), ({"scheme": "rate", "steps": 6}, IF)],
                ids=["ttfs", "rate"])
def grouped(request):
    return _network(*request.param)


def test_grouping_rule_merges_cheapest_first_and_keeps_small_gains_in_the_main_group() -> None:
    best = np.array([3, 4, 4, 2, 5, 1, 4])
    live = np.array([1, 1, 1, 1, 1, 1, 0], dtype=bool)
    # 4 is only one bit below 5: it stays; the channel without weights stays; 3, 2, 1 have groups
    assert channel_groups(best, live, 5).tolist() == [3, 5, 5, 2, 5, 1, 5]
    # two groups: 1 joins 2 (1 channel x 1 bit), then {1, 2} join 3 (a tie with 3 joining 5: the finest pair first)
    assert channel_groups(best, live, 5, cap=2).tolist() == [3, 5, 5, 3, 5, 3, 5]
    assert channel_groups(best, live, 5, cap=1).tolist() == [5] * 7
    assert channel_groups(best, live, 5, min_gain=1).tolist() == [3, 4, 4, 2, 5, 2, 5]   # 5 groups: 1 joins 2
    assert channel_groups(np.array([5, 4, 5]), np.ones(3, dtype=bool), 5).tolist() == [5, 5, 5]


def test_weak_channels_get_their_own_exponent_and_full_mantissas(grouped) -> None:
    net, _ = grouped
    h = net.by_id["h"]
    (proj,) = h.projections
    shifts = proj.channel_shift
    assert shifts is not None and len(shifts) == 6
    main = int(shifts.max())
    assert shifts[1] == main - 3                          # 8x smaller: 3 bits finer
    assert shifts[4] == main                              # 2x smaller: one bit is not worth a block
    assert (np.delete(shifts, 1) == main).all()
    top = np.abs(np.asarray(proj.weight)).max(axis=1)
    assert top[1] > 63 and top.max() <= net.fmt.weight_mant_max   # the weak channel uses the mantissa's range
    note = next(n for n in net.notes if n["layer"] == "h" and n["variable"] == "weight_exponent")
    exp = int(shifts[1]) - net.fmt.input_shift
    assert note["message"] == (f"the synapses from 'g' are 2 precision groups of output channels with their own "
                               f"weight exponents (1 with exponent {exp}, 5 with exponent {exp + 3}): 2 synapse blocks")


def test_groups_are_bit_exact_on_lava(grouped) -> None:
    net, x = grouped
    ref = simulate(net, x)
    lava, _ = run_lava(net, x)
    comparison = compare(result_dict(ref), result_dict(lava), [layer.id for layer in net.layers])
    assert comparison.bit_exact, comparison.first
    assert comparison.spikes_compared > 0 and ref.counts["h"]["spikes"].sum() > 0


def test_rate_synapse_blocks_hold_each_groups_rows_at_its_exponent() -> None:
    net, _ = _network({"scheme": "rate", "steps": 6}, IF)
    h = net.by_id["h"]
    blocks = rate_synapses(net, h)
    shifts = h.projections[0].channel_shift
    assert sorted(blocks) == [("g", 1, int(s)) for s in sorted(set(shifts.tolist()))]
    weight = np.asarray(h.projections[0].weight)
    for (_, _, shift), (matrix, dense, rel, _) in blocks.items():
        rows = shifts == shift
        assert dense and rel == shift - h.shift
        np.testing.assert_array_equal(matrix[rows], weight[rows])     # the mantissas themselves: 8 bits
        assert not matrix[~rows].any()


def test_artifact_records_groups_as_version_3_and_keeps_version_2_without(grouped, tmp_path) -> None:
    net, x = grouped
    path = tmp_path / "g.tdart"
    save_artifact(net, path, None)
    with h5py.File(path, "r") as f:
        assert int(f.attrs["format_version"]) == 3
        layers = json.loads(f["meta/network"][()])["layers"]
    spec = next(layer for layer in layers if layer["id"] == "h")["projections"][0]
    assert spec["channel_shift"] == net.by_id["h"].projections[0].channel_shift.tolist()
    loaded, _ = load_artifact(path)
    np.testing.assert_array_equal(loaded.by_id["h"].projections[0].channel_shift,
                                  net.by_id["h"].projections[0].channel_shift)
    np.testing.assert_array_equal(simulate(loaded, x).readout, simulate(net, x).readout)

    plain, _ = _network({"scheme": "ttfs"}, TTFS, weak={})
    assert all(p.channel_shift is None for layer in plain.layers for p in layer.incoming())
    save_artifact(plain, tmp_path / "p.tdart", None)
    with h5py.File(tmp_path / "p.tdart", "r+") as f:
        assert int(f.attrs["format_version"]) == 2
        f.attrs["format_version"] = 4
    with pytest.raises(DeployError, match="format version 4; this tnas-deploy reads 2 and 3"):
        load_artifact(tmp_path / "p.tdart")


def test_placement_sends_a_packet_to_each_block_on_a_core(tmp_path) -> None:
    """h's 6 neurons share one core; its synapses from g are 2 blocks, so a spike of g sends 2 packets there, 1
    without groups."""
    net, x = _network({"scheme": "ttfs"}, TTFS)
    chip = tmp_path / "chip.toml"
    chip.write_text('[profile]\nname = "chip"\nchip = "test chip"\nkind = "neuromorphic"\n[resources]\n'
                    'cores = { value = 16, estimate = "test" }\nneurons_per_core = { value = 64, estimate = "test" }\n')
    from tnas_deploy.profiles import load_profile as load
    activity = scheme_for(net).measure_activity(net, simulate(net, x))
    placement = place(net, activity, load(chip))
    assert placement.fits and placement.layers["h"].cores == 1
    assert placement.packets[("g", "h")] == 2.0
    assert any("layer h: the synapses from g are 2 synapse blocks" in note for note in placement.splitting)
    plain, x = _network({"scheme": "ttfs"}, TTFS, weak={})
    assert all(p.channel_shift is None for layer in plain.layers for p in layer.incoming())
    plain_placement = place(plain, scheme_for(plain).measure_activity(plain, simulate(plain, x)), load(chip))
    assert plain_placement.packets[("g", "h")] == 1.0 and not plain_placement.splitting
