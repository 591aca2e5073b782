"""The report's sections about the network itself: accuracy, NeuroBench metrics and activity per layer."""
from __future__ import annotations

from .builder import DocumentBuilder, code_list
from .document import Inline, fmt_num, fmt_pct
from .plots import plot_confusion, plot_spike_times, plot_spikes

#: The NeuroBench metrics in the order shown, with what each means; others follow in name order.
_METRICS = {
    "synaptic_events": "synaptic events: spikes delivered through synapses (spike x fan-out), per sample",
    "effective_synaptic_ops": "effective synaptic operations: events through non-zero weights (ACs), per sample",
    "dense_synaptic_ops": "synaptic operations of a dense pass (every synapse once)",
    "spikes": "spikes of all on-chip layers, per sample",
    "input_spikes": "input spikes injected by the host, per sample",
    "activation_sparsity": "share of on-chip neurons that do not spike in a sample",
    "activation_sparsity_per_step": "share of (neuron, time step) pairs without a spike",
    "neurons": "on-chip neurons (readout not counted)",
    "synapses": "synapses",
    "time_steps": "time steps per inference",
}


def add_accuracy(doc: DocumentBuilder) -> None:
    """WAR, UAR, recall per class and the confusion matrix (or why there are none)."""
    if doc.report.get("regression"):
        _add_regression(doc, doc.report["regression"])
        return
    doc.heading(2, "Accuracy")
    acc = doc.report.get("accuracy")
    if not acc:
        doc.para("The data has no labels, so accuracy is not reported.")
        return
    samples = sum(sum(row) for row in acc.get("confusion_matrix") or [])
    doc.bullets([[("b", "WAR "), ("", f"(overall accuracy): {fmt_pct(acc.get('war'))} of {fmt_num(samples)} samples")],
                 [("b", "UAR "), ("", f"(mean recall over the classes present): {fmt_pct(acc.get('uar'))}")]])
    classes = [str(c) for c in acc.get("classes") or []]
    matrix = acc.get("confusion_matrix") or []
    recall = acc.get("per_class_recall") or {}
    rows: list[list[Inline]] = []
    for i, c in enumerate(classes):
        row = matrix[i] if i < len(matrix) else []
        support = sum(row)
        rec = recall.get(c)
        rows.append([[("code", c)], fmt_num(support), fmt_num(row[i] if i < len(row) else None),
                     "no samples" if rec is None and support == 0 else fmt_pct(rec)])
    doc.heading(3, "Recall per class")
    doc.table(["Class", "Samples", "Correct", "Recall"], rows, "lrrr")
    if matrix:
        doc.heading(3, "Confusion matrix")
        doc.para("Rows: true class; columns: predicted class; cells: samples.", note=True)
        doc.table(["true / predicted", *classes],
                  [[[("b", c)], *[fmt_num(v) for v in matrix[i]]] for i, c in enumerate(classes)],
                  "l" + "r" * len(classes))
        doc.figure("confusion", plot_confusion(doc.plotter, matrix, classes), "Confusion matrix (samples)",
                   "Samples per true class (rows) and predicted class (columns).")


def _add_regression(doc: DocumentBuilder, block: dict) -> None:
    """A regression readout's outputs and, with real-valued targets, their errors (no accuracy)."""
    doc.heading(2, "Regression outputs")
    labelled = "mae" in block
    if labelled:
        doc.bullets([[("b", "Mean absolute error "), ("", f"{fmt_num(block['mae'])} over {fmt_num(block['samples'])} "
                                                        "samples and all outputs")],
                     [("b", "RMSE "), ("", fmt_num(block["rmse"]))]])
    else:
        doc.para("The data has no targets, so only the outputs are reported.")
    rows: list[list[Inline]] = []
    for name, entry in (block.get("per_output") or {}).items():
        rows.append([[("code", str(name))], fmt_num(entry.get("mean")), fmt_num(entry.get("min")),
                     fmt_num(entry.get("max"))] + ([fmt_num(entry.get("mae")), fmt_num(entry.get("rmse"))]
                                                    if labelled else []))
    doc.table(["Output", "Mean", "Min", "Max"] + (["MAE", "RMSE"] if labelled else []), rows,
              "lrrr" + ("rr" if labelled else ""))


def add_metrics(doc: DocumentBuilder) -> None:
    """The NeuroBench metrics with what each one means."""
    doc.heading(2, "NeuroBench metrics")
    m = doc.report.get("metrics") or {}
    if not m:
        doc.para("No metrics in the report.")
        return
    keys = [k for k in _METRICS if k in m] + sorted(k for k in m if k not in _METRICS)
    rows: list[list[Inline]] = []
    for k in keys:
        v = m[k]
        value = fmt_num(v)
        if k.startswith("activation_sparsity") and isinstance(v, (int, float)) and v < 1:
            value += f" ({fmt_num(100 * (1 - v))} % active)"
        rows.append([[("code", k)], value, _METRICS.get(k, "")])
    doc.table(["Metric", "Value", "Meaning"], rows, "lrl")


def add_activity(doc: DocumentBuilder) -> None:
    """Spikes, synaptic events and neuron updates per layer, with the spike charts."""
    doc.heading(2, "Activity per layer")
    layers = doc.report.get("layers") or {}
    if not layers:
        doc.para("No layer activity in the report.")
        return
    rows: list[list[Inline]] = []
    for name in doc.order:
        a = layers[name]
        rows.append([[("code", name)], str(a.get("kind", "")), fmt_num(a.get("neurons")),
                     fmt_num(a.get("synapses")), fmt_num(a.get("spikes")), fmt_num(a.get("spikes_per_neuron")),
                     fmt_num(a.get("synaptic_events")), fmt_num(a.get("effective_synaptic_events")),
                     fmt_num(a.get("active_updates")), fmt_num(a.get("idle_updates")),
                     fmt_pct(a.get("activation_sparsity"))])
    doc.table(["Layer", "Kind", "Neurons", "Synapses", "Spikes", "Spikes / neuron", "Synaptic events",
               "Effective events", "Active updates", "Idle updates", "Silent neurons"], rows, "llrrrrrrrrr")
    doc.para("Per sample: spikes sent; synaptic events received (spike x fan-out) and those through non-zero "
             "weights; neuron updates in the layer's own windows (active) and in all other steps (idle); share "
             "of neurons that never spike.", note=True)
    doc.figure("spikes_per_layer", plot_spikes(doc.plotter, layers, doc.order), "Spikes per layer (per sample)")
    samples = int((doc.report.get("data") or {}).get("samples") or 1)
    fig = plot_spike_times(doc.plotter, layers, doc.order, samples)
    no_hist = [n for n in doc.order if not layers[n].get("spike_step_histogram")]
    if fig is not None:
        doc.figure("spike_times", fig, "Spike times per layer (spikes per sample per step)",
                   "When in its window each layer spikes (time-to-first-spike: earlier means a larger value); "
                   f"counts over all samples divided by {fmt_num(samples)}.")
    if no_hist:
        doc.para([("", "No spike-time histogram (the layer sends no spikes on chip, e.g. the readout): ")]
                 + code_list(no_hist) + [("", ".")], note=True)
