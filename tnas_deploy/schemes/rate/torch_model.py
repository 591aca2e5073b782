"""The float (PyTorch) model of a rate-coded genome: docs/rate.md sections 1, 2, 4 and 6, in float.

This is the network users train (surrogate gradients) and the float reference the lowered and integer
simulators are compared against, so it follows the page to the letter:

* time is chip time: every *population* (the input, every node with a neuron, every `maxpool2d` of a
  population's spikes) emits at step t and its consumers see the emission at step t + 1;
* nodes without a neuron (conv2d, dense, batchnorm, avgpool2d, flatten, add, concat, and a maxpool2d of
  analog values) are evaluated within a step;
* a recurrent edge reads its source one step earlier than a forward edge would, and the source's *rest
  value* (biases only, no population has spiked) at step 0; it is added to its destination's output; a
  `same_step` one (version 3) reads its source in the same step, evaluated first (`_step_order`);
* the input emits the sample at steps 0 .. T-1 and the network runs for T + D steps (`run_length`);
* a leaky membrane readout (version 3, readout tau) keeps 1 - 1/tau of its value per step.

The neuron maths are pure functions (`neuron_step`, `spike`); `RateSNN` is a thin graph walker on top.
Parameters are named `layers.<node id>.<tensor>` (PyTorch's own names), as in `tnas_deploy.ann`, so the
weights file of a genome loads into both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import DeployError
from ...genome import Genome
from ...genome import nodes as N
from ...torch_weights import NodeWeights
from ...weights import Weights

#: SpikingJelly's default ATan surrogate sharpness.
SURROGATE_ALPHA = 2.0


# -- neuron maths (pure functions) -----------------------------------------------------------------
class ATanHeaviside(torch.autograd.Function):
    """Heaviside step H(x) = [x > 0] forward; SpikingJelly's ATan surrogate gradient backward:
    dH/dx ~ alpha/2 / (1 + (pi/2 * alpha * x)^2)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x > 0).to(x.dtype)        # strictly greater: v == threshold does not spike (as on Loihi)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        alpha = ctx.alpha
        return grad * (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2), None


def spike(x: torch.Tensor, alpha: float = SURROGATE_ALPHA) -> torch.Tensor:
    """1.0 where x > 0, else 0.0, with the ATan surrogate gradient."""
    return ATanHeaviside.apply(x, alpha)


@dataclass(frozen=True)
class NeuronParams:
    """docs/rate.md section 2, read off a genome `NeuronSpec`."""

    model: str = "if"                  # "if" | "lif"
    threshold: float = 1.0
    reset: str = "zero"                # "zero" | "subtract"
    tau: float | None = None           # membrane time constant (LIF)
    decay_input: bool = True           # LIF input gain 1/tau (SpikingJelly's default) instead of 1
    tau_current: float | None = None   # None: instantaneous current u[t] = I[t]

    @staticmethod
    def from_spec(spec: N.NeuronSpec) -> "NeuronParams":
        if spec.model not in ("if", "lif"):
            raise ValueError(f"a rate-coded network needs 'if' or 'lif' neurons, got {spec.model!r}")
        return NeuronParams(spec.model, spec.threshold, spec.reset, spec.tau, spec.decay_input, spec.tau_current)

    @property
    def v_keep(self) -> float:
        """Fraction of v kept from one step to the next: 1 - 1/tau for LIF, 1 for IF (no leak)."""
        return 1.0 - 1.0 / self.tau if self.model == "lif" else 1.0  # type: ignore[operator]

    @property
    def gain(self) -> float:
        """Input gain g: 1/tau for a LIF with decay_input, otherwise 1."""
        return 1.0 / self.tau if self.model == "lif" and self.decay_input else 1.0  # type: ignore[operator]


class NeuronState(NamedTuple):
    u: torch.Tensor      # synaptic current
    v: torch.Tensor      # membrane potential


