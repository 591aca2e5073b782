"""Running on several workers with Ray: the Ray runtime (`cluster`: a local cluster started on demand or an
existing one joined by address, always shut down without leftovers), Lava runs sharded into slices of samples
(`lava_shards`) and what runs inside a Ray worker (`slice_task`). docs/scaling.md tells users how.

Importing this package imports neither Ray nor Lava; Ray is imported when a cluster is first asked for.
"""
