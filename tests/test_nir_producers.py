"""NIR graphs as snnTorch, Norse and Sinabs export them (built with the `nir` package), imported and checked
against `producer_run`, a small numpy reference of NIR's equations as the nir package documents them, stepped
as those producers step them: forward Euler at dt, every node evaluated within the step, an edge that closes a
cycle reading its source's previous step.

What holds: the float model of an imported graph without biases gives the producer's spike counts (and its spike
trains, shifted one step per hop), for a recurrent graph too (its loop through one population becomes a backward
edge read in the same step, genome version 3, one step round the loop as in the producer); a leaky LI readout
gives the producer's last membrane; the integer reference simulator of the compiled genome stays within the
stated tolerance of them; every refusal is one line naming the node and the parameter.
"""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from tnas_deploy.cli import main
from tnas_deploy.compilation import CompileInputs
from tnas_deploy.compiler import compile_network
from tnas_deploy.genome import genome_from_json
from tnas_deploy.interop.nir_import import graph_to_genome
from tnas_deploy.profiles import load_profile
from tnas_deploy.runner import simulate
from tnas_deploy.schemes.rate.nir import rate_genome_to_nir
from tnas_deploy.schemes.rate.torch_model import build_rate_snn
from tnas_deploy.weights import check_weights, save_weights

STEPS = 12


# -- the producers' semantics, in numpy ----------------------------------------------------------------------

def _windows(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """(B, C, H', W', kh, kw) windows of x (B, C, H, W) with zero padding."""
    ph, pw = padding
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    return sliding_window_view(x, tuple(kernel), axis=(2, 3))[:, :, ::stride[0], ::stride[1]]


def _pair(v) -> tuple[int, int]:
    a = np.asarray(v).reshape(-1)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def producer_run(graph: nir.NIRGraph, x: np.ndarray, steps: int, dt: float, back: tuple = (),
                 loop_delay: int = 1) -> dict[str, np.ndarray]:
    """Every node's output per step, shape (steps, B, ...), for a flat graph and a static input x (B, ...).

    Per step, in topological order of the edges not in `back`: Affine W x + b; Linear W x; Conv2d; SumPool2d /
    AvgPool2d; Flatten; Scale; and the neurons of nir/ir/neuron.py with forward Euler at dt:
        IF       v += dt R I                                  spike v > v_threshold, then v = v_reset
        LIF      v += dt / tau (v_leak - v + R I)             spike and reset as IF
        CubaLIF  I_s += dt / tau_syn (w_in x - I_s), then v += dt / tau_mem (v_leak - v + R I_s) with the new I_s
        LI       v += dt / tau (v_leak - v + R I)             output v
        I        v += dt R I                                  output v
    An edge in `back` delivers its source's output of `loop_delay` steps before (0 before the first)."""
    fwd = [tuple(e) for e in graph.edges if tuple(e) not in back]
    order: list[str] = []
    while len(order) < len(graph.nodes):
        order += [n for n in graph.nodes if n not in order and all(a in order for a, b in fwd if b == n)]
    state: dict[str, dict[str, np.ndarray]] = {n: {} for n in graph.nodes}
    trace: dict[str, list[np.ndarray]] = {n: [] for n in graph.nodes}
    for t in range(steps):
        out: dict[str, np.ndarray] = {}
        for n in order:
            node, st = graph.nodes[n], state[n]
            ins = [out[a] for a, b in fwd if b == n]
            ins += [trace[a][t - loop_delay] if t >= loop_delay else 0.0 for a, b in back if b == n]
            i = sum(ins[1:], ins[0]) if ins else None
            kind = type(node).__name__
            if kind == "Input":
                y = x
            elif kind in ("Affine", "Linear"):
                y = i @ np.asarray(node.weight).T + (np.asarray(node.bias) if kind == "Affine" else 0.0)
            elif kind == "Conv2d":
                w = np.asarray(node.weight)
                win = _windows(i, w.shape[2:], _pair(node.stride), _pair(node.padding))
                y = np.einsum("bchwij,ocij->bohw", win, w) + np.asarray(node.bias).reshape(1, -1, 1, 1)
            elif kind in ("SumPool2d", "AvgPool2d"):
                k = _pair(node.kernel_size)
                y = _windows(i, k, _pair(node.stride), _pair(node.padding)).sum(axis=(4, 5))
                y = y / (k[0] * k[1]) if kind == "AvgPool2d" else y
            elif kind == "Flatten":
                y = i.reshape(i.shape[0], -1)
            elif kind == "Scale":
                y = i * np.asarray(node.scale)
            elif kind in ("IF", "LIF", "CubaLIF", "LI", "I"):
                v = st.get("v", np.zeros_like(i))
                if kind == "CubaLIF":
                    cur = st.get("i", np.zeros_like(i))
                    cur = cur + dt / node.tau_syn * (node.w_in * i - cur)
                    st["i"], i = cur, cur
                if kind in ("IF", "I"):
                    v = v + dt * node.r * i
                else:
                    tau = node.tau_mem if kind == "CubaLIF" else node.tau
                    v = v + dt / tau * (node.v_leak - v + node.r * i)
                if kind in ("LI", "I"):
                    y = v
                else:
                    y = (v > node.v_threshold).astype(np.float64)
                    v = np.where(y > 0, node.v_reset, v)
                st["v"] = v
            elif kind == "Output":
                y = i
            else:  # pragma: no cover
                raise TypeError(kind)
            out[n] = y
            trace[n].append(y)
    return {n: np.stack(v) for n, v in trace.items()}


# -- graphs as the producers write them ----------------------------------------------------------------------

def _lif(n: int, dt: float, beta: float = 0.8) -> nir.LIF:
    """snnTorch's Leaky: tau = dt / (1 - beta), R = tau / dt (input gain 1), v_leak 0."""
    tau = dt / (1 - beta)
    return nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / dt), v_leak=np.zeros(n), v_threshold=np.ones(n))


