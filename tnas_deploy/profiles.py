"""Hardware profiles: one TOML file per chip in `hw_profiles/`, or a user's own file given by path.

Every number is a table `{value = ..., source = "..."}` or `{value = ..., estimate = "why"}`: a number
without provenance is rejected. This module reads the numeric format that quantization needs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import tomli

from .errors import DeployError
from .fixed_point import NumericFormat
from .io_utils import sha256_file

#: The profiles shipped with the project (repository checkout / editable install).
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "hw_profiles"


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    chip: str
    description: str
    format: NumericFormat
    path: Path
    sha256: str
    #: The whole file as parsed (numbers with their sources), carried into artifacts and reports.
    raw: dict[str, Any]


def profile_dirs() -> list[Path]:
    extra = os.environ.get("TNAS_DEPLOY_PROFILES")
    dirs = [Path(p) for p in extra.split(os.pathsep)] if extra else []
    return dirs + [BUNDLED_DIR]


def available_profiles() -> list[str]:
    return sorted({p.stem for d in profile_dirs() if d.is_dir() for p in d.glob("*.toml")})


def resolve_profile(name_or_path: str) -> Path:
    """A path to a .toml file, or the name of a bundled profile (`loihi2`)."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        if not candidate.is_file():
            raise DeployError("profile file not found", candidate)
        return candidate
    for d in profile_dirs():
        path = d / f"{name_or_path}.toml"
        if path.is_file():
            return path
    raise DeployError(f"unknown profile {name_or_path!r}; expected one of {available_profiles()} or a path to a .toml file",
                      None, "--profile")


def load_profile(name_or_path: str) -> HardwareProfile:
    path = resolve_profile(name_or_path)
    try:
        raw = tomli.loads(path.read_text(encoding="utf-8"))
    except tomli.TOMLDecodeError as exc:
        raise DeployError(f"malformed TOML: {exc}", path) from None
    meta = raw.get("profile")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise DeployError("expected a [profile] table with a string `name`", path, "profile.name")
    fmt_table = raw.get("format")
    if not isinstance(fmt_table, dict):
        raise DeployError("expected a [format] table (the chip's number formats)", path, "format")
    values = {}
    for f in fields(NumericFormat):
        values[f.name] = sourced_int(fmt_table, f.name, path, "format")
    fmt = NumericFormat(**values)
    _check_format(fmt, path)
    return HardwareProfile(name=meta["name"], chip=str(meta.get("chip", meta["name"])),
                           description=str(meta.get("description", "")), format=fmt, path=path,
                           sha256=sha256_file(path), raw=raw)


def sourced_int(table: dict[str, Any], key: str, path: Path, prefix: str) -> int:
    field = f"{prefix}.{key}"
    entry = table.get(key)
    if entry is None:
        raise DeployError("missing; expected a table {value = <integer>, source = \"...\"}", path, field)
    if not isinstance(entry, dict) or "value" not in entry:
        raise DeployError("expected a table {value = <integer>, source = \"...\"} (every number cites its source)",
                          path, field)
    if not (isinstance(entry.get("source"), str) or isinstance(entry.get("estimate"), str)):
        raise DeployError("a number needs `source` (where it comes from) or `estimate` (the reasoning)", path, field)
    value = entry["value"]
    if not isinstance(value, int) or isinstance(value, bool):
        raise DeployError(f"expected an integer value, got {value!r}", path, f"{field}.value")
    return value


def _check_format(fmt: NumericFormat, path: Path) -> None:
    checks = [
        ("weight_bits", 2 <= fmt.weight_bits <= 16, "between 2 and 16"),
        ("weight_exp_max", fmt.weight_exp_min <= fmt.weight_exp_max, ">= format.weight_exp_min"),
        ("input_shift", 0 <= fmt.input_shift <= 16, "between 0 and 16"),
        ("state_bits", 8 <= fmt.state_bits <= 48, "between 8 and 48"),
        ("threshold_bits", 1 <= fmt.threshold_bits <= 48, "between 1 and 48"),
        ("threshold_shift", 0 <= fmt.threshold_shift <= 16, "between 0 and 16"),
        ("bias_mant_bits", 2 <= fmt.bias_mant_bits <= 32, "between 2 and 32"),
        ("bias_exp_max", 0 <= fmt.bias_exp_max <= 16, "between 0 and 16"),
        ("weight_exp_max", fmt.shift_max >= 0, "so that weight_exp_max + input_shift >= 0"),
    ]
    for key, ok, want in checks:
        if not ok:
            raise DeployError(f"value out of range; expected {want}", path, f"format.{key}.value")
