"""Validation of the energy model against a published measurement (docs/energy_validation.md).

TrueNorth's probabilistic benchmark network (Merolla et al., Science 2014, SM S7; Akopyan et al., IEEE TCAD
34(10) 2015, Fig. 17): all 4,096 cores x 256 neurons, 128 active synapses per neuron, targets uniformly
random over the 64 x 64 core mesh, 1 ms ticks. Measured chip power at 0.8 V: 68, 71 and 94 mW at mean
firing rates 11.58, 20.07 and 95.93 Hz.

TrueNorth publishes no per-synaptic-event energy, so two numbers are fitted on the 11.58 Hz and 95.93 Hz
points: the energy of one synaptic event and the power floor (leakage plus the per-tick neuron updates).
The hop energy (2.3 pJ) and the hop distances come from the published chip and our placement. The
model then predicts the held-out 20.07 Hz point, end to end through `tnas_deploy.energy.model.estimate`.
"""
from __future__ import annotations

from pathlib import Path

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
    return p


def _fitted_profile(tmp_path: Path, synaptic_pj: float, floor_mw: float) -> object:
    base = load_profile("truenorth")
    hop = base.quantities["energy.spike_hop_pj"]
    text = f"""
[profile]
name = "truenorth_fit"
chip = "TrueNorth, two numbers fitted to Akopyan et al. 2015 Fig. 17 (0.8 V)"
kind = "neuromorphic"
[resources]
cores = {{ value = 4096, source = "Merolla et al. 2014" }}
neurons_per_core = {{ value = 256, source = "Merolla et al. 2014" }}
mesh_columns = {{ value = 64, source = "Akopyan et al. 2015, 64 x 64 array" }}
[energy]
synaptic_op_pj = {{ value = {synaptic_pj!r}, estimate = "fitted on the 11.58 and 95.93 Hz points" }}
spike_hop_pj = {{ value = {hop.value!r}, source = "{hop.source}" }}
spike_in_core_pj = {{ value = 0, estimate = "not priced separately; inside the fitted synaptic energy" }}
neuron_update_active_pj = {{ value = 0, estimate = "per-tick updates are inside the fitted power floor" }}
neuron_update_idle_pj = {{ value = 0, estimate = "per-tick updates are inside the fitted power floor" }}
static_power_mw = {{ value = {floor_mw!r}, estimate = "fitted on the 11.58 and 95.93 Hz points" }}
[time]
fixed_step_ns = {{ value = 1000000, source = "Merolla et al. 2014: 1 ms ticks" }}
"""
    path = tmp_path / "truenorth_fit.toml"
    path.write_text(text)
    return load_profile(str(path))


def _modelled_mw(profile, rate: float) -> float:
    est = estimate(_activity(rate), _placement(), profile)
    assert est.total_pj is not None, est.missing
    return est.total_pj * 1e-12 / TICK_S * 1e3


def _fit() -> tuple[float, float]:
    """Solve P(r) = floor + r N (128 E_syn + hops E_hop) on the two fit points (closed form)."""
    hops = _placement().mean_hops("tn", "tn")
    hop_pj = load_profile("truenorth").get("energy.spike_hop_pj")
    (r1, r2) = FIT_RATES
    slope_mw_per_hz = (MEASURED_MW[r2] - MEASURED_MW[r1]) / (r2 - r1)
    per_spike_pj = slope_mw_per_hz * 1e-3 / NEURONS * 1e12          # energy per spike, all of it dynamic
    synaptic_pj = (per_spike_pj - hops * hop_pj) / SYNAPSES
    floor_mw = MEASURED_MW[r1] - slope_mw_per_hz * r1
    return synaptic_pj, floor_mw


def test_mesh_distance_matches_the_published_hops() -> None:
    """Uniform random targets on a 64 x 64 mesh travel 21.3 + 21.3 cores (Merolla SM S7): so does our placement."""
    assert _placement().mean_hops("tn", "tn") == pytest.approx(2 * 21.33, abs=0.01)


def test_truenorth_held_out_power_is_predicted(tmp_path) -> None:
    synaptic_pj, floor_mw = _fit()
    assert 0 < synaptic_pj < 26                     # below the all-in 26 pJ per event of Merolla 2014
    profile = _fitted_profile(tmp_path, synaptic_pj, floor_mw)
    for rate in FIT_RATES:                          # the fitted points come back (the model is the fitted form)
        assert _modelled_mw(profile, rate) == pytest.approx(MEASURED_MW[rate], rel=1e-9)
    predicted = _modelled_mw(profile, HELD_OUT)
    assert abs(predicted - MEASURED_MW[HELD_OUT]) / MEASURED_MW[HELD_OUT] <= TOLERANCE, predicted
