"""Lava (fixed_pt) execution of compiled sigma-delta networks: Lava's own SigmaDelta and Dense/Sparse processes."""
