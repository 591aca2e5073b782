"""The sigma-delta scheme's lava-dl netx part (`export --format netx`, `verify --backend netx`), as a mixin of
`scheme.SdnnScheme`: the methods `schemes/base.py` declares for codings that export netx (docs/interop.md, "netx",
sigma-delta files)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ...compilation import CompileInputs
    from ...compiled import CompiledNetwork
    from ...result import SimResult
    from ..base import Progress


class SdnnNetxMixin:
    """netx export and verification of compiled sigma-delta networks (`netx.py`, `netx_verify.py`), and the compile
    of a genome under netx's constraints (`netx_quantize.py`)."""

    def compile_for_netx(self, inputs: CompileInputs, steps: int | None, analog_maxpool: str) -> CompiledNetwork:
        from ...errors import DeployError
        from .netx_quantize import compile_sdnn_for_netx
        if analog_maxpool != "refuse":
            raise DeployError("applies to rate coding only", inputs.genome.source, "--analog-maxpool")
        return compile_sdnn_for_netx(inputs, steps)

    def export_netx(self, net: CompiledNetwork, output: Path) -> list[str]:
        from .netx import export_sdnn_netx
        plan = export_sdnn_netx(net, output)
        layers = sum(1 for b in plan.blocks if b.kind in ("dense", "conv"))
        return [f"wrote {output} (lava-dl netx, {layers} sigma-delta layers; load it with netx.hdf5.Network(path) and "
                "drive net.in_layer.neuron.a_in with the payloads round(255 x), held from the first step: "
                "docs/interop.md)"] + [f"note: bit-exact in Lava as long as {c}" for c in plan.conditions]

    def netx_file(self, net: CompiledNetwork, artifact: Path, given: Path | None):
        from .netx_verify import sdnn_netx_file
        return sdnn_netx_file(net, artifact, given)

    def run_netx(self, net: CompiledNetwork, x: np.ndarray, path: Path, progress: Progress | None = None,
                 timeout: float | None = None) -> SimResult:
        from .netx_verify import run_sdnn_netx_result
        return run_sdnn_netx_result(net, x, path, progress=progress, timeout=timeout)


__all__ = ["SdnnNetxMixin"]
