"""Every fixed-point rule of tnas-deploy, in one place.

The reference simulator (`tnas_deploy.refsim`) and the Lava process models call these pure functions
and nothing else for arithmetic, so the two backends agree bit for bit by construction. All state is
int64 numpy arrays holding values of the profile's `state_bits`; saturation (never wrap-around) keeps
them in range, and each update also reports the largest magnitude it produced *before* saturation,
so compile-time calibration can prove that no saturation happens.

The TTFS neuron (Stanojevic et al. B1 neuron, discrete time) has two phases per layer:

* before the inference: u = 0, v = v_init (the bias, see `tnas_deploy.quantize`)
* integrate, during the window in which its sources spike (K steps):
      u <- sat(u + a_in)        a_in = sum of weights of the spikes arriving this step
      v <- sat(v + u)           so a spike at step k adds its weight K - k times: v = v_init + sum_j w_j q_j
* fire, during its own window (K steps), while it has not fired:
      v <- sat(v + ramp)
      spike if v > threshold    then the neuron is silent for the rest of the inference

A spike at step k of a window encodes the integer value q = K - k (earlier = larger); no spike is 0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

INT = np.int64


@dataclass(frozen=True)
class NumericFormat:
    """A chip's number formats (from the hardware profile's [format] table)."""

    weight_bits: int        # signed weight mantissa, sign included: |mantissa| <= 2**(weight_bits-1) - 1
    weight_exp_min: int     # shared per-layer weight exponent range
    weight_exp_max: int
    input_shift: int        # synaptic input enters the state shifted left by this (Loihi: 6)
    state_bits: int         # signed current/voltage state
    threshold_bits: int     # unsigned threshold mantissa
    threshold_shift: int    # threshold = mantissa << threshold_shift
    bias_mant_bits: int     # signed bias mantissa (the TTFS ramp and readout bias use the bias register)
    bias_exp_max: int       # bias = mantissa << exponent, exponent in [0, bias_exp_max]

    @property
    def weight_mant_max(self) -> int:
        return 2 ** (self.weight_bits - 1) - 1

    @property
    def state_max(self) -> int:
        return 2 ** (self.state_bits - 1) - 1

    @property
    def threshold_max(self) -> int:
        return (2 ** self.threshold_bits - 1) << self.threshold_shift

    @property
    def bias_mant_max(self) -> int:
        return 2 ** (self.bias_mant_bits - 1) - 1

    @property
    def shift_min(self) -> int:
        """Smallest total left shift of a weight mantissa into the state (exponent + input shift), >= 0."""
        return max(0, self.weight_exp_min + self.input_shift)

    @property
    def shift_max(self) -> int:
        return self.weight_exp_max + self.input_shift

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def saturate(x: np.ndarray, bits: int) -> np.ndarray:
    """Clip to the signed range of `bits` bits (the chip saturates; it never wraps)."""
    lim = 2 ** (bits - 1) - 1
    return np.clip(x, -lim, lim)


def weight_to_state(mantissa: np.ndarray, shift: int) -> np.ndarray:
    """A weight mantissa's contribution to the state: mantissa << (exponent + input_shift)."""
    return np.asarray(mantissa, dtype=INT) << INT(shift)


def bias_representable(value: int, fmt: NumericFormat) -> bool:
    """Whether `value` can be written as mantissa << exponent in the bias register."""
    for exp in range(fmt.bias_exp_max + 1):
        if value % (1 << exp) == 0 and abs(value >> exp) <= fmt.bias_mant_max:
            return True
    return False


# -- input encoding ---------------------------------------------------------------------------------

def encode_ttfs_input(x: np.ndarray, steps: int) -> np.ndarray:
    """Pixel values in [0, 1] -> spike step within the input window (`steps` means no spike).

    q = floor(x * K + 1/2) (round half up), spike at step K - q. Computed in float64, which every backend
    shares through this function.
    """
    q = np.floor(np.asarray(x, dtype=np.float64) * steps + 0.5).astype(INT)
    q = np.clip(q, 0, steps)
    return (steps - q).astype(INT)


# -- the TTFS neuron --------------------------------------------------------------------------------