def snntorch_mlp(dt: float = 1e-4) -> nir.NIRGraph:
    rng = np.random.default_rng(11)
    return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([8])}),
                               "fc1": nir.Linear(weight=rng.normal(0.15, 0.4, (12, 8))), "lif1": _lif(12, dt),
                               "fc2": nir.Linear(weight=rng.normal(0.15, 0.5, (4, 12))), "lif2": _lif(4, dt),
                               "output": nir.Output(output_type={"output": np.array([4])})},
                        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")])


def snntorch_synaptic(dt: float = 1e-4, bias: float = 0.0) -> nir.NIRGraph:
    """snnTorch's Synaptic(alpha = 0.75, beta = 0.8): w_in = tau_syn / dt, R = tau_mem / dt (an Affine before it
    when `bias`)."""
    rng = np.random.default_rng(14)
    tau_syn, tau_mem = dt / 0.25, dt / 0.2
    cuba = lambda n: nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem),
                                 r=np.full(n, tau_mem / dt), v_leak=np.zeros(n), v_threshold=np.full(n, 1.5),
                                 w_in=np.full(n, tau_syn / dt))
    fc1 = nir.Affine(weight=rng.normal(0.1, 0.4, (10, 6)), bias=np.full(10, bias)) if bias else \
        nir.Linear(weight=rng.normal(0.1, 0.4, (10, 6)))
    return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([6])}), "fc1": fc1, "syn1": cuba(10),
                               "fc2": nir.Linear(weight=rng.normal(0.1, 0.5, (3, 10))), "syn2": cuba(3),
                               "output": nir.Output(output_type={"output": np.array([3])})},
                        edges=[("input", "fc1"), ("fc1", "syn1"), ("syn1", "fc2"), ("fc2", "syn2"), ("syn2", "output")],
                        type_check=False)


