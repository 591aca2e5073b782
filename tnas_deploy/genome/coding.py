"""What each coding allows in a genome, as data: the genome checks read these rules instead of testing names.

A new coding scheme adds one `CodingRules` entry here (the genome format) and one sub-package under
`tnas_deploy/schemes/` (everything that runs). Messages name the coding a feature needs.
"""
from __future__ import annotations

from dataclasses import dataclass

_RATE = "\"coding\": {\"scheme\": \"rate\", \"steps\": T}"


@dataclass(frozen=True)
class CodingRules:
    """One coding's genome rules; a `None` message means the feature is allowed."""

    neuron_models: tuple[str, ...]        # models a node's neuron may have (besides none)
    wrong_neuron: str                     # why another model is refused ("{model}" is replaced by its repr)
    time_block: str                       # "time" (top-level TimeSpec), "steps" (in the coding block) or
                                          # "settle" (optional steps in the coding block: default until settled)
    min_version: int
    neuron_node: str | None               # why a `neuron` node is refused
    recurrent_edge: str | None            # why a recurrent edge is refused (version >= 2)
    spike_count_readout: str | None       # why readout mode spike_count is refused
    snas_cell: str | None                 # why a snas_cell is refused
    membrane_reads_neuron: bool           # whether a membrane readout may read a node with a neuron
    edge_delay: str | None = None         # why an edge's axonal delay is refused (version >= 3)
    regression_readout: str | None = None  # why task.outputs (a regression readout) is refused (version >= 3)
    chip_integers: str | None = None      # why chip_integers (a genome of chip integers) is refused (version >= 3)
    leaky_readout: str | None = None      # why a membrane readout's leak (readout tau, version >= 3) is refused
    #: Whether a genome of a version before `min_version` is told the version it needs, before the schema names the
    #: unknown coding (codings after version 3; rate keeps the schema's message of version 2).
    names_min_version: bool = False


CODING_RULES: dict[str, CodingRules] = {
    "ttfs": CodingRules(
        neuron_models=("ttfs",),
        wrong_neuron="an {model} neuron needs rate coding (" + _RATE + "); a TTFS genome uses {\"model\": \"ttfs\"}",
        time_block="time", min_version=1,
        neuron_node=f"a neuron node needs rate coding ({_RATE}); in TTFS coding the neuron sits on the conv2d, dense, "
                    "batchnorm, avgpool2d or add before it",
        recurrent_edge=f"recurrent edges need rate coding ({_RATE}); a TTFS network is feed-forward",
        spike_count_readout="readout mode 'spike_count' needs rate coding; a TTFS readout reads the membrane",
        snas_cell=f"a snas_cell is a rate-coded cell of LIF neurons; it needs {_RATE}",
        membrane_reads_neuron=True,
        edge_delay=f"axonal delays need rate coding ({_RATE}); a TTFS layer's spike times code values within "
                   "its window, which a delay would change",
        regression_readout=f"a regression readout (real-valued outputs) is read for rate-coded genomes ({_RATE}); "
                           "a TTFS genome is a classifier (task.classes)",
        chip_integers=f"chip integers are read for rate-coded genomes ({_RATE}), such as an imported netx file; a "
                      "TTFS genome is quantized by the compile",
        leaky_readout=f"a leaky readout (tau) is read for rate-coded genomes ({_RATE}); a TTFS readout's membrane "
                      "integrates its source window without leak"),
    "rate": CodingRules(
        neuron_models=("if", "lif"),
        wrong_neuron="a rate-coded genome uses 'if' or 'lif' neurons; 'ttfs' is the neuron of TTFS coding",
        time_block="steps", min_version=2,
        neuron_node=None, recurrent_edge=None, spike_count_readout=None, snas_cell=None,
        membrane_reads_neuron=False),
    "sdnn": CodingRules(
        neuron_models=("sigma_delta",),
        wrong_neuron="a sigma-delta genome uses {\"model\": \"sigma_delta\"} neurons; {model} is the neuron of "
                     "another coding",
        time_block="settle", min_version=4,
        neuron_node="a neuron node needs rate coding; in sigma-delta coding the neuron sits on the conv2d, dense, "
                    "batchnorm, avgpool2d or add before it",
        recurrent_edge="recurrent edges need rate coding; a sigma-delta network is lowered from a feed-forward ANN",
        spike_count_readout="readout mode 'spike_count' needs rate coding; a sigma-delta readout reads its value",
        snas_cell=f"a snas_cell is a rate-coded cell of LIF neurons; it needs {_RATE}",
        membrane_reads_neuron=True,
        edge_delay="axonal delays need rate coding; sigma-delta layers are one step apart",
        # regression readouts and chip integers: an imported lava-dl netx SDNN file (PilotNet SDNN's one output)
        leaky_readout="a leaky readout (tau) is read for rate-coded genomes; a sigma-delta readout holds its value",
        names_min_version=True),
}

#: Coding names genomes may declare.
CODINGS = tuple(CODING_RULES)
