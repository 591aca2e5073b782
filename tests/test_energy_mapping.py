"""Placement as a toolchain would do it (docs/energy_mapping.md): packets per spike counted against hand
calculations, copies for fan-out, fan-in compartments with and without a dendritic join, Xylo's shared pool and
its refusals, and the bundled digits network on TrueNorth and Xylo."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from tnas_deploy.compilation import CompileInputs
from tnas_deploy.compiler import compile_files, compile_network
from tnas_deploy.dataset import Dataset
from tnas_deploy.energy.connectivity import (
    Link,
    Segment,
    core_pairs,
    in_degree,
    links_into,
    mean_distinct_cores,
    weighted_out_degree,
)
from tnas_deploy.energy.mapping import place
from tnas_deploy.energy.splitting import input_compartments
from tnas_deploy.errors import DeployError
from tnas_deploy.genome import genome_from_json
from tnas_deploy.profiles import load_profile
from tnas_deploy.projection import Projection
from tnas_deploy.random_genome import random_inputs, random_weights
from tnas_deploy.runner import simulate
from tnas_deploy.schemes import scheme_for

ROOT = Path(__file__).resolve().parents[1]
TTFS = {"model": "ttfs"}

#: x (2) -> a (dense, 4 TTFS neurons) -> b (dense, 6) -> readout (2)
CHAIN = {"format": "tnas-genome", "version": 1, "name": "chain", "coding": {"scheme": "ttfs"},
         "task": {"input_shape": [2], "classes": ["p", "q"]}, "time": {"steps_per_window": 8},
         "nodes": [{"id": "x", "type": "input"},
                   {"id": "a", "type": "dense", "inputs": ["x"], "units": 4, "neuron": TTFS},
                   {"id": "b", "type": "dense", "inputs": ["a"], "units": 6, "neuron": TTFS},
                   {"id": "o", "type": "dense", "inputs": ["b"], "units": 2},
                   {"id": "out", "type": "readout", "inputs": ["o"]}]}

#: x (1x4x4) -> c1 (conv 3x3, pad 1, 1 channel) -> c2 (conv 3x3, pad 1, 2 channels) -> flatten -> readout (2)
CONV = {"format": "tnas-genome", "version": 1, "name": "conv", "coding": {"scheme": "ttfs"},
        "task": {"input_shape": [1, 4, 4], "classes": ["p", "q"]}, "time": {"steps_per_window": 8},
        "nodes": [{"id": "x", "type": "input"},
                  {"id": "c1", "type": "conv2d", "inputs": ["x"], "out_channels": 1, "kernel": 3, "padding": 1,
                   "neuron": TTFS},
                  {"id": "c2", "type": "conv2d", "inputs": ["c1"], "out_channels": 2, "kernel": 3, "padding": 1,
                   "neuron": TTFS},
                  {"id": "f", "type": "flatten", "inputs": ["c2"]},
                  {"id": "o", "type": "dense", "inputs": ["f"], "units": 2},
                  {"id": "out", "type": "readout", "inputs": ["o"]}]}


def _compiled(spec: dict, inputs: int = 6):
    genome = genome_from_json({**spec, "task": dict(spec["task"])})
    x = random_inputs(genome, inputs, 3)
    net = compile_network(CompileInputs(genome, random_weights(genome, 3), Path(__file__), load_profile("loihi2"),
                                        Dataset(x, None, None, None)))
    return net, scheme_for(net).measure_activity(net, simulate(net, x))


def _chip(tmp_path: Path, **resources: float):
    """A made-up chip with just these [resources] numbers."""
    lines = ["[profile]", 'name = "mapchip"', 'chip = "Placement test chip (made-up numbers)"',
             'kind = "neuromorphic"', "[resources]"]
    lines += [f'{key} = {{ value = {value}, estimate = "test" }}' for key, value in resources.items()]
    path = tmp_path / "mapchip.toml"
    path.write_text("\n".join(lines) + "\n")
    return load_profile(str(path))


@pytest.fixture(scope="module")
def chain():
    return _compiled(CHAIN)


def test_a_spike_reaches_every_core_of_a_dense_target(chain, tmp_path):
    """b's 6 neurons on 2 per core sit on 3 cores; every neuron of a targets all of them: 3 packets per spike."""
    net, act = chain
    placement = place(net, act, _chip(tmp_path, cores=128, neurons_per_core=2, mesh_columns=8))
    assert placement.fits
    cores = {k: (v.first_core, v.cores) for k, v in placement.layers.items()}
    assert cores == {"a": (0, 2), "b": (2, 3), "out": (5, 1)} and placement.cores_used == 6
    assert placement.packets == {("a", "b"): 3.0, ("b", "out"): 1.0}
    # 4 per core: b in blocks of ceil(6 / 2) = 3 neurons, 2 cores
    placement = place(net, act, _chip(tmp_path, cores=128, neurons_per_core=4))
    assert placement.layers["b"].cores == 2 and placement.packets[("a", "b")] == 2.0


