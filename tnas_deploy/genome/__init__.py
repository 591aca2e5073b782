"""The genome format: the product's public input (see docs/genome.md)."""
from .graph import FORMAT, Genome, Task, TimeSpec, genome_from_json, load_genome
from .nodes import NODE_TYPES, Edge, NeuronSpec, Node, NodeError, Shape

__all__ = ["FORMAT", "Genome", "Task", "TimeSpec", "genome_from_json", "load_genome",
           "NODE_TYPES", "Edge", "NeuronSpec", "Node", "NodeError", "Shape"]
