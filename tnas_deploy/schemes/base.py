"""The interface every coding scheme implements, and the typed options that travel with it.

A *coding scheme* says how values become spikes: TTFS (one spike per neuron, its time codes the value)
and rate (spike counts over T steps) today. Everything that depends on the coding lives in the scheme's
own sub-package (`schemes/<name>/`); the pipelines (compile, run, verify, golden, bench, export, view)
ask `schemes.scheme_for(genome_or_network)` for the scheme and talk only to this interface.

What a scheme cannot do is declared, not tested for by callers: `refused_options` says which compile
options do not apply (and why), `exports` which foreign formats it can write (and why not the others).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import DeployError

if TYPE_CHECKING:   # types only: importing them at run time would pull in every backend
    from ..compilation import CompileInputs
    from ..compiled import CompiledNetwork
    from ..dataset import Dataset
    from ..energy.activity import LayerActivity
    from ..genome import Genome
    from ..lava_runtime.session import LavaTiming
    from ..result import SimResult
    from ..weights import Weights

Progress = Callable[[float], None]   # samples done since the last call (fractions while a batch runs)


@dataclass(frozen=True)
class CompileOptions:
    """What `tnas-deploy compile` may be asked, in one typed object (None: the genome's or the default).

    `steps`: steps per window (TTFS), time steps T (rate) or steps per inference (sigma-delta); `margin`: TTFS
    window length over the largest calibration activation; `analog_maxpool`: what a rate network does with a
    max-pool of analog values; `coding`: compile with this coding instead of the genome's own (a scheme that
    `lowers_codings` the genome's); `delta_threshold`: sigma-delta threshold as a fraction of each layer's peak.
    """

    saturate: bool = False
    margin: float | None = None
    steps: int | None = None
    analog_maxpool: str = "refuse"
    progress: bool = False
    coding: str | None = None
    delta_threshold: float | None = None

    def given(self) -> dict[str, Any]:
        """The options the user set (not at their defaults), by their command-line names."""
        out: dict[str, Any] = {}
        if self.margin is not None:
            out["--margin"] = self.margin
        if self.analog_maxpool != "refuse":
            out["--analog-maxpool"] = self.analog_maxpool
        if self.delta_threshold is not None:
            out["--delta-threshold"] = self.delta_threshold
        return out


@dataclass(frozen=True)
class ExportRequest:
    """`tnas-deploy export`: the genome and weights, where to write, and the format's options."""

    genome: "Genome"
    weights: "Weights"
    output: Path
    calibration: Path | None = None     # TTFS to NIR: data for the windows recorded in the extension
    dt: float = 1.0                     # rate to NIR: seconds per step


class Scheme(ABC):
    """One coding scheme: compile, simulate, run on Lava, count activity, describe, export."""

    #: The coding's name in genomes (`coding.scheme`) and artifacts.
    name: ClassVar[str]
    #: Compile options this coding does not take, each with the reason printed when a user passes it.
    refused_options: ClassVar[dict[str, str]] = {}
    #: Codings of genomes this scheme also compiles (`compile --coding <name>`), besides genomes of its own coding.
    lowers_codings: ClassVar[frozenset[str]] = frozenset()
    #: Foreign formats `export` writes for this coding; `export_refusals` says why not the others.
    exports: ClassVar[frozenset[str]] = frozenset()
    export_refusals: ClassVar[dict[str, str]] = {}
    #: Bits of payload each spike carries (0: binary spikes); a chip must offer as many
    #: (`resources.graded_spike_bits`) for the network to fit on it.
    spike_payload_bits: ClassVar[int] = 0

    # -- compile ---------------------------------------------------------------------------------
    def check_options(self, options: CompileOptions, source: Path | None) -> None:
        """Refuse options that do not apply to this coding, naming the option and the reason."""
        for flag in options.given():
            if flag in self.refused_options:
                raise DeployError(self.refused_options[flag], source, flag)

    @abstractmethod
    def compile(self, inputs: "CompileInputs", options: CompileOptions) -> "CompiledNetwork":
        """Lower, quantize and check headroom: genome + weights + profile (+ calibration) -> network."""

    # -- data --------------------------------------------------------------------------------------
    @abstractmethod
    def load_data(self, path: str | Path, target: "Genome | CompiledNetwork", role: str = "--input",
                  window_us: float | None = None) -> "Dataset":
        """Samples for this network from an .npz or an event file, in the layout the coding takes."""

    @abstractmethod
    def sample_shapes(self, net: "CompiledNetwork") -> list[tuple[int, ...]]:
        """The shapes one sample may have (a static input; rate also a frame per step)."""

    # -- running -----------------------------------------------------------------------------------
    @abstractmethod
    def simulate(self, net: "CompiledNetwork", x: np.ndarray, progress: Progress | None = None,
                 track_peaks: bool = False) -> "SimResult":
        """The integer reference simulator: the bit-exact expectation for every backend."""

    @abstractmethod
    def run_lava(self, net: "CompiledNetwork", x: np.ndarray, progress: Progress | None = None,
                 timeout: float | None = None, hardware: bool = False) -> "tuple[SimResult, LavaTiming]":
        """One guarded run on Lava's CPU simulator (`fixed_pt`), or on Loihi 2 with `hardware`."""

    def fast_compile_and_run(self, inputs: "CompileInputs", options: CompileOptions, x: np.ndarray
                             ) -> "tuple[CompiledNetwork, SimResult, str] | None":
        """The compiled network and its result on `x` by a faster path giving the same integers as `compile` and
        `simulate` (the result's per-sample `counts` may be left empty), with the name of the path taken
        (`fast_cost.estimate_cost`); None when the coding has none."""
        return None

    # -- describing --------------------------------------------------------------------------------
    @abstractmethod
    def total_steps(self, net: "CompiledNetwork") -> int:
        """Time steps of one inference on the chip."""

    @abstractmethod
    def measure_activity(self, net: "CompiledNetwork", result: "SimResult") -> "dict[str, LayerActivity]":
        """Spikes, synaptic events and neuron updates per population and time step (for the energy model)."""

    @abstractmethod
    def table_columns(self, row: dict[str, Any] | None) -> list[str]:
        """The compile table's coding-specific columns: their headers (`row` None) or one row's cells."""

    @abstractmethod
    def total_line(self, summary: dict[str, Any]) -> str:
        """The compile table's closing line: neurons, synapses and how time is spent."""

    @abstractmethod
    def calibrated(self, summary: dict[str, Any]) -> bool:
        """Whether the summary's headroom figures come from calibration data."""

    @abstractmethod
    def card_structure(self, net: "CompiledNetwork") -> dict[str, int]:
        """The coding's own counts for a model card's structure block."""

    @abstractmethod
    def card_shape(self, structure: dict[str, Any]) -> str:
        """A model card's structure in words (from the card's structure block)."""

    @abstractmethod
    def card_accuracy(self, inputs: "CompileInputs", net: "CompiledNetwork", data: "Dataset", ref: "SimResult"
                      ) -> dict[str, Any]:
        """A model card's accuracies at each stage of deployment, measured on labelled data."""

    @abstractmethod
    def card_accuracy_rows(self, structure: dict[str, Any], accuracy: dict[str, Any]) -> list[str]:
        """The rows `| stage | accuracy |` of a model card's accuracy table (Markdown)."""

    # -- views and exports -------------------------------------------------------------------------
    @abstractmethod
    def view_time(self, genome: "Genome") -> tuple[str, int]:
        """What a netron view of the genome shows as its time grid: (attribute name, steps)."""

    @abstractmethod
    def view_duration(self, net: "CompiledNetwork") -> str:
        """How a netron view of an artifact describes one inference's time."""

    @abstractmethod
    def view_layer(self, builder: Any, net: "CompiledNetwork", layer: Any, row: dict[str, Any],
                   meta: dict[str, Any], common: dict[str, Any]) -> None:
        """Add one chip layer (after the input) of an artifact to a netron view (`interop.onnx_graph.GraphBuilder`):
        `row` is its summary row, `meta` and `common` the node metadata and attributes every layer gets."""

    def require_export(self, fmt: str, source: Path | None) -> None:
        """Refuse a foreign format this coding cannot be written in, with the reason."""
        if fmt not in self.exports:
            raise DeployError(self.export_refusals.get(fmt, f"{self.name} networks cannot be exported to {fmt}"),
                              source, "--format")

    def export(self, fmt: str, request: ExportRequest) -> str:
        """Write `request.genome` in a foreign format; returns the line to print. Refuses what it cannot."""
        self.require_export(fmt, request.genome.source)
        return self.write_export(fmt, request)

    def write_export(self, fmt: str, request: ExportRequest) -> str:  # pragma: no cover - only for `exports`
        raise NotImplementedError(fmt)

    # -- lava-dl netx (`export --format netx`, `verify --backend netx`): codings whose `exports` hold "netx" ---------
    def compile_for_netx(self, inputs: "CompileInputs", steps: int | None, analog_maxpool: str) -> "CompiledNetwork":
        """`export GENOME --format netx`: the genome compiled under netx's constraints."""
        raise DeployError(f"{self.name} genomes are exported to netx from their compiled artifact: compile it, then "
                          "export the .tdart", inputs.genome.source, "--format")

    def export_netx(self, net: "CompiledNetwork", output: Path) -> list[str]:  # pragma: no cover - only for `exports`
        """Write a compiled network as a netx file; returns the lines `export` prints."""
        raise NotImplementedError("netx")

    def netx_file(self, net: "CompiledNetwork", artifact: Path, given: Path | None
                  ) -> "AbstractContextManager[tuple[Path, str]]":  # pragma: no cover - only for `exports`
        """The netx file `verify --backend netx` runs for `net`, and how it was found (a phrase)."""
        raise NotImplementedError("netx")

    def run_netx(self, net: "CompiledNetwork", x: np.ndarray, path: Path, progress: Progress | None = None,
                 timeout: float | None = None) -> "SimResult":  # pragma: no cover - only for `exports`
        """Every sample of `x` through the netx file in lava-dl's netx, as a result comparable with `simulate`'s."""
        raise NotImplementedError("netx")
