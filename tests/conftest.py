"""Shared test fixtures."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from tnas_deploy.genome import Genome, genome_from_json


@pytest.fixture()
def mlp_genome() -> Callable[..., Genome]:
    """A factory for the smallest useful chain: input (n) -> h (dense, TTFS) -> o (dense, 2) -> readout."""

    def build(inputs: int, hidden: int, name: str = "mlp", steps: int = 8) -> Genome:
        return genome_from_json({
            "format": "tnas-genome", "version": 1, "name": name, "coding": {"scheme": "ttfs"},
            "task": {"input_shape": [inputs], "classes": ["a", "b"]}, "time": {"steps_per_window": steps},
            "nodes": [{"id": "x", "type": "input"},
                      {"id": "h", "type": "dense", "inputs": ["x"], "units": hidden, "neuron": {"model": "ttfs"}},
                      {"id": "o", "type": "dense", "inputs": ["h"], "units": 2},
                      {"id": "out", "type": "readout", "inputs": ["o"]}]})

    return build
