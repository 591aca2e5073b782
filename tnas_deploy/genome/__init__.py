"""The genome format: the product's public input (see docs/genome.md)."""
from .graph import FORMAT, SUPPORTED_VERSIONS, Genome, Task, TimeSpec, genome_from_json, load_genome
from .nodes import NODE_TYPES, Edge, NeuronNode, NeuronSpec, Node, NodeError, Shape, node_types
from .snas_cell import SnasCell

__all__ = ["FORMAT", "SUPPORTED_VERSIONS", "Genome", "Task", "TimeSpec", "genome_from_json", "load_genome",
           "NODE_TYPES", "Edge", "NeuronNode", "NeuronSpec", "Node", "NodeError", "Shape", "SnasCell", "node_types"]