def test_a_conv_pixel_whose_targets_straddle_cores(tmp_path):
    """c2 (2 x 4 x 4) on 8 neurons per core: each channel's rows 0-1 and rows 2-3 on their own core. A c1 pixel in
    row 0 reaches rows 0-1 of both channels (2 cores), rows 1 and 2 reach rows 0-3 (4 cores), row 3 rows 2-3 (2
    cores): (2 + 4 + 4 + 2) / 4 = 3 packets per spike. Through the flatten view c2 reaches the readout's 1 core."""
    net, act = _compiled(CONV)
    placement = place(net, act, _chip(tmp_path, cores=16, neurons_per_core=8))
    assert placement.fits and placement.layers["c2"].cores == 4
    assert placement.packets == {("c1", "c2"): 3.0, ("c2", "out"): 1.0}


def test_copies_for_fan_out_add_neurons_synapses_and_cores(chain, tmp_path):
    """Fan-out 6 against a limit of 4: each neuron of a becomes ceil(6 / 4) = 2 copies that receive the same 2
    inputs; a then holds 8 neurons and 16 synapses, on 4 cores instead of 2. Packets per spike do not change."""
    net, act = chain
    placement = place(net, act, _chip(tmp_path, cores=128, neurons_per_core=2, max_fan_out=4))
    a = placement.layers["a"]
    assert placement.fits and (a.copies, a.neurons, a.synapses, a.cores, a.extra_cores) == (2, 8, 16, 4, 2)
    assert placement.layers["b"].first_core == 4 and placement.cores_used == 8
    assert placement.packets == {("a", "b"): 3.0, ("b", "out"): 1.0}
    assert placement.splitting == [("layer a: 4 neuron(s) copied (up to 2 copies each) for resources.max_fan_out 4: "
                                    "4 more neurons, 8 more stored synapses, 2 more core(s)")]


def test_copies_of_targets_count_against_their_sources(chain, tmp_path):
    """Limit 1: b's fan-out 2 (the readout) makes 2 copies of each b neuron; every a neuron then feeds 6 x 2 = 12
    targets and needs 12 copies."""
    net, act = chain
    placement = place(net, act, _chip(tmp_path, cores=1024, neurons_per_core=64, max_fan_out=1))
    assert placement.fits
    assert (placement.layers["b"].copies, placement.layers["a"].copies) == (2, 12)
    assert placement.layers["a"].neurons == 48 and placement.layers["b"].neurons == 12


def test_fan_in_without_a_dendritic_join_does_not_fit(chain, tmp_path):
    net, act = chain
    placement = place(net, act, _chip(tmp_path, cores=128, neurons_per_core=6, max_fan_in=3))
    assert not placement.fits and placement.packets == {}
    assert placement.problem == (
        "layer b: fan-in 4 exceeds resources.max_fan_in 3 (by 1) and no exact split exists without a dendritic "
        "join (resources.dendritic_join); layer out: fan-in 6 exceeds resources.max_fan_in 3 (by 3) and no exact "
        "split exists without a dendritic join (resources.dendritic_join)")