def norse_li_readout(dt: float = 1e-3) -> nir.NIRGraph:
    """Norse-like: CubaLIF hidden layer (R = 1, w_in = 1), a Linear and an LI readout with tau = dt."""
    rng = np.random.default_rng(12)
    cuba = nir.CubaLIF(tau_syn=np.full(10, 5e-3), tau_mem=np.full(10, 1e-2), r=np.ones(10), v_leak=np.zeros(10),
                       v_threshold=np.full(10, 0.05), w_in=np.ones(10))
    return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([6])}),
                               "linear": nir.Linear(weight=rng.normal(0.2, 0.5, (10, 6))), "cuba": cuba,
                               "readout_w": nir.Linear(weight=rng.normal(0.4, 0.5, (3, 10))),
                               "li": nir.LI(tau=np.full(3, dt), r=np.full(3, 2.0), v_leak=np.zeros(3)),
                               "output": nir.Output(output_type={"output": np.array([3])})},
                        edges=[("input", "linear"), ("linear", "cuba"), ("cuba", "readout_w"), ("readout_w", "li"),
                               ("li", "output")], type_check=False)


def norse_leaky_readout(dt: float = 1e-3, tau_steps: float = 5.0) -> nir.NIRGraph:
    """Norse's usual readout: the graph of `norse_li_readout` with a leaky LI (tau = 5 dt, R = 1)."""
    graph = norse_li_readout(dt)
    nodes = {**graph.nodes, "li": nir.LI(tau=np.full(3, tau_steps * dt), r=np.ones(3), v_leak=np.zeros(3))}
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges), type_check=False)


def sinabs_cnn() -> nir.NIRGraph:
    """Sinabs: IAF as IF(R = 1), SumPool2d, Flatten, Linear; dt = 1 step."""
    rng = np.random.default_rng(13)
    return nir.NIRGraph(nodes={
        "0": nir.Input(input_type={"input": np.array([1, 8, 8])}),
        "1": nir.Conv2d(input_shape=(8, 8), weight=rng.normal(0.05, 0.5, (4, 1, 3, 3)), stride=1, padding=1,
                        dilation=1, groups=1, bias=np.zeros(4)),
        "2": nir.IF(r=np.ones((4, 8, 8)), v_threshold=np.full((4, 8, 8), 1.5)),
        "3": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "4": nir.Flatten(input_type={"input": np.array([4, 4, 4])}, start_dim=1),
        "5": nir.Linear(weight=rng.normal(0.05, 0.3, (5, 64))),
        "6": nir.IF(r=np.ones(5), v_threshold=np.full(5, 2.0)),
        "7": nir.Output(output_type={"output": np.array([5])})},
        edges=[("0", "1"), ("1", "2"), ("2", "3"), ("3", "4"), ("4", "5"), ("5", "6"), ("6", "7")],
        type_check=False)


def snntorch_rleaky(dt: float = 1e-4, nested: bool = True) -> nir.NIRGraph:
    """snnTorch's RLeaky as its export_to_nir writes it: a nested graph input -> lif, lif -> w_rec -> lif, lif ->
    output; `nested=False`: the same network as one flat graph (an Affine from the LIF back to itself)."""
    rng = np.random.default_rng(15)
    w_rec = nir.Linear(weight=rng.normal(0.0, 0.6, (7, 7)))
    outer = {"input": nir.Input(input_type={"input": np.array([5])}),
             "fc1": nir.Linear(weight=rng.normal(0.2, 0.5, (7, 5))),
             "fc2": nir.Linear(weight=rng.normal(0.1, 0.5, (3, 7))), "lif2": _lif(3, dt),
             "output": nir.Output(output_type={"output": np.array([3])})}
    tail = [("fc2", "lif2"), ("lif2", "output")]
    if not nested:
        return nir.NIRGraph(nodes={**outer, "lif1": _lif(7, dt), "w_rec": w_rec},
                            edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "w_rec"), ("w_rec", "lif1"),
                                   ("lif1", "fc2")] + tail, type_check=False)
    sub = nir.NIRGraph(nodes={"input": nir.Input(input_type=[7]), "lif": _lif(7, dt), "w_rec": w_rec,
                              "output": nir.Output(output_type=[7])},
                       edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
                       type_check=False)
    return nir.NIRGraph(nodes={**outer, "rleaky": sub},
                        edges=[("input", "fc1"), ("fc1", "rleaky"), ("rleaky", "fc2")] + tail, type_check=False)