def ttfs_integrate_step(u: np.ndarray, v: np.ndarray, a_in: np.ndarray, state_bits: int
                        ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """One step of the integrate phase. Returns new (u, v) and their peak magnitudes before saturation."""
    u_raw = u + a_in
    u_new = saturate(u_raw, state_bits)
    v_raw = v + u_new
    v_new = saturate(v_raw, state_bits)
    return u_new, v_new, _peak(u_raw), _peak(v_raw)


def ttfs_fire_step(v: np.ndarray, fired: np.ndarray, ramp: int, threshold: np.ndarray, state_bits: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """One step of the fire phase. Returns new v, this step's spikes, the fired mask and the peak of v.

    Neurons that already fired hold their state: a TTFS neuron spikes at most once.
    """
    active = ~fired
    v_raw = np.where(active, v + INT(ramp), v)
    v_new = saturate(v_raw, state_bits)
    spikes = active & (v_new > threshold)
    return v_new, spikes, fired | spikes, _peak(v_raw)


def ttfs_fire_closed_form(v: np.ndarray, ramp: int, threshold: np.ndarray, steps: int) -> np.ndarray:
    """The step at which `ttfs_fire_step`, applied K times from membrane `v`, fires (K if never).

    The first k >= 0 with v + ramp (k + 1) > threshold is k = max(0, floor((threshold - v) / ramp)).
    Exact only when no state can saturate on the way, which compile proves per layer (`provably_safe`);
    otherwise step with `ttfs_fire_step`.
    """
    k = np.maximum(0, np.floor_divide(threshold - v, INT(ramp)))
    return np.where(k < steps, k, steps).astype(INT)


def first_spike_step(a_in: np.ndarray, fired: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max-pooling neuron: fires once, on the first step any of its inputs spikes (earliest spike = max value)."""
    spikes = (a_in > 0) & ~fired
    return spikes, fired | spikes


def readout_value(v: np.ndarray, bias: np.ndarray, state_bits: int) -> tuple[np.ndarray, int]:
    """The readout membrane (logits, integer): integrated input plus bias, saturated."""
    raw = v + bias
    return saturate(raw, state_bits), _peak(raw)


def _peak(x: np.ndarray) -> int:
    return int(np.max(np.abs(x))) if np.size(x) else 0


# -- rate coding: the CUBA neuron (docs/rate.md) ----------------------------------------------------

#: Decays are 12-bit fractions: d = 4096 removes the whole state in one step, d = 0 keeps it.
DECAY_UNITY = 4096
#: A static image in [0, 1] is sent as graded spikes of this many levels (8-bit payloads).
RATE_INPUT_LEVELS = 255


def decay(x: np.ndarray, d: int) -> np.ndarray:
    """Loihi's decay: sign(x) * ((|x| * (4096 - d)) >> 12), truncating towards zero."""
    x = np.asarray(x, dtype=INT)
    return np.sign(x) * ((np.abs(x) * INT(DECAY_UNITY - d)) >> INT(12))


@dataclass(frozen=True)
class CubaParams:
    """Integer parameters of one population of CUBA neurons (per-neuron bias, shared everything else)."""

    du: int                 # current decay, 0..4096 (4096: the current is this step's input only)
    dv: int                 # voltage decay, 0..4096 (0: IF, no leak)
    threshold: int          # spike when v > threshold
    reset_subtract: bool    # reset by subtracting the threshold (else to zero)
    state_bits: int


def cuba_step(u: np.ndarray, v: np.ndarray, a_in: np.ndarray, bias: np.ndarray, p: CubaParams
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """One step of a CUBA population. `a_in` is the synaptic input already shifted into the state.

    Returns new (u, v), the spikes, and the peak |u| and |v| before saturation (for headroom checks).
    """
    u_raw = decay(u, p.du) + a_in
    u_new = saturate(u_raw, p.state_bits)
    v_raw = decay(v, p.dv) + u_new + bias
    v_new = saturate(v_raw, p.state_bits)
    spikes = v_new > p.threshold
    if p.reset_subtract:
        v_new = np.where(spikes, v_new - INT(p.threshold), v_new)
    else:
        v_new = np.where(spikes, INT(0), v_new)
    return u_new, v_new, spikes, _peak(u_raw), _peak(v_raw)


def accumulate_step(v: np.ndarray, a_in: np.ndarray, bias: np.ndarray, state_bits: int) -> tuple[np.ndarray, int]:
    """The rate readout's membrane: a non-leaking accumulator of its input plus bias, saturated."""
    raw = v + a_in + bias
    return saturate(raw, state_bits), _peak(raw)


def encode_rate_input(x: np.ndarray) -> np.ndarray:
    """Pixel values in [0, 1] -> graded payload q = floor(255 x + 1/2), sent at each of the T input steps."""
    q = np.floor(np.asarray(x, dtype=np.float64) * RATE_INPUT_LEVELS + 0.5)
    return np.clip(q, 0, RATE_INPUT_LEVELS).astype(INT)


def encode_count_input(counts: np.ndarray) -> tuple[np.ndarray, bool]:
    """Event counts per bin -> graded payload, clipped to 255; also says whether anything was clipped."""
    c = np.asarray(counts)
    return np.clip(c, 0, RATE_INPUT_LEVELS).astype(INT), bool((c > RATE_INPUT_LEVELS).any())
