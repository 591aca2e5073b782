"""Energy, latency and resources of a compiled network on each hardware profile.

`activity` (counts per layer and step from a run), `mapping` (layers onto cores under the profile's
limits), `model` (SANA-FE-style energy and latency), `baseline` (the ReLU ANN on a conventional
processor), `report` (report.json / .md / .html).
"""