def _imported(graph: nir.NIRGraph, dt: float, steps: int = STEPS):
    imported = graph_to_genome(graph, "producer.nir", dt=dt, steps=steps)
    genome = genome_from_json(imported.genome)
    return genome, check_weights(genome, imported.weights, "producer.nir"), imported.notes


def _float_run(genome, weights, x: np.ndarray):
    with torch.no_grad():
        logits, trains = build_rate_snn(genome, weights).double()(torch.tensor(x), record=True)
    return logits.numpy(), {k: v.numpy() for k, v in trains.items()}


FEED_FORWARD = [("snntorch_mlp", snntorch_mlp(), 1e-4, (8,)), ("snntorch_synaptic", snntorch_synaptic(), 1e-4, (6,)),
                ("norse_li_readout", norse_li_readout(), 1e-3, (6,)), ("sinabs_cnn", sinabs_cnn(), 1.0, (1, 8, 8))]


@pytest.mark.parametrize("label, graph, dt, shape", FEED_FORWARD, ids=[f[0] for f in FEED_FORWARD])
def test_float_model_gives_the_producers_spike_counts(label, graph, dt, shape) -> None:
    """No biases, no loops: the genome's readout over T + D steps equals the producer's totals over T steps: the
    spike counts exactly; for the LI readout with tau = dt, the sum of its membrane up to float32 weights."""
    genome, weights, _ = _imported(graph, dt)
    x = np.random.default_rng(4).uniform(0, 1, (16, *shape))
    ours, _ = _float_run(genome, weights, x)
    theirs = producer_run(graph, x, STEPS, dt)[next(n for n, v in graph.nodes.items() if isinstance(v, nir.Output))]
    assert np.abs(theirs).sum() > 0 and len(np.unique(theirs.sum(0))) > 2
    if genome.readout.mode == "spike_count":
        np.testing.assert_array_equal(ours, theirs.sum(0))
    else:   # the float model holds its weights in float32 before .double()
        np.testing.assert_allclose(ours, theirs.sum(0), rtol=1e-6)


def test_spike_trains_are_the_producers_shifted_one_step_per_hop() -> None:
    graph = snntorch_mlp()
    genome, weights, _ = _imported(graph, 1e-4)
    x = np.random.default_rng(5).uniform(0, 1, (8, 8))
    _, trains = _float_run(genome, weights, x)
    theirs = producer_run(graph, x, STEPS, 1e-4)
    for lif, node, hops in (("lif1", "fc1", 1), ("lif2", "fc2", 2)):   # each LIF sits on the dense before it
        ours = trains[node].transpose(1, 0, 2)                              # (T + D, B, units)
        assert theirs[lif].sum() > 0
        np.testing.assert_array_equal(ours[hops:hops + STEPS], theirs[lif])
        assert not ours[:hops].any() and not ours[hops + STEPS:].any()


