"""Sigma-delta networks on Lava's CPU simulator (fixed_pt): Lava's own SigmaDelta and Dense/Sparse processes against
the integer reference simulator, bit for bit, graded payloads included."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tnas_deploy.cli import main
from tnas_deploy.runner import run_lava, simulate
from tnas_deploy.verify import compare, result_dict

sys.path.insert(0, str(Path(__file__).resolve().parent))   # pytest imports test files by path (no package)
from test_sdnn import small_sdnn  # noqa: E402

MODELS = Path(__file__).resolve().parent.parent / "models"


def test_small_network_bit_exact_with_lava() -> None:
    """A residual add (two arrivals), a UNIT average pool with negative payloads, a flatten view, dense and conv
    synapses (Dense and Sparse), four samples in one run (state reset between samples)."""
    _, _, net, x = small_sdnn(seed=3)
    x = x[:4]
    ref = simulate(net, x)
    lava, timing = run_lava(net, x)
    assert timing.steps == 4 * net.steps
    comparison = compare(result_dict(ref), result_dict(lava), [layer.id for layer in net.layers])
    assert comparison.bit_exact, comparison.first
    np.testing.assert_array_equal(lava.readout, ref.readout)
    for layer_id, payloads in ref.spike_times.items():
        assert payloads.dtype == lava.spike_times[layer_id].dtype == np.int32
        if layer_id != "x":
            assert np.count_nonzero(payloads) > 0, layer_id            # not two silent networks
    assert (ref.spike_times["avg"] < 0).any()                         # UNIT payloads carry signs
    assert len({tuple(r) for r in ref.readout.tolist()}) == 4        # every sample its own result


def test_digits_verify_ten_samples(tmp_path: Path, capsys) -> None:
    out = tmp_path / "digits_sdnn.tdart"
    assert main(["compile", str(MODELS / "digits_ttfs.json"), "--coding", "sdnn",
                 "--calibration", str(MODELS / "digits_calib.npz"), "-o", str(out), "--json"]) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--input", str(MODELS / "digits_test.npz"), "--samples", "10"]) == 0
    assert "bit-exact: 10/10 samples" in capsys.readouterr().out
