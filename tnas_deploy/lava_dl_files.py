"""Files that ship inside the installed lava-dl (its `tests` package: example netx networks, golden spikes).

Found through the package's distribution metadata, so nothing is imported (importing lava-dl takes seconds).
"""
from __future__ import annotations

import importlib.metadata
from pathlib import Path

from .errors import DeployError


def lava_dl_folder(relative: str, ships: str) -> tuple[Path, str]:
    """The folder `relative` inside the installed lava-dl, and lava-dl's version; a DeployError saying that
    lava-dl is required and ships `ships` when it is not installed. Whether the folder holds what the caller
    needs is the caller's check."""
    try:
        dist = importlib.metadata.distribution("lava-dl")
    except importlib.metadata.PackageNotFoundError:
        raise DeployError(f"lava-dl is not installed; it is a required dependency (pip install lava-dl) and ships "
                          f"{ships}", relative) from None
    return Path(str(dist.locate_file(relative))), dist.version