@pytest.mark.parametrize("nested", [True, False], ids=["snntorch_nested", "flat"])
def test_recurrent_graph_imports_with_a_backward_edge(nested, tmp_path) -> None:
    """The loop becomes a backward edge read in the same step (genome version 3, same_step): the genome's loop
    through one population takes one step, as the producer's, so the float model gives the producer's spike
    counts; the same genome with a plain backward edge (two steps round the loop) does not."""
    graph = snntorch_rleaky(nested=nested)
    genome, weights, notes = _imported(graph, 1e-4)
    fc1 = genome.by_id["fc1"]
    w_rec = "rleaky_w_rec" if nested else "w_rec"
    assert [(e.source, e.recurrent, e.same_step) for e in fc1.inputs] == [("input", False, False), (w_rec, True, True)]
    assert genome.version == 3
    assert any(n.startswith("loop: the edge") and "after 1 step, as the producer does" for n in notes)
    assert any(n.startswith("timing:") and n.endswith("(as this one is)") for n in notes)
    x = np.random.default_rng(6).uniform(0, 1, (16, 5))
    ours, _ = _float_run(genome, weights, x)
    flat = snntorch_rleaky(nested=False)
    one = producer_run(flat, x, STEPS, 1e-4, back=(("w_rec", "lif1"),), loop_delay=1)["output"].sum(0)
    two = producer_run(flat, x, STEPS, 1e-4, back=(("w_rec", "lif1"),), loop_delay=2)["output"].sum(0)
    np.testing.assert_array_equal(ours, one)
    assert one.sum() > 0 and not np.array_equal(one, two)       # the loop's timing matters on these inputs
    plain = genome.to_json()
    for node in plain["nodes"]:
        for e in node.get("inputs", []):
            if isinstance(e, dict):
                e.pop("same_step", None)
    lagged, _ = _float_run(genome_from_json(plain), weights, x)
    np.testing.assert_array_equal(lagged, two)
    save_weights(weights, tmp_path / "w.h5")
    net = compile_network(CompileInputs(genome, weights, tmp_path / "w.h5", load_profile("loihi2"), None))
    assert [p.delay for p in net.by_id["fc1"].projections] == [1, 1]
    assert simulate(net, x).readout.shape == (16, 3)


def test_leaky_li_readout_is_the_producers_last_membrane(tmp_path) -> None:
    """An LI with tau > dt becomes the genome's leaky readout (version 3, tau / dt steps, R dt / tau in the weights):
    the float model's logits are the producer's LI membrane after T steps; the compiled network (dv = round(4096 /
    5) = 819) stays within the membrane tolerance below, and the note says what the readout is."""
    graph = norse_leaky_readout()
    genome, weights, notes = _imported(graph, 1e-3)
    assert genome.version == 3 and genome.readout.tau == 5.0 and genome.readout.mode == "membrane"
    assert any(n.startswith("node 'li': the leaky integrator (tau = 5 steps) is read as tnas-deploy's leaky membrane "
                            "readout") for n in notes)
    assert any("its leaky readout's value after the run equals the producer's LI membrane after T steps" in n
               for n in notes)
    x = np.random.default_rng(4).uniform(0, 1, (16, 6))
    ours, _ = _float_run(genome, weights, x)
    theirs = producer_run(graph, x, STEPS, 1e-3)["output"]
    assert len(np.unique(theirs[-1].round(6))) > 2 and not np.allclose(theirs[-1], theirs.sum(0))
    np.testing.assert_allclose(ours, theirs[-1], rtol=1e-6, atol=1e-9)   # float32 weights in the float model
    save_weights(weights, tmp_path / "w.h5")
    net = compile_network(CompileInputs(genome, weights, tmp_path / "w.h5", load_profile("loihi2"), None))
    assert net.readout.dv == 819
    x = np.random.default_rng(7).uniform(0, 1, (64, 6))
    theirs = producer_run(graph, x, STEPS, 1e-3)["output"][-1]
    ours = simulate(net, x).logits.astype(np.float64)
    assert np.abs(ours - theirs).mean() <= MEMBRANE_MEAN * np.abs(theirs).max()
    assert np.mean(ours.argmax(1) == theirs.argmax(1)) >= AGREEMENT


