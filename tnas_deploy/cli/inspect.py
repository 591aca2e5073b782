"""`tnas-deploy inspect`: print the summary of a compiled artifact."""
from __future__ import annotations

import argparse

from .common import print_summary


def command(args: argparse.Namespace) -> int:
    """Print the summary of the artifact `args.artifact`."""
    from ..artifact import load_artifact
    _, summary = load_artifact(args.artifact)
    summary["artifact"] = str(args.artifact)
    print_summary(summary, args.json)
    return 0
