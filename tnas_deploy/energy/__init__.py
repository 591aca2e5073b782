"""Energy, latency and resources of a compiled network on each hardware profile.

`activity` (counts per layer and step from a run), `mapping` with `placement`, `splitting`, `layout` and
`connectivity` (layers onto cores under the profile's limits, docs/energy_mapping.md), `model` (SANA-FE-style
energy and latency), `calibration` (fitting profile numbers on published measurements) and `bands` (the
uncertainty that follows, docs/energy_calibration.md), `published_workloads` (activity of published benchmark
workloads regenerated from installed files), `baseline` (the ReLU ANN on a conventional processor), `report`
(report.json / .md / .html).
"""
