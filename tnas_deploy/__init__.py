"""tnas-deploy: deploy searched time-to-first-spike spiking networks to neuromorphic chips.

Pipeline: genome (JSON) + weights (HDF5 / state_dict) -> ANN counterpart -> exact TTFS mapping
-> fixed-point quantization against a hardware profile -> compiled artifact -> reference simulator
(and Lava). See README.md for the picture.
"""
__version__ = "0.1.0"
