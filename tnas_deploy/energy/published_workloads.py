"""Activity of published benchmark workloads, regenerated from files installed with packages (issue 11).

A published energy or latency measurement can only calibrate a model if the workload's activity is known.
lava-dl's PilotNet LIF benchmark notebook (Loihi 2, docs/energy_sources.md section 1) prints energy per frame
and time per step but no activity; the network it ran and lava-dl's golden spike rasters of that network
ship with the installed lava-dl (its `tests` package), so the activity of one frame is counted here from
those files: numpy and h5py only, no Lava run, well under a second.

Counting conventions are those of `energy.activity` (NeuroBench): a synaptic event is one spike through one
synapse; an effective one goes through a non-zero weight; every neuron is updated every step.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import DeployError
from ..lava_dl_files import lava_dl_folder

#: Where lava-dl installs the PilotNet LIF network and its golden rasters, relative to its distribution.
PILOTNET_LIF_DIR = "tests/lava/lib/dl/netx/gts/pilotnet_lif"
#: The network file in that folder: the same blob (bd720b9e0be0700e0e787e2586e9452b9e0630c8) as the
#: benchmark notebook's `tutorials/lava/lib/dl/netx/pilotnet_snn/network.net`.
PILOTNET_LIF_NETWORK = "network.net"
#: Golden spike raster of each spiking population; the readout (fc3) only has `fc-3-s.npy`, all zero.
PILOTNET_LIF_RASTERS = {"input": "input.npy", "conv0": "conv-0.npy", "conv1": "conv-1.npy", "conv2": "conv-2.npy",
                        "conv3": "conv-3.npy", "conv4": "conv-4.npy", "fc0": "fc-0.npy", "fc1": "fc-1.npy",
                        "fc2": "fc-2.npy"}
PILOTNET_LIF_READOUT_SPIKES = "fc-3-s.npy"


@dataclass(frozen=True)
class CoreRow:
    """One row of the Loihi 2 compiler's "Per core distribution" table (per-core loads, cores per layer)."""

    layer: str
    axon_in: int
    neuron_groups: int
    neurons_per_core: int
    synapses_per_core: int
    axon_map: int
    axon_mem: int
    cores: int
    partition: str          # the compiler's per-core tile (x, y, channels) of a conv-like layer, else ""


#: Where `PILOTNET_LIF_CORES` was read (the table is byte-identical in all six output sets of the notebook).
PILOTNET_LIF_CORES_SOURCE = ("lava-nc/lava-dl, tutorials/lava/lib/dl/netx/pilotnet_snn/benchmark.ipynb at commit "
                             "b9e369172b46bb0aa5494ed91613c1a5338aa734, cell index 15 (execution count 8, "
                             "net.run on Loihi2HwCfg): the compiler's 'Per core distribution' table")
#: The table in network order (the notebook prints it output layer first). Rows are tied to layers by their
#: tiles: each conv-like row's tile has the layer's height and channels, and tile width x cores covers the
#: layer's width (input 200x66x3: 16x66x3 x 13 = 208 columns; conv0 99x32x24: 4x32x24 x 25 = 100; conv1
#: 49x15x36: 4x15x36 x 13 = 52; conv2 24x7x48: 8x7x48 x 3 = 24; conv3 22x4x64: 8x4x64 x 3 = 24; conv4
#: 20x2x64: 16x2x64 x 2 = 32). The input row has no synapses (its neurons are driven by their bias, the
#: image). Dense rows: AxonIn is the fan-in (2560 = conv4's neurons, then 100, 50, 10) and Neurons the
#: layer size (50, 10, 1); fc0 prints 8 neurons on each of 12 cores, which holds only 96 of its 100, so
#: its busiest core holds 9 (the printed figure is not the maximum there).
PILOTNET_LIF_CORES: tuple[CoreRow, ...] = (
    CoreRow("input", 1, 1, 3168, 0, 1015, 731, 13, "Conv(16, 66, 3)"),
    CoreRow("conv0", 2, 1, 3072, 81, 253, 93, 25, "Conv(4, 32, 24)"),
    CoreRow("conv1", 2, 1, 2160, 864, 113, 32, 13, "Conv(4, 15, 36)"),
    CoreRow("conv2", 2, 1, 2688, 1620, 112, 46, 3, "Conv(8, 7, 48)"),
    CoreRow("conv3", 1, 1, 2048, 2160, 29, 9, 3, "Conv(8, 4, 64)"),
    CoreRow("conv4", 1, 1, 2048, 2880, 1280, 0, 2, "Conv(16, 2, 64)"),
    CoreRow("fc0", 2560, 1, 8, 7253, 8, 0, 12, ""),
    CoreRow("fc1", 100, 1, 50, 1300, 50, 0, 1, ""),
    CoreRow("fc2", 50, 1, 10, 150, 10, 0, 1, ""),
    CoreRow("fc3", 10, 1, 1, 10, 1, 0, 1, ""),
)


