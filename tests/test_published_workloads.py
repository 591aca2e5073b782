"""Activity of lava-dl's PilotNet LIF benchmark regenerated from the installed lava-dl (issue 11).

The figures below were measured with `tnas_deploy.energy.published_workloads.pilotnet_lif_activity()` on
lava-dl 0.6.0's files. They equal, layer for layer, a steady 16-step frame of a Lava CPU run with the
notebook's reset settings (reset_interval=16, reset_offset=3; docs/energy_sources.md section 1.3b). lava-dl
is a required dependency: if its files are missing these tests fail, they do not skip.
"""
from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tnas_deploy.energy import published_workloads
from tnas_deploy.energy.published_workloads import (
    PILOTNET_LIF_CORES, PILOTNET_LIF_NETWORK, pilotnet_lif_activity, pilotnet_lif_dir, read_netx_populations)
from tnas_deploy.errors import DeployError

#: name: (neurons, cores, spikes, synaptic events received, effective synaptic events received), per frame
MEASURED = {
    "input": (39_600, 13, 565_197, 0, 0),
    "conv0": (76_032, 25, 101_310, 29_214_024, 27_230_383),
    "conv1": (26_460, 13, 44_841, 7_719_876, 6_064_800),
    "conv2": (8_064, 3, 16_128, 4_481_712, 3_278_203),
    "conv3": (5_632, 3, 9_582, 4_085_120, 2_759_051),
    "conv4": (2_560, 2, 4_122, 2_348_352, 1_433_069),
    "fc0": (100, 12, 110, 412_200, 101_079),
    "fc1": (50, 1, 28, 5_500, 4_443),
    "fc2": (10, 1, 3, 280, 236),
    "fc3": (1, 1, 0, 3, 3),
}
FRAME_SPIKES = 741_321
FRAME_EVENTS = 48_267_067
FRAME_EFFECTIVE_EVENTS = 40_871_267
FRAME_NEURON_UPDATES = 158_509 * 16
GOLDEN_RUN_EVENTS = 72_845_070          # all 24 golden steps (docs/energy_sources.md section 1.3a)
BUSIEST_CORE_EVENTS = 1_694_468.6933333336
BUSIEST_CORE_EFFECTIVE_EVENTS = 1_231_830.0666666667
BUSIEST_CORE_UPDATES_PER_STEP = 39_600 / 13          # the input layer's 13 cores


@pytest.fixture(scope="module")
def frame():
    return pilotnet_lif_activity()


def test_frame_matches_the_measured_figures(frame) -> None:
    assert frame.frame_steps == 16
    assert {layer.name: (layer.neurons, layer.cores, layer.spikes, layer.synaptic_events,
                         layer.effective_synaptic_events) for layer in frame.layers} == MEASURED
    assert (frame.spikes, frame.synaptic_events, frame.effective_synaptic_events, frame.neuron_updates) == \
        (FRAME_SPIKES, FRAME_EVENTS, FRAME_EFFECTIVE_EVENTS, FRAME_NEURON_UPDATES)
    assert frame.busiest_core_synaptic_events == pytest.approx(BUSIEST_CORE_EVENTS, rel=1e-12)
    assert frame.busiest_core_effective_events == pytest.approx(BUSIEST_CORE_EFFECTIVE_EVENTS, rel=1e-12)
    assert frame.busiest_core_neuron_updates_per_step == pytest.approx(BUSIEST_CORE_UPDATES_PER_STEP, rel=1e-12)


def test_frame_is_internally_consistent(frame) -> None:
    assert frame.golden_steps == 24 and frame.golden_synaptic_events == GOLDEN_RUN_EVENTS
    for depth, layer in enumerate(frame.layers):
        assert layer.golden_first_step == depth
        for per_step, total in ((layer.spikes_per_step, layer.spikes),
                                (layer.synaptic_events_per_step, layer.synaptic_events),
                                (layer.effective_synaptic_events_per_step, layer.effective_synaptic_events)):
            assert len(per_step) == frame.frame_steps and sum(per_step) == total
        assert all(0 <= e <= t for e, t in zip(layer.effective_synaptic_events_per_step,
                                               layer.synaptic_events_per_step))
        if depth:           # every spike before reaches the same number of targets in a dense layer
            before = frame.layers[depth - 1]
            if layer.name.startswith("fc"):
                assert layer.synaptic_events == before.spikes * layer.neurons
    for name in ("busiest_core_synaptic_events_per_step", "busiest_core_effective_events_per_step",
                 "busiest_core_effective_layer_per_step"):
        assert len(getattr(frame, name)) == frame.frame_steps
    # the steady pipelined run: depth d's cores take the spikes of frame step (step - (d - 1)) mod frame_steps
    steps = frame.frame_steps
    for step, busy in enumerate(frame.busiest_core_effective_events_per_step):
        shares = {layer.name: layer.effective_synaptic_events_per_step[(step - depth + 1) % steps] / layer.cores
                  for depth, layer in enumerate(frame.layers) if depth}
        assert busy == max(shares.values()) == shares[frame.busiest_core_effective_layer_per_step[step]]
    heaviest_share = max(l.effective_synaptic_events / l.cores for l in frame.layers)
    assert heaviest_share <= frame.busiest_core_effective_events <= frame.effective_synaptic_events
    assert frame.busiest_core_effective_events <= frame.busiest_core_synaptic_events


