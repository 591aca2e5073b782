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

import math
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


def weight_to_state(mantissa: np.ndarray, shift: int | np.ndarray) -> np.ndarray:
    """A weight mantissa's contribution to the state: mantissa << (exponent + input_shift).

    `shift` may be an array that broadcasts against `mantissa`: precision groups give each output channel of a
    projection its own exponent (docs/fixed_point.md section 11), and a sum over one channel's synapses shifts
    like each of its terms, so the synaptic sum of a neuron is shifted by its channel's shift."""
    return np.asarray(mantissa, dtype=INT) << np.asarray(shift, dtype=INT)


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


# Closed forms of several TTFS steps. Each equals the stepwise rule it names (tests/test_headroom_fast.py steps
# both); they let the compile's headroom pass skip the steps at which nothing arrives (docs/fixed_point.md 10).

def ttfs_integrate_idle(u: np.ndarray, v: np.ndarray, steps: int, state_bits: int
                        ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """`steps` calls of `ttfs_integrate_step` with no input (a_in = 0): new (u, v) and their peaks before saturation.

    u holds, so v moves monotonically: v_j = sat(v + j u) (once saturated it stays there), and the raw values
    v_(j-1) + u are monotonic too, largest in magnitude at the first or the last step. Exact, saturation
    included, for states in range.
    """
    if steps <= 0:
        return u, v, 0, 0
    steps_ = INT(steps)
    first = v + u
    last = saturate(v + (steps_ - 1) * u, state_bits) + u
    return u, saturate(v + steps_ * u, state_bits), _peak(u), max(_peak(first), _peak(last))


def ttfs_fire_window(v: np.ndarray, ramp: int, threshold: np.ndarray, steps: int) -> tuple[np.ndarray, int]:
    """The fire window (`steps` calls of `ttfs_fire_step` from membrane v, nothing fired yet) in closed form:
    each neuron's fire step (`ttfs_fire_closed_form`, `steps` = never) and the peak |v| before saturation.

    A neuron's raw values v + ramp (k + 1) rise until it fires, then it holds: with ramp > 0 they are largest in
    magnitude at the first step or at the firing (else the last) step. Exact when that peak is within the
    state range (then nothing saturated); a larger peak means stepping is needed for the exact values.
    """
    if steps <= 0 or np.size(v) == 0:
        return np.full(np.shape(v), steps, dtype=INT), 0
    fire = ttfs_fire_closed_form(v, ramp, threshold, steps)
    top = v + INT(ramp) * (np.minimum(fire, steps - 1) + 1)
    return fire, max(_peak(v + INT(ramp)), _peak(top))


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


def accumulate_step(v: np.ndarray, a_in: np.ndarray, bias: np.ndarray, state_bits: int, dv: int = 0
                    ) -> tuple[np.ndarray, int]:
    """The rate readout's membrane: an accumulator of its input plus bias, saturated; with dv > 0 it first decays
    by Loihi's rule (`decay`), the leaky readout of genome version 3 (dv = `readout_decay(tau)`)."""
    raw = (v if dv == 0 else decay(v, dv)) + a_in + bias
    return saturate(raw, state_bits), _peak(raw)


def readout_decay(tau: float | None) -> int:
    """The 12-bit voltage decay of a leaky readout of time constant tau steps: round(4096 / tau), halves up;
    0 (no leak) without tau. tau = 1 gives 4096: the readout holds only the current step's input."""
    if tau is None:
        return 0
    return min(DECAY_UNITY, int(math.floor(DECAY_UNITY / tau + 0.5)))


def encode_rate_input(x: np.ndarray) -> np.ndarray:
    """Pixel values in [0, 1] -> graded payload q = floor(255 x + 1/2), sent at each of the T input steps."""
    q = np.floor(np.asarray(x, dtype=np.float64) * RATE_INPUT_LEVELS + 0.5)
    return np.clip(q, 0, RATE_INPUT_LEVELS).astype(INT)


def encode_count_input(counts: np.ndarray) -> tuple[np.ndarray, bool]:
    """Event counts per bin -> graded payload, clipped to 255; also says whether anything was clipped."""
    c = np.asarray(counts)
    return np.clip(c, 0, RATE_INPUT_LEVELS).astype(INT), bool((c > RATE_INPUT_LEVELS).any())


# -- blocks of CUBA steps: the same integers as calling `cuba_step` once per step ---------------------------
# The compile's headroom pass runs these over whole blocks of time (tests/test_headroom_fast.py steps both).
# Time is the first axis: a_in (steps, *population), spikes (steps, *population).

def cuba_run(u: np.ndarray, v: np.ndarray, a_in: np.ndarray, bias: np.ndarray, p: CubaParams
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """`cuba_step` once per step of a block of inputs `a_in` (steps, *population).

    Returns the final (u, v), the spikes (steps, *population) and the peaks |u| and |v| before saturation over
    the block. With an instantaneous current (du = 4096: decay(u, 4096) = 0) u is each step's input alone, so
    u for the whole block at once; without any memory (du = dv = 4096: a max-pool's OR neurons) v too. An IF
    membrane (dv = 0: decay(v, 0) = v) steps in int32 when every value provably fits (|v| <= the state limit
    and |u + bias| <= limit + max|bias|, both below 2**30); other neurons step in int64.
    """
    steps = a_in.shape[0]
    spikes = np.zeros(a_in.shape, dtype=bool)
    if steps == 0:
        return u, v, spikes, 0, 0
    if p.du != DECAY_UNITY:
        peak_u = peak_v = 0
        for k in range(steps):
            u, v, spikes[k], step_u, step_v = cuba_step(u, v, a_in[k], bias, p)
            peak_u, peak_v = max(peak_u, step_u), max(peak_v, step_v)
        return u, v, spikes, peak_u, peak_v
    lim = 2 ** (p.state_bits - 1) - 1
    bias = np.asarray(bias, dtype=INT)
    narrow = p.dv in (0, DECAY_UNITY) and p.state_bits <= 30 and _largest(bias) < 2 ** 29
    dtype = np.int32 if narrow else INT
    drive = np.empty(a_in.shape, dtype=dtype)               # u at each step, then u + bias: what v gains
    np.clip(a_in, -lim, lim, out=drive, casting="unsafe")   # in range after clipping: the cast is exact
    u_new = drive[-1].astype(INT)
    drive += bias.astype(dtype)
    peak_u = _largest(a_in)
    if p.dv == DECAY_UNITY:                                 # v = sat(u + bias) at every step: no state
        peak_v = _largest(drive)
        np.clip(drive, -lim, lim, out=drive)
        np.greater(drive, p.threshold, out=spikes)
        v_new = drive[-1].astype(INT)
        _reset(v_new, spikes[-1], p)
        return u_new, v_new, spikes, peak_u, peak_v
    top = bottom = 0
    v_now = np.asarray(v, dtype=dtype)
    for k in range(steps):
        raw = (v_now if p.dv == 0 else decay(v_now, p.dv)) + drive[k]     # decay(v, 0) = v
        top, bottom = max(top, int(raw.max())), min(bottom, int(raw.min()))
        np.clip(raw, -lim, lim, out=raw)
        np.greater(raw, p.threshold, out=spikes[k])
        _reset(raw, spikes[k], p)
        v_now = raw
    return u_new, v_now.astype(INT), spikes, peak_u, max(top, -bottom)


def _largest(x: np.ndarray) -> int:
    """max |x| of an integer array (as `_peak`), without a temporary array."""
    return max(int(np.max(x)), -int(np.min(x))) if np.size(x) else 0


def _reset(v: np.ndarray, spikes: np.ndarray, p: CubaParams) -> None:
    """`cuba_step`'s reset, in place on a fresh array (masks as 0/1 factors: cheaper than masked assignment)."""
    if p.reset_subtract:
        v -= spikes * v.dtype.type(p.threshold)
    else:
        v *= ~spikes


def cuba_constant_input(u: np.ndarray, v: np.ndarray, a_in: np.ndarray, bias: np.ndarray, p: CubaParams,
                        steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """`steps` calls of `cuba_step` with the same input `a_in` (*population); returns as `cuba_run`.

    Closed form for the IF neuron with an instantaneous current and reset to zero (du = 4096, dv = 0, v <= the
    threshold t >= 0, as after any step), which gains c = sat(a_in) + bias per step:
    * c <= 0: no spike; v_j = max(v + j c, -limit), raw values falling from v + c;
    * c > 0, t >= limit: no spike either; v_j = min(v + j c, limit), raw values rising from v + c;
    * c > 0, t < limit: the first spike at j1 = floor((t - v) / c) + 1 (raw v + j1 c), then one every
      p = floor(t / c) + 1 steps from v = 0 (raws c, 2c, ..., p c); raw values peak at the ends of each stretch.
    Neurons without memory repeat one step; other neurons are stepped (`cuba_run`).
    """
    if steps <= 0:
        return u, v, np.zeros((0,) + a_in.shape, dtype=bool), 0, 0
    threshold = INT(p.threshold)
    if p.du == DECAY_UNITY and p.dv == DECAY_UNITY:
        u, v, spikes, peak_u, peak_v = cuba_step(u, v, a_in, bias, p)
        return u, v, np.repeat(spikes[None], steps, axis=0), peak_u, peak_v
    if p.du != DECAY_UNITY or p.dv != 0 or p.reset_subtract or threshold < 0 or not bool(np.all(v <= threshold)):
        return cuba_run(u, v, np.broadcast_to(a_in[None], (steps,) + a_in.shape), bias, p)
    lim = INT(2 ** (p.state_bits - 1) - 1)
    steps_ = INT(steps)
    u_new = saturate(a_in, p.state_bits)
    c = u_new + bias
    # without a spike v moves monotonically from v towards the limit it may saturate at (clip is that limit)
    v_new = np.clip(v + steps_ * c, -lim, lim)
    last = np.clip(v + (steps_ - 1) * c, -lim, lim) + c        # the last raw value
    peak_v = _largest(v + c)                                   # the first raw value
    spikes = np.zeros((steps,) + a_in.shape, dtype=bool)
    if threshold < lim:
        rising = c > 0
        gain = np.maximum(c, 1)                                # c where it fires, 1 (unused) elsewhere
        first = (threshold - v) // gain + 1 + ~rising * (steps_ + 1)    # the first spike, 1-based (none: > steps)
        period = threshold // gain + 1
        after = np.maximum(steps_ - first, -1)                 # steps after the first spike, -1: none yet
        fired = after >= 0
        # (masks as factors: cheaper than masked assignment)
        v_new += ((np.maximum(after, 0) % period) * c - v_new) * fired
        last += (v + np.minimum(first, steps_) * c - last) * rising      # the first stretch ends here
        peak_v = max(peak_v, _largest(np.minimum(np.maximum(after, 0), period) * c))   # p c once a cycle ends
        following = np.minimum(first, steps_ + 1).astype(np.int32)    # spikes at first, first + period, ...
        period32 = np.minimum(period, steps_ + 1).astype(np.int32)    # (a period past the block: one spike)
        for k in range(steps):
            np.equal(following, k + 1, out=spikes[k])
            following += period32 * spikes[k]
    return u_new, v_new, spikes, _largest(a_in), max(peak_v, _largest(last))


# -- sigma-delta networks (docs/sdnn.md) -------------------------------------------------------------------
# Lava's fixed-point sigma-delta neuron (lava-nc 0.10 lava/proc/sdn/models.py, PySigmaDeltaModelFixed) and the
# graded synapse in front of it (lava/proc/dense/models.py, PyDenseModelBitAcc with num_message_bits > 0), as
# pure functions. Lava holds these states in int32 and neither saturates nor clips them to their 24-bit
# registers: the compile proves on calibration data that every value fits (`SDNN_ACCUMULATOR_LIMIT`, the
# profile's state bits, the payload bits), and each function reports the peak it produced so the reference
# simulator can say when a run went beyond (where the chip's result is undefined).

#: A static image in [0, 1] enters a sigma-delta network as one graded spike per pixel of this many levels.
SDNN_INPUT_LEVELS = 255
#: Lava's Dense/Sparse sum weights x payloads in int32 before the weight exponent's shift.
SDNN_ACCUMULATOR_LIMIT = 2 ** 31 - 1


def encode_sdnn_input(x: np.ndarray) -> np.ndarray:
    """Pixel values in [0, 1] -> graded payload q = floor(255 x + 1/2), sent once (the input's first delta)."""
    q = np.floor(np.asarray(x, dtype=np.float64) * SDNN_INPUT_LEVELS + 0.5)
    return np.clip(q, 0, SDNN_INPUT_LEVELS).astype(INT)


def graded_synapse(accumulated: np.ndarray, weight_exp: int) -> np.ndarray:
    """Lava's bit-accurate Dense/Sparse/Conv output from the sum of weight mantissas x graded payloads:
    `accumulated << weight_exp`, or `>> -weight_exp` (arithmetic: rounds towards minus infinity) when negative.
    It reaches the neuron one step after the spikes were sent."""
    acc = np.asarray(accumulated, dtype=INT)
    return acc << INT(weight_exp) if weight_exp > 0 else acc >> INT(-weight_exp)


def sigma_delta_step(sigma: np.ndarray, act: np.ndarray, residue: np.ndarray, a_in: np.ndarray,
                     bias: np.ndarray, vth: int, state_exp: int = 0, relu: bool = True
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """One step of Lava's fixed-point sigma-delta neuron, in Lava's order of operations:

        sigma   <- sigma + a_in                     (sigma decoder: sums the synaptic input)
        new     =  relu(sigma + bias)               (identity instead of relu when `relu` is False: UNIT mode)
        delta   =  new - act + residue              (delta encoder)
        s       =  delta if |delta| >= vth else 0   (graded spike; `vth` and `bias` as Lava's Vars hold them,
        residue <- delta - s                          i.e. already scaled by 2**(spike_exp + state_exp))
        act     <- new
        payload =  s >> state_exp                   (arithmetic shift; the dropped bits are not kept in residue)

    Returns (sigma, act, residue, payload, peak): the peak is the largest |value| among sigma, sigma + bias and
    delta this step (all int64, exact; Lava's int32 gives the same numbers while they stay below 2**31).
    No cumulative-error mode (Lava's `cum_error`): tnas-deploy does not use it.
    """
    sigma = np.asarray(sigma, dtype=INT) + np.asarray(a_in, dtype=INT)
    pre = sigma + np.asarray(bias, dtype=INT)
    new = np.maximum(pre, 0) if relu else pre
    delta = new - np.asarray(act, dtype=INT) + np.asarray(residue, dtype=INT)
    s = np.where(np.abs(delta) >= INT(vth), delta, INT(0))
    residue = delta - s
    payload = s >> INT(state_exp)
    peak = max(_largest(sigma), _largest(pre), _largest(delta))
    return sigma, new, residue, payload, peak


def delta_encode_step(act: np.ndarray, residue: np.ndarray, new: np.ndarray, vth: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The delta encoder alone (a max-pool of reconstructed activations sends its changes this way; vth 0 sends
    every change): returns (act, residue, s) as `sigma_delta_step` computes them, without the shift."""
    new = np.asarray(new, dtype=INT)
    delta = new - np.asarray(act, dtype=INT) + np.asarray(residue, dtype=INT)
    s = np.where(np.abs(delta) >= INT(vth), delta, INT(0))
    return new, delta - s, s