def test_fan_in_with_a_dendritic_join_splits_into_compartments(chain, tmp_path):
    """b's fan-in 4 against 3: 2 input compartments + 1 join per neuron (18 compartments, 6 x (4 + 2) = 36 stored
    synapses, 3 cores of 6); the readout's fan-in 6: 2 + 1 per neuron (6 compartments, 2 x (6 + 2) = 16)."""
    net, act = chain
    placement = place(net, act, _chip(tmp_path, cores=128, neurons_per_core=6, max_fan_in=3, dendritic_join=1))
    assert placement.fits
    b, out = placement.layers["b"], placement.layers["out"]
    assert (b.parts, b.neurons, b.synapses, b.cores) == (2, 18, 36, 3)
    assert (out.parts, out.neurons, out.synapses, out.cores) == (2, 6, 16, 1)
    assert placement.packets[("a", "b")] == 3.0      # a compartment sits on its neuron's core


def test_join_tree_for_a_large_fan_in():
    """Fan-in 10 on a limit of 3: 4 input compartments, joined by 2, then by 1: 7 compartments."""
    parts, total = input_compartments(np.array([3, 4, 10]), 3)
    assert parts.tolist() == [1, 2, 4] and total.tolist() == [1, 3, 7]


def test_xylo_packs_hidden_layers_and_puts_the_readout_on_output_neurons(chain):
    net, act = chain
    placement = place(net, act, load_profile("xylo"))
    assert placement.fits and placement.layers_share_cores and placement.cores_used == 1
    assert {k: (v.first_core, v.cores, v.limited_by) for k, v in placement.layers.items()} == {
        "a": (0, 1, "layers_share_cores"), "b": (0, 1, "layers_share_cores"), "out": (0, 1, "output_neurons")}
    assert placement.packets == {("a", "b"): 1.0, ("b", "out"): 1.0}


def test_a_shared_pool_over_several_cores(chain, tmp_path):
    """Pool of 4 neurons per core: a takes slots 0-3 (core 0), b slots 4-9 (cores 1 and 2, neurons 0-3 and 4-5)."""
    net, act = chain
    chip = _chip(tmp_path, cores=4, neurons_per_core=4, layers_share_cores=1)
    placement = place(net, act, chip)
    assert placement.fits and placement.cores_used == 3     # the readout takes slots 10-11, still on core 2
    assert (placement.layers["b"].first_core, placement.layers["b"].cores) == (1, 2)
    assert placement.packets[("a", "b")] == 2.0
    small = place(net, act, _chip(tmp_path, cores=1, neurons_per_core=8, layers_share_cores=1))
    assert small.problem == ("the populations packed into the shared pool (resources.layers_share_cores) need 12 "
                             "neurons, the profile has 8 (8 per core x 1 core(s) x 1 chip(s)): 4 too many")


def test_xylo_refuses_more_inputs_than_its_input_channels(mlp_genome):
    genome = mlp_genome(17, 3, "wide")
    x = random_inputs(genome, 4, 1)
    net = compile_network(CompileInputs(genome, random_weights(genome, 1), Path(__file__), load_profile("loihi2"),
                                        Dataset(x, None, None, None)))
    placement = place(net, scheme_for(net).measure_activity(net, simulate(net, x)), load_profile("xylo"))
    assert placement.problem == ("the input x has 17 channels, the profile has 16 input channels "
                                 "(resources.input_channels): 1 too many; splitting cannot help")


def test_a_flag_must_be_0_or_1(chain, tmp_path):
    net, act = chain
    chip = _chip(tmp_path, cores=4, neurons_per_core=4, layers_share_cores=2)
    with pytest.raises(DeployError) as info:
        place(net, act, chip)
    assert str(chip.path) in str(info.value) and "resources.layers_share_cores.value" in str(info.value)


@pytest.fixture(scope="module")
def digits():
    net, _ = compile_files(ROOT / "models" / "digits_ttfs.json", profile="loihi2",
                           calibration_path=ROOT / "models" / "digits_calib.npz")
    scheme = scheme_for(net)
    data = scheme.load_data(ROOT / "models" / "digits_test.npz", net).head(4)
    return net, scheme.measure_activity(net, simulate(net, data.x))