def test_a_shorter_frame_is_the_start_of_the_full_one(frame) -> None:
    short = pilotnet_lif_activity(frame_steps=8)
    for full_layer, short_layer in zip(frame.layers, short.layers):
        assert short_layer.spikes_per_step == full_layer.spikes_per_step[:8]
        assert short_layer.effective_synaptic_events_per_step == full_layer.effective_synaptic_events_per_step[:8]
    assert short.neuron_updates == FRAME_NEURON_UPDATES // 2


@pytest.mark.parametrize("steps", [0, 17])
def test_frame_steps_outside_the_golden_run_are_refused(steps: int) -> None:
    with pytest.raises(DeployError) as info:
        pilotnet_lif_activity(frame_steps=steps)
    assert info.value.field == "frame_steps" and "expected 1 to 16 steps per frame" in info.value.message


def _golden(name: str) -> torch.Tensor:
    """A golden array from lava-dl as (step, c, y, x) or (step, n), float64."""
    raw = np.load(pilotnet_lif_dir() / name)
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(raw, -1, 0).transpose(
        0, *range(raw.ndim - 1, 0, -1)))).double()


def test_geometry_reproduces_lava_dl_golden_currents() -> None:
    """The file is read as lava-dl runs it: with iDecay 4096 a layer's current is 64 W * s[t-1] exactly, so
    shapes, weight layout, stride, padding and the flatten order must all be right for every step to match."""
    populations = read_netx_populations(pilotnet_lif_dir() / PILOTNET_LIF_NETWORK)
    rasters = ["input.npy"] + [f"conv-{k}.npy" for k in range(5)] + [f"fc-{k}.npy" for k in range(3)]
    currents = [f"conv-{k}-u.npy" for k in range(5)] + [f"fc-{k}-u.npy" for k in range(3)]
    for target, raster, current in zip(populations[1:], rasters, currents):
        spikes, u = _golden(raster), _golden(current)
        weight = torch.from_numpy(target.weight)
        if target.kind == "conv":
            drive = F.conv2d(spikes, weight, stride=target.stride, padding=target.padding)
        else:
            drive = spikes.reshape(spikes.shape[0], -1) @ weight.T
        assert torch.equal(64 * drive[:-1], u[1:]), target.name


def test_effective_events_equal_a_convolution_with_the_nonzero_mask(frame) -> None:
    """`fan_out` against the direct count: a conv of each step's spikes with (W != 0), summed."""
    populations = read_netx_populations(pilotnet_lif_dir() / PILOTNET_LIF_NETWORK)
    rasters = ["input.npy"] + [f"conv-{k}.npy" for k in range(4)]
    for depth, (target, raster) in enumerate(zip(populations[1:6], rasters), start=1):
        spikes = _golden(raster)[depth - 1:depth - 1 + frame.frame_steps]
        for mask, counted in ((torch.from_numpy(target.weight != 0).double(),
                               frame.layers[depth].effective_synaptic_events_per_step),
                              (torch.ones(target.weight.shape, dtype=torch.float64),
                               frame.layers[depth].synaptic_events_per_step)):
            direct = F.conv2d(spikes, mask, stride=target.stride, padding=target.padding).sum(dim=(1, 2, 3))
            assert tuple(int(v) for v in direct) == counted, target.name


def test_core_table_rows_fit_their_layers() -> None:
    """Each conv-like row's tile (x, y, c) has its layer's height and channels, and just enough cores to
    cover its width; dense rows hold the layer's fan-in as AxonIn; 74 cores in all, as printed."""
    populations = read_netx_populations(pilotnet_lif_dir() / PILOTNET_LIF_NETWORK)
    assert [row.layer for row in PILOTNET_LIF_CORES] == [p.name for p in populations]
    assert sum(row.cores for row in PILOTNET_LIF_CORES) == 74
    for before, population, row in zip((None, *populations[:-1]), populations, PILOTNET_LIF_CORES):
        channels, height, width = population.shape
        if row.partition:
            tile_x, tile_y, tile_c = (int(v) for v in row.partition.removeprefix("Conv(").rstrip(")").split(","))
            assert (tile_y, tile_c, tile_x * tile_y * tile_c) == (height, channels, row.neurons_per_core)
            assert tile_x * (row.cores - 1) < width <= tile_x * row.cores, row.layer
        else:
            assert row.axon_in == before.neurons
            assert row.neurons_per_core == population.neurons // row.cores, row.layer   # fc0: 100 on 12 cores


def test_a_missing_lava_dl_is_named(monkeypatch) -> None:
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(DeployError, match="lava-dl is not installed; it is a required dependency"):
        pilotnet_lif_activity()


def test_missing_golden_files_are_named(monkeypatch) -> None:
    monkeypatch.setattr(published_workloads, "PILOTNET_LIF_DIR", "tests/lava/lib/dl/netx/gts/no_such_folder")
    with pytest.raises(DeployError, match=r"is installed without network\.net, input\.npy") as info:
        pilotnet_lif_activity()
    assert str(info.value.file).endswith("no_such_folder")
