"""Interoperability: netron views, NIR; more formats later."""