def test_leaky_readout_round_trips_through_nir(tmp_path) -> None:
    """tnas-deploy's own export of a leaky readout (LI with r = tau / dt) imports back as the same readout, exactly."""
    genome, weights, _ = _imported(norse_leaky_readout(tau_steps=7.0), 1e-3)
    back, back_weights, _ = _imported(rate_genome_to_nir(genome, weights, dt=1e-3), 1e-3)
    assert back.readout.tau == 7.0
    readout_input = genome.readout.forward_inputs[0]
    np.testing.assert_array_equal(back_weights[back.readout.forward_inputs[0]]["weight"],
                                  weights[readout_input]["weight"])


#: The compiled network (Loihi 2: 8-bit weights, 12-bit decays) in the integer reference simulator against the
#: producer, on 64 random inputs: spike counts on average within COUNT_MEAN spikes per output over T = 12 steps,
#: a membrane readout on average within MEMBRANE_MEAN of its largest |value|, and the same prediction (argmax) on
#: at least AGREEMENT of the inputs. Measured over input seeds 0 to 9 (the test uses seed 7): 0.016 to 0.125
#: spikes, 0.0024 to 0.0045, and 0.953 to 1.
COUNT_MEAN, MEMBRANE_MEAN, AGREEMENT = 0.15, 0.01, 0.95
QUANTIZED = FEED_FORWARD + [("snntorch_rleaky", snntorch_rleaky(nested=False), 1e-4, (5,))]


@pytest.mark.parametrize("label, graph, dt, shape", QUANTIZED, ids=[f[0] for f in QUANTIZED])
def test_quantized_reference_stays_within_the_stated_tolerance(label, graph, dt, shape, tmp_path) -> None:
    genome, weights, _ = _imported(graph, dt)
    save_weights(weights, tmp_path / "w.h5")
    net = compile_network(CompileInputs(genome, weights, tmp_path / "w.h5", load_profile("loihi2"), None))
    x = np.random.default_rng(7).uniform(0, 1, (64, *shape))
    ours = simulate(net, x).logits.astype(np.float64)
    back = (("w_rec", "lif1"),) if "w_rec" in graph.nodes else ()      # the producer's loop: one step
    trace = producer_run(graph, x, STEPS, dt, back=back)
    theirs = trace[next(n for n, v in graph.nodes.items() if isinstance(v, nir.Output))].sum(0)
    diff = np.abs(ours - theirs).mean()
    if genome.readout.mode == "spike_count":
        assert diff <= COUNT_MEAN
    else:
        assert diff <= MEMBRANE_MEAN * np.abs(theirs).max()
    assert np.mean(ours.argmax(1) == theirs.argmax(1)) >= AGREEMENT


def test_snntorch_recurrent_file_imports_compiles_and_runs(tmp_path, capsys) -> None:
    """The user's path: a file with snnTorch's nested RLeaky graph -> import (the loop note in stdout) -> compile -> run."""
    nir.write(tmp_path / "rleaky.nir", snntorch_rleaky())
    genome = tmp_path / "g" / "rleaky.json"
    assert main(["import", str(tmp_path / "rleaky.nir"), "-o", str(genome), "--dt", "1e-4", "--steps", "8"]) == 0
    out = capsys.readouterr().out
    assert "note: loop: the edge 'rleaky.w_rec' -> 'rleaky.lif' closes a loop through 1 population(s)" in out
    np.savez(tmp_path / "x.npz", x=np.random.default_rng(8).uniform(0, 1, (6, 5)), y=np.zeros(6, dtype=np.int64))
    assert main(["compile", str(genome), "-o", str(tmp_path / "r.tdart")]) == 0
    assert main(["run", str(tmp_path / "r.tdart"), "--input", str(tmp_path / "x.npz"), "-o",
                 str(tmp_path / "out.npz")]) == 0
    assert np.load(tmp_path / "out.npz")["predictions"].shape == (6,)