@dataclass(frozen=True)
class NetxPopulation:
    """One neuron population of a netx file, with the synapses into it, as netx stores them."""

    name: str                       # input, conv0, conv1, ..., fc0, fc1, ...
    netx_layer: int                 # its group layer/<i> in the file
    kind: str                       # "input" | "conv" | "dense"
    shape: tuple[int, int, int]     # (channels, height, width) as stored; a dense layer is (n, 1, 1)
    weight: np.ndarray | None       # conv (out, in, ky, kx) as stored, applied as torch's conv2d; dense (out, in)
    stride: tuple[int, int] = (1, 1)    # (y, x), as stored
    padding: tuple[int, int] = (0, 0)   # (y, x), as stored

    @property
    def neurons(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class WorkloadLayer:
    """One population's activity in one frame. Step arrays are indexed by frame step; the events a
    population receives at frame step s are the spikes of the population before it at its frame step s."""

    name: str
    neurons: int
    cores: int
    golden_first_step: int                        # the golden raster step at which this layer's frame starts
    spikes: int
    spikes_per_step: tuple[int, ...]
    synaptic_events: int                          # received
    effective_synaptic_events: int                # received through non-zero weights
    synaptic_events_per_step: tuple[int, ...]
    effective_synaptic_events_per_step: tuple[int, ...]


@dataclass(frozen=True)
class PilotNetActivity:
    """The activity of one frame of lava-dl's PilotNet LIF benchmark, and the load of its busiest core.

    Busiest-core arrays are per hardware step of the steady, pipelined run: at step tau (0 = the input
    layer's first frame step) the population at depth d (input 0, conv0 1, ..., fc2 8) emits the spikes of
    its frame step (tau - d) mod frame_steps, and the cores of the next population process those events.
    Work is spread evenly over a layer's cores (`PILOTNET_LIF_CORES`), as tnas-deploy's model assumes.
    Attributing events to the step after the spike instead rotates every array by one step and changes no sum.
    """

    frame_steps: int
    layers: tuple[WorkloadLayer, ...]
    source: Path                                           # the folder of network.net and the rasters
    golden_steps: int                                      # steps in the golden rasters
    golden_synaptic_events: int                            # synaptic events of the whole golden run
    busiest_core_synaptic_events_per_step: tuple[float, ...]
    busiest_core_effective_events_per_step: tuple[float, ...]
    busiest_core_effective_layer_per_step: tuple[str, ...]  # the layer whose cores are busiest, per step
    busiest_core_neuron_updates_per_step: float            # every step: max over layers of neurons / cores

    @property
    def spikes(self) -> int:
        """Spikes of one frame, the input layer's included."""
        return sum(layer.spikes for layer in self.layers)

    @property
    def synaptic_events(self) -> int:
        return sum(layer.synaptic_events for layer in self.layers)

    @property
    def effective_synaptic_events(self) -> int:
        return sum(layer.effective_synaptic_events for layer in self.layers)

    @property
    def neuron_updates(self) -> int:
        """Every compartment of every layer, the input's included, is updated every step on Loihi."""
        return sum(layer.neurons for layer in self.layers) * self.frame_steps

    @property
    def busiest_core_synaptic_events(self) -> float:
        return float(sum(self.busiest_core_synaptic_events_per_step))

    @property
    def busiest_core_effective_events(self) -> float:
        return float(sum(self.busiest_core_effective_events_per_step))

    @property
    def busiest_core_neuron_updates(self) -> float:
        return self.busiest_core_neuron_updates_per_step * self.frame_steps

    def layer(self, name: str) -> WorkloadLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)