def test_digits_fit_truenorth_with_copies(digits):
    """pool1 -> conv2 (3x3, 32 channels): an inner pool1 neuron has 9 x 32 = 288 targets against 256, so the
    64 inner neurons (2 x 2 positions x 16 channels) get 2 copies: pool1 holds 320 neurons on 2 cores."""
    net, act = digits
    placement = place(net, act, load_profile("truenorth"))
    pool1 = placement.layers["pool1"]
    assert placement.fits, placement.problem
    assert (pool1.copies, pool1.neurons, pool1.cores, pool1.extra_cores) == (2, 320, 2, 1)
    assert placement.cores_used == 11
    assert placement.packets[("pool1", "conv2")] == 2.0   # conv2's 512 neurons: channels 0-15 and 16-31


def test_digits_on_xylo_name_every_resource_that_splitting_cannot_fix(digits):
    net, act = digits
    problem = place(net, act, load_profile("xylo")).problem
    assert problem.startswith("the input x has 64 channels, the profile has 16 input channels "
                              "(resources.input_channels): 48 too many; splitting cannot help; ")
    assert ("the readout out has 10 neurons, the profile has 8 output neurons (resources.output_neurons): "
            "2 too many; splitting cannot help") in problem
    assert "shared pool (resources.layers_share_cores) need " in problem


def test_view_segments_follow_the_concatenation_order():
    from tnas_deploy.schemes.ttfs.layers import ConcatLayer, InputLayer, TtfsLayer

    p, q = InputLayer("p", (2,), 0), InputLayer("q", (3,), 0)
    v = ConcatLayer("v", (5,), 0, sources=("p", "q"))
    d = TtfsLayer("d", (4,), 1, projections=[Projection("v", "dense", np.ones((4, 5), dtype=np.int64))])
    (link,) = links_into({layer.id: layer for layer in (p, q, v, d)}, d)
    assert link.segments == (Segment("p", 0, 2), Segment("q", 2, 3))


@pytest.mark.parametrize("kind, weight, src, dst, geometry", [
    ("conv2d", (3, 2, 3, 3), (2, 7, 6), (3, 4, 3), {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1)}),
    ("conv2d", (4, 2, 3, 3), (2, 5, 5), (4, 5, 5), {"kernel": (3, 3), "stride": (1, 1), "padding": (1, 1)}),
    ("avgpool2d", (3,), (3, 6, 6), (3, 3, 3), {"kernel": (2, 2), "stride": (2, 2)}),
    ("identity", (3,), (3, 2, 2), (3, 2, 2), {}),
    ("dense", (5, 12), (12,), (5,), {}),
    ("sparse", None, (12,), (9,), {}),
])
def test_degrees_and_cores_match_the_explicit_synapse_matrix(kind, weight, src, dst, geometry):
    """Geometry shortcuts against the synapse matrix, for uneven, non-contiguous core assignments."""
    rng = np.random.default_rng(5)
    if kind == "sparse":
        w = sparse.random(9, 12, density=0.3, random_state=5, format="csr", data_rvs=lambda n: np.ones(n))
    else:
        w = rng.integers(1, 4, weight)                    # no zero weights: the matrix keeps every synapse
    proj = Projection("s", kind, w, **geometry)
    link = Link(proj, "d", src, dst, (Segment("s", 0, int(np.prod(src))),))
    m = (proj.matrix(src, dst) != 0).astype(np.int64).tocsr()        # (dst x src)
    assert np.array_equal(in_degree(link), np.diff(m.indptr))
    copies = rng.integers(1, 4, m.shape[0])
    assert np.array_equal(weighted_out_degree(link, copies), m.T @ copies)
    dest_core = np.sort(rng.integers(0, 4, m.shape[0]))
    src_idx, core = core_pairs(link, dest_core)
    by_source = m.T.tocsr()
    expected = [len(set(dest_core[by_source[i].indices])) for i in range(m.shape[1])]
    reached = [e for e in expected if e > 0]
    assert mean_distinct_cores([(src_idx, core)], m.shape[1]) == pytest.approx(sum(reached) / len(reached))
    assert np.array_equal(np.bincount(src_idx, minlength=m.shape[1]), expected)
