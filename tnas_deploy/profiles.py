"""Hardware profiles: one TOML file per chip in `hw_profiles/`, or a user's own file given by path.

Every number is a table `{value = ..., source = "..."}` or `{value = ..., estimate = "why"}`: a number
without provenance is rejected, and a number nobody knows is simply absent (reported as unknown, never
taken as zero). See docs/profiles.md for the tables and keys.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import tomli

from .errors import DeployError
from .fixed_point import NumericFormat
from .io_utils import sha256_file
from .json_input import MAX_NESTING, nesting_depth
from .parsed_files import ParsedFiles

#: A profile name: it becomes part of file names, so only these characters, no leading dot (and no "..").
PROFILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
#: The profiles shipped with the project (repository checkout / editable install).
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "hw_profiles"


@dataclass(frozen=True)
class Quantity:
    """A number from a profile with its provenance: `source` (published), `fitted` (the calibration table it was
    fitted on, `energy/calibration.py`) or `estimate` (reasoned)."""

    value: float
    source: str | None = None
    estimate: str | None = None
    fitted: str | None = None

    @property
    def provenance(self) -> str:
        if self.fitted is not None:
            return f"fitted: {self.fitted}"
        return self.source if self.source is not None else f"estimate: {self.estimate}"


#: The keys each table may hold (docs/profiles.md); anything else is a typo to report.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "resources": ("cores", "neurons_per_core", "synapse_memory_bits_per_core", "max_fan_in", "max_fan_out",
                  "mesh_columns", "chips", "dendritic_join", "layers_share_cores", "input_channels", "output_neurons"),
    "energy": ("synaptic_op_pj", "neuron_update_active_pj", "neuron_update_idle_pj", "spike_out_pj",
               "spike_in_core_pj", "spike_hop_pj", "static_power_mw"),
    "time": ("synaptic_op_ns", "neuron_update_ns", "neuron_update_idle_ns", "spike_out_ns", "spike_hop_ns",
             "barrier_ns", "fixed_step_ns", "layer_stage_ns"),
    "baseline": ("process_node_nm", "mac_pj", "sram_access_pj_per_byte", "dram_access_pj_per_byte",
                 "static_power_mw", "macs_per_ns"),
}
KINDS = ("neuromorphic", "baseline")
#: Keys a table may also hold that only the compile reads (limits, not energy or placement numbers: reports do
#: not list them as unknown). `resources.max_synaptic_delay`: steps a synapse can hold a spike (docs/genome.md 12.1);
#: `resources.graded_spike_bits`: bits a spike's payload may carry (absent: binary spikes; docs/sdnn.md).
COMPILE_KEYS: dict[str, tuple[str, ...]] = {"resources": ("max_synaptic_delay", "graded_spike_bits")}


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    chip: str
    description: str
    kind: str
    format: NumericFormat | None          # None: energy and resources only, cannot be compiled for
    path: Path
    sha256: str
    #: Every number of the [resources], [energy], [time] and [baseline] tables, with provenance.
    quantities: dict[str, Quantity]
    #: The whole file as parsed (numbers with their sources), carried into artifacts and reports.
    raw: dict[str, Any]
    #: The measurement table the profile's fitted numbers come from (`[calibration] table`), if any.
    calibration: Path | None = None
    #: Why the energy stays unknown (`[profile] energy_unknown_because`), printed instead of the missing keys.
    unknown_reason: str | None = None

    def get(self, key: str) -> float | None:
        """A number such as "energy.synaptic_op_pj", or None when the profile does not know it."""
        q = self.quantities.get(key)
        return None if q is None else q.value

    def require_format(self) -> NumericFormat:
        if self.format is None:
            raise DeployError("this profile has no [format] table (the chip's number formats), so tnas-deploy "
                              "cannot quantize for it; compile for another profile and use this one for estimates",
                              self.path, "format")
        return self.format


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


#: Parsed profiles, remembered by file content (`parsed_files`): an architecture search reads the same profiles for
#: every candidate. Callers get copies (`_copied`).
PROFILE_CACHE_SIZE = 32
_profiles: ParsedFiles[HardwareProfile] = ParsedFiles(PROFILE_CACHE_SIZE)


def load_profile(name_or_path: str) -> HardwareProfile:
    """A bundled profile by name, or a profile file (`parse_profile`), parsed once per file content."""
    path = resolve_profile(name_or_path)
    return _copied(_profiles.get(path, parse_profile), path)


def _copied(profile: HardwareProfile, path: Path) -> HardwareProfile:
    """A remembered profile as `parse_profile` would return it now: its own copies of the mutable tables, and
    its calibration table found again (files next to the profile may have come or gone)."""
    return replace(profile, quantities=dict(profile.quantities), raw=plain_copy(profile.raw),
                   calibration=_calibration_path(profile.raw.get("calibration"), path))


def plain_copy(value: Any) -> Any:
    """A copy of parsed TOML: new dicts and lists, the same (immutable) strings, numbers and dates."""
    if isinstance(value, dict):
        return {k: plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_copy(v) for v in value]
    return value


def parse_profile(path: Path) -> HardwareProfile:
    """Read and check a profile file (`load_profile` remembers the result)."""
    try:
        raw = tomli.loads(path.read_text(encoding="utf-8"))
    except (tomli.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DeployError(f"malformed TOML: {exc}", path) from None
    except RecursionError:   # tomli: inline arrays nested past 400 levels, or inline tables past the stack
        raise DeployError(f"TOML nested deeper than {MAX_NESTING} levels; no profile nests that deep", path) from None
    if nesting_depth(raw, MAX_NESTING) > MAX_NESTING:   # the profile is copied into artifacts and reports
        raise DeployError(f"TOML nested deeper than {MAX_NESTING} levels; no profile nests that deep", path)
    meta = raw.get("profile")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise DeployError("expected a [profile] table with a string `name`", path, "profile.name")
    if not PROFILE_NAME.fullmatch(meta["name"]) or ".." in meta["name"]:
        # the name becomes part of file names (build/<genome>.<profile>.tdart, report plots)
        raise DeployError(f"{meta['name']!r} is not a safe profile name; use 1 to 64 of A-Z a-z 0-9 . _ -, not "
                          "starting with a dot and without '..'", path, "profile.name")
    kind = meta.get("kind", "neuromorphic")
    if kind not in KINDS:
        raise DeployError(f"unknown kind {kind!r}; expected one of {list(KINDS)}", path, "profile.kind")
    unknown = sorted(set(raw) - {"profile", "format", "calibration", *TABLE_KEYS})
    if unknown:
        raise DeployError(f"unknown table(s) {unknown}; expected [profile], [format], [calibration], "
                          f"{', '.join(f'[{t}]' for t in TABLE_KEYS)}", path, unknown[0])
    fmt = None
    if "format" in raw:
        fmt_table = raw["format"]
        if not isinstance(fmt_table, dict):
            raise DeployError("expected a table of the chip's number formats", path, "format")
        values = {f.name: sourced_int(fmt_table, f.name, path, "format") for f in fields(NumericFormat)}
        extra = sorted(set(fmt_table) - set(values) - {"decay_bits"})
        if extra:
            raise DeployError(f"unknown key(s) {extra}; see docs/profiles.md", path, f"format.{extra[0]}")
        fmt = NumericFormat(**values)
        _check_format(fmt, path)
    elif kind == "neuromorphic" and "resources" not in raw:
        raise DeployError("a neuromorphic profile needs a [format] table, a [resources] table, or both", path, "format")
    quantities: dict[str, Quantity] = {}
    for table, keys in TABLE_KEYS.items():
        entries = raw.get(table, {})
        if not isinstance(entries, dict):
            raise DeployError("expected a table", path, table)
        for key, entry in entries.items():
            if key not in keys + COMPILE_KEYS.get(table, ()):
                raise DeployError(f"unknown key {key!r}; expected one of {list(keys + COMPILE_KEYS.get(table, ()))} "
                                  "(docs/profiles.md)",
                                  path, f"{table}.{key}")
            quantities[f"{table}.{key}"] = sourced_number(entry, path, f"{table}.{key}")
    calibration = _calibration_path(raw.get("calibration"), path)
    return HardwareProfile(name=meta["name"], chip=str(meta.get("chip", meta["name"])),
                           description=str(meta.get("description", "")), kind=kind, format=fmt, path=path,
                           sha256=sha256_file(path), quantities=quantities, raw=raw, calibration=calibration,
                           unknown_reason=_optional_text(meta, "energy_unknown_because", path))


def _optional_text(meta: dict[str, Any], key: str, path: Path) -> str | None:
    value = meta.get(key)
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise DeployError("expected a non-empty string", path, f"profile.{key}")
    return value


def _calibration_path(table: Any, path: Path) -> Path | None:
    """`[calibration] table = "calibration/<chip>.toml"`: next to the profile file, else among the bundled tables
    (so a user's edited copy of a bundled profile keeps its measurements)."""
    if table is None:
        return None
    if not isinstance(table, dict) or not isinstance(table.get("table"), str) or set(table) != {"table"}:
        raise DeployError('expected [calibration] with one key, table = "<measurement table .toml, relative to this '
                          'file>"', path, "calibration")
    for base in (path.parent, BUNDLED_DIR):
        target = (base / table["table"]).resolve()
        if target.is_file():
            return target
    raise DeployError(f"calibration table {table['table']!r} not found next to the profile nor in {BUNDLED_DIR}",
                      path, "calibration.table")


def sourced_number(entry: Any, path: Path, field: str) -> Quantity:
    """A `{value = <number >= 0>, source = "..."}` or `{value = ..., estimate = "..."}` table."""
    if not isinstance(entry, dict) or "value" not in entry:
        raise DeployError("expected a table {value = <number>, source = \"...\"} (every number cites its source)",
                          path, field)
    source, estimate, fitted = entry.get("source"), entry.get("estimate"), entry.get("fitted")
    if not any(isinstance(t, str) and t.strip() for t in (source, estimate, fitted)):
        raise DeployError("a number needs `source` (where it comes from), `fitted` (the calibration it was fitted "
                          "on) or `estimate` (the reasoning)", path, field)
    value = entry["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise DeployError(f"expected a finite number >= 0, got {value!r}", path, f"{field}.value")
    extra = sorted(set(entry) - {"value", "source", "estimate", "fitted", "note"})
    if extra:
        raise DeployError(f"unknown key(s) {extra}; a number has value, source, fitted or estimate, and an optional "
                          "note", path, field)
    return Quantity(float(value), source if isinstance(source, str) else None,
                    estimate if isinstance(estimate, str) else None, fitted if isinstance(fitted, str) else None)


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