def pilotnet_lif_dir() -> Path:
    """The folder of the installed lava-dl that holds the PilotNet LIF network and golden rasters."""
    folder, version = lava_dl_folder(PILOTNET_LIF_DIR, "the PilotNet LIF network and golden spikes")
    needed = [PILOTNET_LIF_NETWORK, *PILOTNET_LIF_RASTERS.values(), PILOTNET_LIF_READOUT_SPIKES]
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise DeployError(f"lava-dl {version} is installed without {', '.join(missing)}; expected its tests "
                          "package with the PilotNet LIF golden files (reinstall lava-dl 0.6.0)", folder)
    return folder


def _stored(group: h5py.Group, key: str, path: Path, where: str) -> np.ndarray:
    if key not in group:
        raise DeployError(f"missing {key!r}", path, f"{where}/{key}")
    return np.asarray(group[key][()])


def _pair(group: h5py.Group, key: str, path: Path, where: str) -> tuple[int, int]:
    values = _stored(group, key, path, where).reshape(-1).astype(int)
    if values.size not in (1, 2):
        raise DeployError(f"expected one or two integers, got {values.tolist()}", path, f"{where}/{key}")
    return (int(values[0]), int(values[-1]))


def read_netx_populations(path: Path) -> tuple[NetxPopulation, ...]:
    """The populations of a netx chain of input, conv, flatten and dense layers, checked for consistent
    shapes (as `interop.netx_import` reads them: (C, H, W) shapes, (y, x) strides and paddings)."""
    populations: list[NetxPopulation] = []
    counts = {"conv": 0, "dense": 0}
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DeployError(f"not a readable HDF5 file ({exc}); expected a lava-dl netx .net file", path) from None
    with f:
        if "layer" not in f:
            raise DeployError("no 'layer' group: not a netx network", path, "layer")
        for i in range(len(f["layer"])):
            where = f"layer/{i}"
            if where not in f:
                raise DeployError(f"expected layers 0..{len(f['layer']) - 1}", path, where)
            g = f[where]
            kind = bytes(_stored(g, "type", path, where).reshape(-1)[0]).decode("ascii", "replace")
            shape = tuple(int(s) for s in _stored(g, "shape", path, where).reshape(-1))
            if i == 0:
                if kind != "input" or len(shape) != 3:
                    raise DeployError(f"expected an input layer of shape (C, H, W) first, found {kind!r} {list(shape)}",
                                      path, f"{where}/type")
                populations.append(NetxPopulation("input", i, "input", (shape[0], shape[1], shape[2]), None))
                continue
            if kind == "flatten":        # netx flattens in (c, y, x) order, the order `fan_out` and rasters use
                continue
            before = populations[-1]
            if kind == "conv":
                weight = _stored(g, "weight", path, where).astype(np.float64)
                stride, padding = _pair(g, "stride", path, where), _pair(g, "padding", path, where)
                ungrouped = _pair(g, "dilation", path, where) == (1, 1) and int(_stored(g, "groups", path, where)) == 1
                if weight.ndim != 4 or weight.shape[1] != before.shape[0] or not ungrouped:
                    raise DeployError(f"expected an ungrouped, undilated conv from {before.shape[0]} channels, weight "
                                      f"{list(weight.shape)}", path, f"{where}/weight")
                out = (weight.shape[0], *(int((n + 2 * p - k) // s + 1) for n, p, k, s in
                                          zip(before.shape[1:], padding, weight.shape[2:], stride)))
                name = f"conv{counts['conv']}"
            elif kind == "dense":
                weight = _stored(g, "weight", path, where).astype(np.float64).reshape(int(np.prod(shape)), -1)
                stride, padding = (1, 1), (0, 0)
                if weight.shape[1] != before.neurons:
                    raise DeployError(f"weight of {weight.shape[1]} inputs after {before.neurons} neurons", path,
                                      f"{where}/weight")
                out = (weight.shape[0], 1, 1)
                name = f"fc{counts['dense']}"
            else:
                raise DeployError(f"layer type {kind!r}: expected input, conv, flatten or dense", path, f"{where}/type")
            if tuple(shape) != tuple(out):
                raise DeployError(f"shape {list(shape)} does not match the synapses' output {list(out)}", path,
                                  f"{where}/shape")
            counts[kind] += 1
            populations.append(NetxPopulation(name, i, kind, out, weight, stride, padding))
    return tuple(populations)


def fan_out(target: NetxPopulation, source_shape: tuple[int, int, int], nonzero_only: bool) -> np.ndarray:
    """Synaptic targets in `target` of each neuron before it, flattened in (channel, y, x) order (netx's flatten
    order): out channels x the kernel positions whose window lies on the output grid (padding and stride
    included); with `nonzero_only`, only the synapses whose weight is not zero."""
    assert target.weight is not None
    mask = (target.weight != 0) if nonzero_only else np.ones(target.weight.shape, dtype=bool)
    if target.kind == "dense":
        return mask.sum(axis=0).astype(np.int64)
    height, width = source_shape[1:]
    per_offset = mask.sum(axis=0).astype(np.int64)              # (in channel, ky, kx): targets per kernel offset
    counts = np.zeros(source_shape, dtype=np.int64)
    for ky in range(per_offset.shape[1]):
        rows = np.arange(target.shape[1]) * target.stride[0] + ky - target.padding[0]
        rows = rows[(rows >= 0) & (rows < height)]
        for kx in range(per_offset.shape[2]):
            cols = np.arange(target.shape[2]) * target.stride[1] + kx - target.padding[1]
            cols = cols[(cols >= 0) & (cols < width)]
            counts[:, rows[:, None], cols[None, :]] += per_offset[:, ky, kx][:, None, None]
    return counts.reshape(-1)


def _raster(folder: Path, name: str, population: NetxPopulation) -> np.ndarray:
    """A golden raster as (step, neuron in (c, y, x) order); lava-dl stores (x, y, c, step) or (n, step)."""
    path = folder / PILOTNET_LIF_RASTERS[name]
    raw = np.load(path)
    channels, height, width = population.shape
    expected = (width, height, channels) if population.kind != "dense" else (channels,)
    if raw.ndim != len(expected) + 1 or raw.shape[:-1] != expected:
        raise DeployError(f"raster of shape {list(raw.shape)}; expected {list(expected)} + [steps] for "
                          f"{population.name} in {PILOTNET_LIF_NETWORK}", path)
    steps = raw.shape[-1]
    return np.moveaxis(raw != 0, -1, 0).reshape(steps, -1) if raw.ndim == 2 else \
        (raw != 0).transpose(3, 2, 1, 0).reshape(steps, -1)


def pilotnet_lif_activity(frame_steps: int = 16) -> PilotNetActivity:
    """The activity of one `frame_steps`-step frame of the notebook's PilotNet LIF run, from lava-dl's files.

    Which golden steps make a frame. netx resets layer d (input 0, conv0 1, ..., fc2 8; fc3, the readout,
    never spikes) at the steps t = reset_offset + d mod reset_interval (t from 0): each layer starts its frame
    one step after the layer before it, which is the one-step delay of every netx synapse (lava-dl's golden
    currents obey u[t] = 64 W * s[t-1] exactly). The notebook uses reset_interval=16, reset_offset=3; lava-dl's
    own test of the golden files (test_hdf5_nx.py::test_pilotnet_lif) uses reset_interval=16 and offset 0,
    so in the golden run layer d starts a frame from its reset state at step d, with the frame of the layer
    before it arriving: one notebook frame of layer d is golden steps [d, d + frame_steps). This matches a
    Lava CPU run with the notebook's settings (docs/energy_sources.md section 1.3b) raster for raster, every
    layer, every step of its steady 16-step frame. The first 16 golden steps would not: they hold the
    pipeline fill (conv0's 22,176 spikes at step 0 from its bias alone, never seen again) and cut the deeper
    layers' frames short (2.0 % more spikes and synaptic events in total, conv0 +15 %). The golden input is
    lava-dl's test image (`image.npy`), not the benchmark's dataset frame 100, which is not in the repository.
    """
    folder = pilotnet_lif_dir()
    network = folder / PILOTNET_LIF_NETWORK
    populations = read_netx_populations(network)
    with h5py.File(network, "r") as f:
        t_sample = int(np.asarray(f["simulation/tSample"][()])) if "simulation/tSample" in f else 0
    names = [p.name for p in populations]
    expected = [row.layer for row in PILOTNET_LIF_CORES]
    if names != expected:
        raise DeployError(f"layers {names}; expected PilotNet LIF's {expected}", network, "layer")
    rasters = [_raster(folder, p.name, p) for p in populations[:-1]]
    golden_steps = min(r.shape[0] for r in rasters)
    deepest = len(rasters) - 1
    longest = min(t_sample, golden_steps - deepest)
    if not 1 <= frame_steps <= longest:
        raise DeployError(f"expected 1 to {longest} steps per frame (tSample {t_sample}; the golden rasters hold "
                          f"{golden_steps} steps and the deepest spiking layer starts its frame at step {deepest}), "
                          f"got {frame_steps}", network, "frame_steps")
    readout = np.load(folder / PILOTNET_LIF_READOUT_SPIKES)
    if np.any(readout != 0):
        raise DeployError("the readout spikes; expected a membrane readout that never does", folder /
                          PILOTNET_LIF_READOUT_SPIKES)

    cores = {row.layer: row.cores for row in PILOTNET_LIF_CORES}
    window = [r[d:d + frame_steps].astype(np.int64) for d, r in enumerate(rasters)]
    layers: list[WorkloadLayer] = []
    golden_events = 0
    for depth, population in enumerate(populations):
        spikes = window[depth].sum(axis=1) if depth < len(rasters) else np.zeros(frame_steps, dtype=np.int64)
        if depth == 0:
            events = effective = np.zeros(frame_steps, dtype=np.int64)
        else:
            source = populations[depth - 1]
            total_fan_out = fan_out(population, source.shape, nonzero_only=False)
            events = window[depth - 1] @ total_fan_out
            effective = window[depth - 1] @ fan_out(population, source.shape, nonzero_only=True)
            golden_events += int((rasters[depth - 1].astype(np.int64) @ total_fan_out).sum())
        layers.append(WorkloadLayer(
            name=population.name, neurons=population.neurons, cores=cores[population.name], golden_first_step=depth,
            spikes=int(spikes.sum()), spikes_per_step=tuple(int(n) for n in spikes),
            synaptic_events=int(events.sum()), effective_synaptic_events=int(effective.sum()),
            synaptic_events_per_step=tuple(int(n) for n in events),
            effective_synaptic_events_per_step=tuple(int(n) for n in effective)))

    per_core, per_core_effective = _pipelined_per_core(layers, frame_steps)
    busiest = per_core_effective.argmax(axis=0)
    return PilotNetActivity(
        frame_steps=frame_steps, layers=tuple(layers), source=folder, golden_steps=golden_steps,
        golden_synaptic_events=golden_events,
        busiest_core_synaptic_events_per_step=tuple(float(v) for v in per_core.max(axis=0)),
        busiest_core_effective_events_per_step=tuple(float(v) for v in per_core_effective.max(axis=0)),
        busiest_core_effective_layer_per_step=tuple(layers[i].name for i in busiest),
        busiest_core_neuron_updates_per_step=max(layer.neurons / layer.cores for layer in layers))


def _pipelined_per_core(layers: list[WorkloadLayer], frame_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(layer, hardware step) events per core of each layer in the steady pipelined run: the layer at depth
    d receives the spikes its predecessor (depth d - 1) emits at hardware step tau, its frame step
    (tau - (d - 1)) mod frame_steps."""
    total = np.zeros((len(layers), frame_steps))
    effective = np.zeros((len(layers), frame_steps))
    for depth, layer in enumerate(layers[1:], start=1):
        frame_step = (np.arange(frame_steps) - (depth - 1)) % frame_steps
        total[depth] = np.asarray(layer.synaptic_events_per_step)[frame_step] / layer.cores
        effective[depth] = np.asarray(layer.effective_synaptic_events_per_step)[frame_step] / layer.cores
    return total, effective


__all__ = ["PILOTNET_LIF_CORES", "PILOTNET_LIF_CORES_SOURCE", "PILOTNET_LIF_DIR", "CoreRow", "NetxPopulation",
           "PilotNetActivity", "WorkloadLayer", "fan_out", "pilotnet_lif_activity", "pilotnet_lif_dir",
           "read_netx_populations"]
