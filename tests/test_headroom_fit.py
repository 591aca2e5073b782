"""Choosing state scales from calibration data (`compilation.fit_state_scales`): the smallest scale drop that
fits, found even when a saturated state's measured peak understates how far it would go."""
from __future__ import annotations

import math

import pytest

from tnas_deploy.compilation import MAX_HEADROOM_ROUNDS, fit_state_scales
from tnas_deploy.fixed_point import NumericFormat

FMT = NumericFormat(weight_bits=8, weight_exp_min=-8, weight_exp_max=7, input_shift=6, state_bits=24,
                    threshold_bits=17, threshold_shift=6, bias_mant_bits=13, bias_exp_max=7)


def fake_layers(needed: dict[str, int], saturating: bool):
    """build/measure for layers whose state needs `needed[layer]` bits of drop to fit. A saturating state clips at
    the limit, so its measured peak is only a little above it (what the real simulators report)."""
    calls = []

    def build(drops: dict[str, int]) -> dict[str, int]:
        calls.append(dict(drops))
        return dict(drops)

    def measure(net: dict[str, int]):
        overflows = {}
        for layer, need in needed.items():
            short = need - net.get(layer, 0)
            if short > 0:
                true_peak = FMT.state_max * 2.0 ** min(short, 40)   # simulator peaks are int64
                peak = FMT.state_max + 1000 if saturating else true_peak
                overflows[layer] = ("v", int(peak))
        return {"headroom": True}, overflows

    return build, measure, calls


@pytest.mark.parametrize("needed", [{"a": 1}, {"a": 3}, {"a": 9, "b": 1}, {"a": 20}])
@pytest.mark.parametrize("saturating", [False, True])
def test_the_smallest_drop_that_fits_is_found(needed: dict[str, int], saturating: bool) -> None:
    build, measure, calls = fake_layers(needed, saturating)
    net, _, drops, overflows = fit_state_scales(build, measure, FMT)
    assert not overflows
    assert drops == needed and net == needed                  # the finest scale that fits, and its network
    assert len(calls) <= MAX_HEADROOM_ROUNDS


def test_an_exact_peak_needs_one_retry() -> None:
    """When the measured peak is the true one (no saturation on the way), one drop of the bits it lacks fits."""
    build, measure, calls = fake_layers({"a": 5}, saturating=False)
    _, _, drops, _ = fit_state_scales(build, measure, FMT)
    assert drops == {"a": 5} and calls == [{}, {"a": 5}]


def test_what_cannot_fit_in_the_rounds_is_reported() -> None:
    build, measure, _ = fake_layers({"a": 10_000}, saturating=True)
    _, _, drops, overflows = fit_state_scales(build, measure, FMT)
    assert "a" in overflows and drops["a"] < 10_000
    assert math.isfinite(drops["a"])


def test_a_scale_the_quantizer_cannot_represent_ends_the_search() -> None:
    """Lowering further than the quantizer can go (it raises OverflowReport) keeps the last scale it could build;
    what still overflows is reported (the compile then fails, or clips with --saturate)."""
    from tnas_deploy.errors import OverflowReport

    build, measure, _ = fake_layers({"a": 9}, saturating=True)

    def limited_build(drops: dict[str, int]) -> dict[str, int]:
        if drops.get("a", 0) > 5:
            raise OverflowReport("no ramp keeps the weights in range", None, "layer a: weight")
        return build(drops)

    net, _, drops, overflows = fit_state_scales(limited_build, measure, FMT)
    assert "a" in overflows and drops["a"] <= 5 and net == drops
