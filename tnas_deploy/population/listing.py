"""Which genomes a population holds: a folder of genome `.json` files, or a text file listing genome paths.

A list file holds one path a line, relative to the list file's folder unless absolute; blank lines and lines
starting with `#` are skipped. Each genome is identified by the path shown to the user (`shown`) and a hash of
its content (the genome file and the weights file it names), so that a changed genome is evaluated again
when a batch resumes (`results.py`). A listed file that is missing or unreadable is not an error of the
batch: its row fails with that message (`PopulationEntry.problem`), like any malformed genome.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeployError


@dataclass(frozen=True)
class PopulationEntry:
    """One genome of a population: its file, the path shown in results, its content hash (None when the file
    cannot be read) and, then, why not."""

    path: Path
    shown: str
    sha256: str | None
    problem: str | None = None


def list_population(source: str | Path) -> list[PopulationEntry]:
    """The genomes of a folder (its `*.json` files) or of a list file, sorted by the path shown; a missing
    source, an empty population or a genome listed twice is a `DeployError`."""
    source = Path(source)
    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if p.suffix == ".json" and p.is_file())
        if not paths:
            raise DeployError("expected a folder with genome .json files, found none", source, "--population")
        shown = [str(p) for p in paths]
    elif source.is_file():
        paths, shown = _read_list(source)
    else:
        raise DeployError("no such folder or list file", source, "--population")
    if len(set(shown)) != len(shown):
        twice = sorted({s for s in shown if shown.count(s) > 1})
        raise DeployError(f"genome listed more than once: {twice[0]}", source, "--population")
    entries = [_entry(path, name) for path, name in zip(paths, shown)]
    return sorted(entries, key=lambda e: e.shown)


def _read_list(source: Path) -> tuple[list[Path], list[str]]:
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeployError(f"cannot read the list of genome paths ({exc})", source, "--population") from None
    if source.suffix == ".json" and text.lstrip().startswith("{"):
        raise DeployError("expected a folder of genomes or a text file listing genome paths, got one genome "
                          "(bench it without --population)", source, "--population")
    paths, shown = [], []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = Path(line)
        if not path.is_absolute():
            path = source.parent / path
        paths.append(path)
        shown.append(str(path))
    if not paths:
        raise DeployError("expected one genome path a line, found none", source, "--population")
    return paths, shown


def _entry(path: Path, shown: str) -> PopulationEntry:
    """The entry of one genome, hashing the genome file and the weights file its `weights` entry names."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return PopulationEntry(path, shown, None, f"{path}: cannot read the genome ({exc.strerror or exc})")
    digest = hashlib.sha256(b"genome\0" + data)
    weights = _named_weights(data, path)
    if weights is not None:
        try:
            digest.update(b"\0weights\0" + weights.read_bytes())
        except OSError:
            digest.update(b"\0weights missing")   # evaluation reports it; the hash changes when it appears
    return PopulationEntry(path, shown, digest.hexdigest())


def _named_weights(data: bytes, path: Path) -> Path | None:
    """The weights file a genome names (as `Genome.weights_path` finds it), or None."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    name = doc.get("weights") if isinstance(doc, dict) else None
    return path.parent / name if isinstance(name, str) and name else None


def listed_entries(paths: "list[str | Path] | tuple[str | Path, ...]") -> list[PopulationEntry]:
    """The entries of genome paths given one by one (e.g. from Python), sorted by path; a path given twice is
    a `DeployError`."""
    shown = [str(p) for p in paths]
    if not shown:
        raise DeployError("expected at least one genome path, got none", None, "genomes")
    if len(set(shown)) != len(shown):
        twice = sorted({s for s in shown if shown.count(s) > 1})
        raise DeployError(f"genome listed more than once: {twice[0]}", None, "genomes")
    return sorted((_entry(Path(p), p) for p in shown), key=lambda e: e.shown)
