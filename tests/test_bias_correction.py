"""Bias correction after weight rounding (docs/fixed_point.md section 12), by hand."""
from __future__ import annotations

import numpy as np
import pytest

from tnas_deploy.schemes.rate.bias_correction import current_shift
from tnas_deploy.schemes.rate.layers import RateProjection


def _dense(weight: list[list[float]]) -> RateProjection:
    return RateProjection(source="x", kind="dense", weight=np.array(weight, dtype=np.float64))


def test_exact_rounding_needs_no_correction() -> None:
    real = _dense([[0.5, -0.25], [1.0, 0.0]])
    quantized = _dense([[2, -1], [4, 0]])                 # 0.5 x 4 = 2 exactly: mantissas x 1 = weights x 4
    shift = current_shift(real, quantized, 4.0, 1.0, np.array([0.3, 0.7]))
    assert np.array_equal(shift, np.zeros(2))


def test_the_shift_is_the_rounding_error_times_the_mean_arrivals() -> None:
    """Neuron 0: (3 - 0.6 x 4) x 0.5 + (-1 - (-0.3) x 4) x 0.25 = 0.3 + 0.05 = 0.35 state units per step."""
    real = _dense([[0.6, -0.3], [0.1, 0.2]])
    quantized = _dense([[3, -1], [0, 1]])
    shift = current_shift(real, quantized, 4.0, 1.0, np.array([0.5, 0.25]))
    assert shift == pytest.approx([(3 - 2.4) * 0.5 + (-1 + 1.2) * 0.25, (0 - 0.4) * 0.5 + (1 - 0.8) * 0.25])
