"""Building the report document from report.json's dict: the title, the table of contents and the sections
in their order (each section lives in a `sections_*` module)."""
from __future__ import annotations

from typing import Any

from .builder import DocumentBuilder
from .document import Block, Plot, encodable, slug
from .plots import Plotter
from .sections_network import add_accuracy, add_activity, add_metrics
from .sections_profiles import add_baseline_section, add_chip_sections, add_profile_numbers
from .sections_summary import add_header, add_summary


def build_document(report: dict[str, Any]) -> tuple[list[Block], list[Plot]]:
    """The report's blocks and the plots they show, in document order."""
    report = encodable(report)   # free text (class names, provenance) may hold lone surrogates
    plotter = Plotter()
    with plotter.context():
        doc = DocumentBuilder(report, plotter)
        doc.heading(1, f"Energy benchmark: {report.get('network', 'unknown')}")
        add_header(doc)
        sections = [("Energy and latency per profile", True), ("Accuracy", True), ("NeuroBench metrics", True),
                    ("Activity per layer", True), ("Neuromorphic profiles", bool(doc.chips)),
                    ("ANN baseline", True), ("Profile numbers and sources", True)]
        doc.bullets([[(f"link:#{slug(s)}", s)] for s, shown in sections if shown])
        add_summary(doc)
        add_accuracy(doc)
        add_metrics(doc)
        add_activity(doc)
        add_chip_sections(doc)
        add_baseline_section(doc)
        add_profile_numbers(doc)
    return doc.blocks, doc.plots