def neuron_step(i: torch.Tensor, state: NeuronState, p: NeuronParams) -> tuple[torch.Tensor, NeuronState]:
    """One step of docs/rate.md section 2: returns (spikes, new state) for pre-value (input current) `i`."""
    u = i if p.tau_current is None else state.u * (1.0 - 1.0 / p.tau_current) + i
    # Multiplying by exactly 1.0 is exact, but skip it anyway so IF is literally v + u.
    v = state.v + u if p.model == "if" else state.v * p.v_keep + p.gain * u
    s = spike(v - p.threshold)
    # Reset through s (not detached, as SpikingJelly's default) so the surrogate also sees the reset.
    v = v * (1.0 - s) if p.reset == "zero" else v - p.threshold * s
    return s, NeuronState(u, v)


# -- graph queries used by the float model, the lowering and the simulators ------------------------
def population_ids(genome: Genome) -> list[str]:
    """Ids of the populations (docs/rate.md section 1), in the genome's topological order: the input,
    every node carrying a neuron, and every maxpool2d whose input is a population (OR of spikes)."""
    pops: list[str] = []
    for node_id in genome.order:
        node = genome.by_id[node_id]
        if isinstance(node, N.Input) or node.neuron is not None:
            pops.append(node_id)
        elif isinstance(node, N.MaxPool2d) and node.forward_inputs[0] in pops:
            pops.append(node_id)
    return pops


def forward_delay(genome: Genome) -> int:
    """D: the longest chain of forward population hops from the input to the readout.

    arrival(x) = 0 for the input; arrival(n) = max over forward inputs s of arrival(s) + [s is a
    population]. A membrane readout sums its input's value, so D = arrival(readout) (the last population
    hop into the readout's linear chain counts); a spike_count readout counts its population's emissions
    as they happen, so D = arrival(that population). Recurrent edges never lengthen the run.
    """
    pops = set(population_ids(genome))
    arrival: dict[str, int] = {}
    for node_id in genome.order:
        sources = genome.by_id[node_id].forward_inputs
        arrival[node_id] = max((arrival[s] + (s in pops) for s in sources), default=0)
    readout = genome.readout
    if readout.mode == "spike_count":
        return arrival[readout.forward_inputs[0]]
    return arrival[readout.id]


def run_length(genome: Genome) -> int:
    """Number of steps a rate genome runs: T + D (docs/rate.md section 1)."""
    return int(genome.steps) + forward_delay(genome)


