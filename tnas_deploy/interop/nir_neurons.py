"""The genome neuron of a NIR neuron node, stepped with forward Euler at dt seconds per step, and the parameter
readers the NIR importer shares (one value per node, time constants in steps).

    LIF      tau dv/dt = v_leak - v + R I       ->  v <- (1 - dt/tau) v + (R dt/tau) I
    IF           dv/dt = R I                    ->  v <- v + R dt I
    CubaLIF  tau_syn dI/dt = -I + w_in x        ->  I <- (1 - dt/tau_syn) I + (dt/tau_syn) w_in x, then v as LIF
                                                    with the new I (snnTorch's Synaptic order)
    Threshold                                   ->  a LIF with tau = 1 step: v = its input, spikes if v > threshold
    LI       tau dv/dt = v_leak - v + R I       ->  v <- (1 - dt/tau) v + (R dt/tau) I: the genome's leaky membrane
                                                    readout (version 3) with tau' = tau / dt, R dt/tau folded into the
                                                    weights; with tau = dt (v = R I, no memory) the sum over the run

which is the genome's neuron (docs/rate.md section 2) with tau' = tau / dt steps: decay_input when R = 1
(input gain dt/tau = 1/tau'), otherwise no input decay and the gain folded into the threshold (a neuron that
resets to zero is unchanged when its input and threshold are scaled alike).
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import DeployError
from .nir_common import RATE_EXTENSION

#: Relative tolerance for "this gain is 1" (float round trips of dt products).
REL = 1e-9

Fail = Callable[..., DeployError]


def read_record(obj: Any) -> dict[str, Any]:
    """A `tnas_deploy.rate` metadata record (a JSON text, or bytes of one) as a dict; {} when it is not one."""
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, bytes):
        obj = obj.decode("utf-8", "replace")
    if isinstance(obj, str):
        try:
            value = json.loads(obj)
        except (ValueError, RecursionError):     # unreadable or absurdly nested: not our record
            return {}
        return value if isinstance(value, dict) else {}
    return {}


def uniform(value: Any, param: str, n: str, fail: Fail, shape: tuple[int, ...] | None = None) -> float:
    """The one value of a per-neuron parameter (a genome node has one neuron for all its units)."""
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise fail(n, f"expected finite numbers, got {np.asarray(value).tolist()!r}", param)
    if shape is not None and arr.size not in (1, int(np.prod(shape))):
        raise fail(n, f"{arr.size} values for {int(np.prod(shape))} neurons", param)
    if not np.all(arr == arr[0]):
        raise fail(n, f"per-neuron values from {arr.min():g} to {arr.max():g}; a genome node has one {param} for all "
                   "its neurons", param)
    return float(arr[0])


def in_steps(value: float) -> float:
    """A time constant in steps, without the float noise of tau / dt (1e-3 / 1e-4 = 10.000000000000002)."""
    nice = float(f"{value:.12g}")
    return nice if math.isclose(nice, value, rel_tol=1e-12) else value


def time_constant(node, key: str, n: str, dt: float, fail: Fail, shape: tuple[int, ...]) -> float:
    """A NIR time constant (seconds) in steps of dt; at least one step (forward Euler overshoots below it)."""
    tau = in_steps(uniform(getattr(node, key), key, n, fail, shape) / dt)
    if tau < 1:
        raise fail(n, f"{key} is {tau:g} steps of dt = {dt:g} s; the genome needs at least one step (forward Euler "
                   "overshoots below it)", key)
    return tau


def no_leak_potential(node, n: str, fail: Fail, shape: tuple[int, ...]) -> None:
    leak = uniform(node.v_leak, "v_leak", n, fail, shape)
    if leak != 0:
        raise fail(n, f"v_leak {leak:g}: the genome's neurons rest at 0 (a leak towards another potential is a "
                   "constant input the producer's initial state also depends on)", "v_leak")


def neuron_spec(node, n: str, mult: float, shape: tuple[int, ...], dt: float | None, fail: Fail) -> dict[str, Any]:
    """The genome neuron for NIR neuron node `node` whose input is `mult` x the genome value it reads."""
    import nir

    if mult <= 0:
        raise fail(n, f"its input is scaled by {mult:g} <= 0 before the neuron", "inputs")
    if isinstance(node, nir.Threshold):
        theta = uniform(node.threshold, "threshold", n, fail, shape)
        return {"model": "lif", "tau": 1.0, "threshold": positive(theta / mult, n, fail, "threshold"),
                "reset": "zero"}
    theta = uniform(node.v_threshold, "v_threshold", n, fail, shape)
    reset = uniform(node.v_reset, "v_reset", n, fail, shape)
    if reset != 0:
        raise fail(n, f"v_reset {reset:g}: the genome's neurons reset to 0", "v_reset")
    r = uniform(node.r, "r", n, fail, shape)
    if dt is None:
        raise fail(n, "continuous-time neuron: pass --dt, the time step (seconds) the producer simulated it with; "
                   "tnas-deploy steps it with forward Euler (docs/interop.md)", "tau" if not isinstance(node, nir.IF) else "r")
    recorded = read_record((node.metadata or {}).get(RATE_EXTENSION)).get("neuron") \
        if isinstance(node.metadata, dict) else None
    if isinstance(node, nir.IF):
        gain = mult * r * dt
        spec = {"model": "if", "threshold": positive(divide(theta, gain), n, fail, "v_threshold"), "reset": "zero"}
    else:
        no_leak_potential(node, n, fail, shape)
        tau = time_constant(node, "tau" if isinstance(node, nir.LIF) else "tau_mem", n, dt, fail, shape)
        decay_input = math.isclose(r, 1.0, rel_tol=REL)
        gain = mult * (1.0 if decay_input else r / tau)
        spec = {"model": "lif", "tau": tau, "decay_input": decay_input, "reset": "zero"}
        if isinstance(node, nir.CubaLIF):
            tau_c = time_constant(node, "tau_syn", n, dt, fail, shape)
            gain *= uniform(node.w_in, "w_in", n, fail, shape) / tau_c
            spec["tau_current"] = tau_c
        spec["threshold"] = positive(divide(theta, gain), n, fail, "v_threshold")
    if isinstance(recorded, dict) and same_neuron(recorded, spec):
        return dict(recorded)           # tnas-deploy's own record: the exact values, without float round-off
    return spec


def li_readout(node, n: str, shape: tuple[int, ...], dt: float | None, fail: Fail) -> tuple[float, float | None]:
    """An LI readout as (the gain folded into the weights before it, the genome readout's tau in steps or None).

    tau = dt: no memory (v = R I each step), read as the membrane readout's sum over the run: (R, None).
    tau > dt: v keeps 1 - 1/tau' per step (tau' = tau / dt steps) and adds (R / tau') I, which is the genome's
    leaky membrane readout (docs/genome.md 12.4) fed R / tau' times the input: (R / tau', tau'); its value after
    the run is the LI's last membrane."""
    if dt is None:
        raise fail(n, "the leaky integrator is continuous-time; pass --dt (seconds per step)", "tau")
    no_leak_potential(node, n, fail, shape)
    tau = time_constant(node, "tau", n, dt, fail, shape)
    r = uniform(node.r, "r", n, fail, shape)
    if tau == 1:
        return r, None
    recorded = read_record((node.metadata or {}).get(RATE_EXTENSION)).get("tau") \
        if isinstance(node.metadata, dict) else None
    if isinstance(recorded, (int, float)) and math.isclose(recorded, tau, rel_tol=1e-9):
        tau = float(recorded)           # tnas-deploy's own record: the exact value, without float round-off
    gain = r / tau
    return (1.0 if math.isclose(gain, 1.0, rel_tol=REL) else gain), tau


def divide(theta: float, gain: float) -> float:
    return theta if math.isclose(gain, 1.0, rel_tol=REL) else theta / gain


def positive(value: float, n: str, fail: Fail, param: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise fail(n, f"the threshold in the genome's units would be {value:g}; it must be > 0", param)
    return float(value)


def same_neuron(recorded: dict[str, Any], spec: dict[str, Any]) -> bool:
    for key in ("model", "reset", "decay_input"):
        if key in spec and recorded.get(key, spec[key]) != spec[key]:
            return False
    for key in ("tau", "threshold", "tau_current"):
        a, b = recorded.get(key), spec.get(key)
        if (a is None) != (b is None) or (a is not None and not math.isclose(a, b, rel_tol=1e-9)):
            return False
    return True


__all__ = ["REL", "divide", "in_steps", "li_readout", "neuron_spec", "no_leak_potential", "positive", "read_record",
           "same_neuron", "time_constant", "uniform"]
