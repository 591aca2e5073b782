"""Validation of the energy model against a published measurement (docs/energy_validation.md).

TrueNorth's probabilistic benchmark network (Merolla et al., Science 2014, SM S7; Akopyan et al., IEEE TCAD
34(10) 2015, Fig. 17): all 4,096 cores x 256 neurons, 128 active synapses per neuron, targets uniformly
random over the 64 x 64 core mesh, 1 ms ticks. Measured chip power at 0.8 V: 68, 71 and 94 mW at mean
firing rates 11.58, 20.07 and 95.93 Hz.

TrueNorth publishes no per-synaptic-event energy, so the shipped profile's energy per synaptic event and power
floor are fitted on the 11.58 Hz and 95.93 Hz points (hw_profiles/calibration/truenorth.toml,
docs/energy_calibration.md). Here the shipped profile predicts the held-out 20.07 Hz point end to end through
`tnas_deploy.energy.model.estimate`, with hop distances from our own placement of the benchmark.
"""
from __future__ import annotations

import numpy as np
import pytest

from tnas_deploy.energy.activity import LayerActivity
from tnas_deploy.energy.mapping import LayerPlacement, Placement
from tnas_deploy.energy.model import estimate
from tnas_deploy.profiles import load_profile

NEURONS = 4096 * 256
SYNAPSES = 128
TICK_S = 1e-3
MEASURED_MW = {11.58: 68.0, 20.07: 71.0, 95.93: 94.0}      # Akopyan et al. 2015, Fig. 17, 0.8 V
FIT_RATES = (11.58, 95.93)
HELD_OUT = 20.07
TOLERANCE = 0.02                                            # relative error allowed on the held-out point


def _activity(rate_hz: float) -> dict[str, LayerActivity]:
    """One tick of the benchmark as one recurrent population (every spike reaches 128 synapses on one core)."""
    spikes = NEURONS * rate_hz * TICK_S
    one = np.ones(1)
    return {"tn": LayerActivity(
        layer="tn", kind="ttfs", neurons=NEURONS, synapses=NEURONS * SYNAPSES, spikes=spikes,
        synaptic_events=spikes * SYNAPSES, effective_synaptic_events=spikes * SYNAPSES,
        active_updates=NEURONS, idle_updates=0.0, spikes_per_step=one * spikes,
        events_per_step=one * spikes * SYNAPSES, updates_per_step=one * NEURONS, consumers=["tn"],
        fan_out_to={"tn": float(SYNAPSES)})}


def _placement() -> Placement:
    p = Placement("truenorth_fit", fits=True, mesh_columns=64, cores_used=4096, cores_available=4096)
    p.layers["tn"] = LayerPlacement("tn", 4096, 0, "neurons_per_core")
    p.packets[("tn", "tn")] = 1.0       # a TrueNorth neuron targets one axon: one destination core per spike
    return p


def _modelled_mw(profile, rate: float) -> float:
    est = estimate(_activity(rate), _placement(), profile)
    assert est.total_pj is not None, est.missing
    return est.total_pj * 1e-12 / TICK_S * 1e3


def test_mesh_distance_matches_the_published_hops() -> None:
    """Uniform random targets on a 64 x 64 mesh travel 21.3 + 21.3 cores (Merolla SM S7): so does our placement."""
    assert _placement().mean_hops("tn", "tn") == pytest.approx(2 * 21.33, abs=0.01)


def test_truenorth_held_out_power_is_predicted_by_the_shipped_profile() -> None:
    profile = load_profile("truenorth")
    assert 0 < profile.get("energy.synaptic_op_pj") < 26        # below the all-in 26 pJ per event of Merolla 2014
    for rate in FIT_RATES:                                       # the fitted points come back (hops 42.66 vs 42.6)
        assert _modelled_mw(profile, rate) == pytest.approx(MEASURED_MW[rate], rel=2e-3)
    predicted = _modelled_mw(profile, HELD_OUT)
    assert abs(predicted - MEASURED_MW[HELD_OUT]) / MEASURED_MW[HELD_OUT] <= TOLERANCE, predicted
    assert predicted == pytest.approx(70.62, abs=0.02)           # docs/energy_calibration.md