# -- the module ------------------------------------------------------------------------------------
class RateSNN(NodeWeights):
    """A rate-coded genome in float, stepped in chip time. Build it with `build_rate_snn`.

    A maxpool2d of analog values (its input is not a population) is evaluated within a step, as PyTorch's
    max-pooling; compile refuses it (docs/rate.md section 4), so such a network trains here but does not
    deploy without `--analog-maxpool avgpool`.
    """

    def __init__(self, genome: Genome):
        super().__init__()
        if genome.coding != "rate":
            raise ValueError(f"build_rate_snn needs a rate-coded genome, got coding {genome.coding!r}")
        self.genome = genome
        self.steps = int(genome.steps)
        self.run_steps = run_length(genome)
        self.populations: list[str] = population_ids(genome)
        self._pop_set = set(self.populations)
        self.neurons: dict[str, NeuronParams] = {
            n.id: NeuronParams.from_spec(n.neuron) for n in genome.nodes if n.neuron is not None}
        readout = genome.readout
        self.readout_mode: str = readout.mode
        self.readout_source: str = readout.forward_inputs[0]
        #: the share a leaky membrane readout (genome version 3, readout tau) keeps per step; None: no leak
        self.readout_keep: float | None = None if readout.tau is None else 1.0 - 1.0 / readout.tau
        if self.readout_mode == "spike_count" and self.readout_source not in self._pop_set:
            raise ValueError(f"readout mode spike_count needs a population as input, "
                             f"{self.readout_source!r} has no neuron")
        # Only these nodes' previous values are needed (sources of recurrent edges read one step later).
        self._recurrent_sources = sorted({e.source for n in genome.nodes for e in n.inputs
                                          if e.recurrent and not e.same_step})
        self._step_order = _step_order(genome, self._pop_set)
        self._rest_order = _rest_order(genome, self._pop_set)
        self.layers = nn.ModuleDict()
        for node in genome.nodes:
            module = _module_for(node, genome)
            if module is not None:
                self.layers[node.id] = module
        # Follows .double()/.float() so inputs and states take the model's dtype; not part of the weights.
        self.register_buffer("_dtype_probe", torch.zeros(()), persistent=False)

    # -- one node's within-step operation ------------------------------------------------------------
    def _op(self, node: N.Node, args: list[torch.Tensor], rest_pass: bool = False) -> torch.Tensor:
        """The node's output from its forward inputs' values (before any recurrent input or neuron)."""
        if isinstance(node, N.BatchNorm) and rest_pass:
            # The rest value is the inference batchnorm's: batch statistics of a constant are meaningless
            # and must not pollute the running statistics.
            bn = self.layers[node.id]
            return F.batch_norm(args[0], bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        if node.id in self.layers:
            return self.layers[node.id](args[0])
        if isinstance(node, N.MaxPool2d):
            return F.max_pool2d(args[0], node.kernel, node.stride)
        if isinstance(node, N.AvgPool2d):
            return F.avg_pool2d(args[0], node.kernel, node.stride, node.padding, count_include_pad=True)
        if isinstance(node, (N.Flatten, N.Readout)):
            return args[0].flatten(1)
        if isinstance(node, N.Add):
            return torch.stack(args).sum(0)
        if isinstance(node, N.Concat):
            return torch.cat(args, dim=1)
        if node.type_tag == "neuron":
            return args[0]
        raise TypeError(f"node type {node.type_tag!r} has no rate-coded float model")  # pragma: no cover

    def _value(self, node: N.Node, seen: dict[str, torch.Tensor], previous: dict[str, torch.Tensor],
               rest_pass: bool = False) -> torch.Tensor:
        """op(forward inputs as seen now) + the recurrent inputs' previous values (docs/rate.md 1), or their
        values now for a same_step edge."""
        y = self._op(node, [seen[s] for s in node.forward_inputs], rest_pass)
        for e in node.inputs:
            if e.recurrent:
                y = y + (seen if e.same_step else previous)[e.source]
        return y

    def rest_values(self) -> dict[str, torch.Tensor]:
        """Every node's rest value, shape (1, *shape): populations 0 (nothing has spiked, the input is
        silent), other nodes their output from biases alone (recurrent inputs at their own rest values)."""
        dtype = self._dtype_probe.dtype
        device = self._dtype_probe.device
        rest: dict[str, torch.Tensor] = {}
        for node_id in self._rest_order:
            if node_id in self._pop_set:
                rest[node_id] = torch.zeros((1, *self.genome.shapes[node_id]), dtype=dtype, device=device)
            else:
                rest[node_id] = self._value(self.genome.by_id[node_id], rest, rest, rest_pass=True)
        return rest

    # -- forward ------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, record: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits (B, classes) for x of shape (B, *input_shape) (a static image, emitted at every one of
        steps 0..T-1) or (B, T, *input_shape) (input of step t at x[:, t]).

        With `record=True` also returns {population id: emissions (B, T + D, *shape)} (for the input, the
        values it emits)."""
        genome = self.genome
        in_shape = tuple(genome.task.input_shape)
        x = x.to(self._dtype_probe.dtype)
        if tuple(x.shape[1:]) == in_shape:
            frames = None
        elif x.dim() == len(in_shape) + 2 and tuple(x.shape[2:]) == in_shape:
            if x.shape[1] != self.steps:
                raise ValueError(f"time-varying input has {x.shape[1]} steps, the genome says T = {self.steps}")
            frames = x
        else:
            raise ValueError(f"expected input of shape (B, {', '.join(map(str, in_shape))}) or "
                             f"(B, {self.steps}, {', '.join(map(str, in_shape))}), got {tuple(x.shape)}")
        batch = x.shape[0]
        zeros = {p: x.new_zeros((batch, *genome.shapes[p])) for p in self.populations}
        emitted = dict(zeros)                                   # each population's emission at step t - 1
        states = {nid: NeuronState(zeros[nid], zeros[nid]) for nid in self.neurons}
        previous = self.rest_values() if self._recurrent_sources else {}   # values at step t - 1
        logits = x.new_zeros((batch, len(genome.task.names)))
        trace: dict[str, list[torch.Tensor]] = {p: [] for p in self.populations} if record else {}
        input_id = genome.input_node.id
        for t in range(self.run_steps):
            # what forward consumers see at step t: a population's emission of step t - 1 (one step of delay per
            # population hop), known before any node of step t is evaluated
            seen: dict[str, torch.Tensor] = {p: emitted[p] for p in self.populations}
            emitting: dict[str, torch.Tensor] = {}  # what populations emit at step t
            for node_id in self._step_order:
                node = genome.by_id[node_id]
                if node_id not in self._pop_set:
                    seen[node_id] = self._value(node, seen, previous)
                    continue
                if node_id == input_id:
                    out = (x if frames is None else frames[:, t]) if t < self.steps else zeros[node_id]
                elif node.neuron is None:           # maxpool2d of spikes: OR within the window
                    out = F.max_pool2d(seen[node.forward_inputs[0]], node.kernel, node.stride)
                else:
                    out, states[node_id] = neuron_step(self._value(node, seen, previous), states[node_id],
                                                       self.neurons[node_id])
                emitting[node_id] = out
            if self.readout_mode == "spike_count":
                logits = logits + emitting[self.readout_source].flatten(1)
            elif self.readout_keep is None:
                logits = logits + seen[self.readout_source].flatten(1)
            else:
                logits = logits * self.readout_keep + seen[self.readout_source].flatten(1)
            if record:
                for p in self.populations:
                    trace[p].append(emitting[p])
            emitted = emitting
            # A recurrent edge at step t + 1 reads what a forward edge read at step t.
            previous = {s: seen[s] for s in self._recurrent_sources}
        if self.training:
            for module in self.layers.values():
                if isinstance(module, _RunStatsMixin):
                    module.end_run()
        if record:
            return logits, {p: torch.stack(v, dim=1) for p, v in trace.items()}
        return logits

    # -- weights ------------------------------------------------------------------------------------
    def load_weights(self, weights: Weights) -> "RateSNN":
        """Load the tensors the model has; others (e.g. of nodes a genome no longer has) are skipped."""
        own = self.state_dict()
        return super().load_weights({nid: {name: arr for name, arr in tensors.items()
                                           if f"layers.{nid}.{name}" in own}
                                     for nid, tensors in weights.items()})


class _RunStatsMixin:
    """Batch normalisation for networks stepped in time.

    PyTorch's training-mode batchnorm normalises each step with that step's batch statistics, but the
    deployed network applies one affine map at every step (the inference form). Steps differ a lot (the
    input is silent for the last D steps and the first step sees no spikes), so per-step statistics would
    train a different network than the one evaluated. This batchnorm therefore normalises with its
    running statistics in training too, and updates them once per run (`end_run`) from the statistics
    pooled over every step of the batch: training and evaluation compute the same function.
    """

    running_mean: torch.Tensor
    running_var: torch.Tensor
    num_batches_tracked: torch.Tensor
    momentum: float | None
    eps: float
    weight: torch.Tensor
    bias: torch.Tensor
    training: bool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            dims = [0, *range(2, x.dim())]
            with torch.no_grad():
                sums = getattr(self, "_sums", None)
                stats = torch.stack([x.sum(dims), (x * x).sum(dims)])
                self._sums = stats if sums is None else sums + stats
                self._count = getattr(self, "_count", 0) + x.numel() // x.shape[1]
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)

    @torch.no_grad()
    def end_run(self) -> None:
        """Fold the statistics pooled over the run just finished into the running statistics."""
        sums = getattr(self, "_sums", None)
        if sums is None:
            return
        n = self._count
        mean = sums[0] / n
        var = (sums[1] / n - mean * mean).clamp_min(0) * (n / max(n - 1, 1))   # unbiased, as PyTorch
        m = 0.1 if self.momentum is None else self.momentum
        # Out of place: this run's autograd graph still holds the statistics it normalised with.
        self.running_mean = self.running_mean * (1 - m) + m * mean
        self.running_var = self.running_var * (1 - m) + m * var
        self.num_batches_tracked.add_(1)
        self._sums, self._count = None, 0


class RunBatchNorm1d(_RunStatsMixin, nn.BatchNorm1d):
    """`nn.BatchNorm1d` whose training mode matches its inference form (see `_RunStatsMixin`)."""


class RunBatchNorm2d(_RunStatsMixin, nn.BatchNorm2d):
    """`nn.BatchNorm2d` whose training mode matches its inference form (see `_RunStatsMixin`)."""


def _module_for(node: N.Node, genome: Genome) -> nn.Module | None:
    """The trainable PyTorch layer of a node with weights (named as in the weights file), else None."""
    if not node.forward_inputs:
        return None
    in_shape = genome.shapes[node.forward_inputs[0]]
    if isinstance(node, N.Conv2d):
        return nn.Conv2d(in_shape[0], node.out_channels, node.kernel, node.stride, node.padding, bias=node.bias)
    if isinstance(node, N.Dense):
        return nn.Linear(in_shape[0], node.units, bias=node.bias)
    if isinstance(node, N.BatchNorm):
        cls = RunBatchNorm2d if len(in_shape) == 3 else RunBatchNorm1d
        return cls(in_shape[0], eps=node.eps)
    return None


def _step_order(genome: Genome, populations: set[str]) -> list[str]:
    """The order in which one step evaluates the nodes: the genome's order, or with same_step backward edges an
    order that puts each such edge's source before the node it enters (a population's value at a step is its
    previous emission, so an edge from a population never orders anything)."""
    if not any(e.same_step for n in genome.nodes for e in n.inputs):
        return list(genome.order)
    needs = {n.id: {e.source for e in n.inputs if (not e.recurrent or e.same_step) and e.source not in populations}
             for n in genome.nodes}
    position = {node_id: k for k, node_id in enumerate(genome.order)}
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(needs):
        ready = sorted((n for n in needs if n not in done and needs[n] <= done), key=position.__getitem__)
        if not ready:   # pragma: no cover - the compile refuses a loop through no neuron first
            raise ValueError(f"a loop through no neuron among {sorted(set(needs) - done)}")
        order.extend(ready)
        done.update(ready)
    return order


def _rest_order(genome: Genome, populations: set[str]) -> list[str]:
    """An evaluation order for rest values: a node needs every non-population input (forward or
    recurrent) first; populations rest at 0 and need nothing. A cycle here is a loop of backward edges
    through no neuron, an infinite linear recurrence with no rest value (compile refuses it too)."""
    needs = {n.id: {e.source for e in n.inputs if e.source not in populations} if n.id not in populations
             else set() for n in genome.nodes}
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(needs):
        ready = [n.id for n in genome.nodes if n.id not in done and needs[n.id] <= done]
        if not ready:
            loop = sorted(set(needs) - done)
            raise ValueError(f"a loop of recurrent edges through no neuron among {loop}: an infinite linear "
                             "recurrence has no rest value")
        order.extend(ready)
        done.update(ready)
    return order


def build_rate_snn(genome: Genome, weights: Weights | None = None) -> RateSNN:
    """The float model of a rate-coded genome, in eval mode, float32 (call `.double()` for float64), with
    `weights` (as returned by `tnas_deploy.weights.load_weights`) loaded if given; otherwise PyTorch's
    default initialisation under the caller's seed. Call `.train()` before training."""
    delayed = next(((k, j) for k, n in enumerate(genome.nodes) for j, e in enumerate(n.inputs) if e.delayed), None)
    if delayed is not None:
        k, j = delayed
        raise DeployError("the float SNN (torch) has no axonal delays; the reference simulator runs them "
                          "(`tnas-deploy run`)", genome.source, f"nodes[{k}] (id {genome.nodes[k].id!r}).inputs[{j}]")
    model = RateSNN(genome)
    if weights is not None:
        model.load_weights(weights)
    return model.eval()


__all__ = ["ATanHeaviside", "NeuronParams", "NeuronState", "RateSNN", "build_rate_snn", "forward_delay",
           "neuron_step", "population_ids", "run_length", "spike"]
