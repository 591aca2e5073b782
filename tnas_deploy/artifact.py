"""The compiled artifact: one HDF5 file with quantized tensors, thresholds, schedule, profile, provenance,
tool version and the sha256 of every input. Written atomically and byte-reproducibly (no timestamps,
fixed ordering), so the same inputs give the same bytes.

Layout (see docs/artifact.md):
    bytes 0-511      the file header (an HDF5 user block): "tnas-artifact", the sha256 of the rest of the file
    /                attrs: format="tnas-artifact", format_version, tool_version, name, checksums_sha256
    /checksums       UTF-8 JSON: the sha256 (and, for tensors, dtype and shape) of every part below
    /meta/<key>      UTF-8 JSON text: genome, provenance, profile, inputs, options, network, summary, notes, ...
    /arrays/<layer>/<name>   integer tensors: weights of projection i as `w<i>`, `threshold`, `v_init`, `bias`

`load_artifact` checks the file's sha256 before libhdf5 reads a byte of it, then every part against the
checksum table before it builds anything. A damaged file is an `ArtifactDamaged` error naming the part
("artifact damaged: arrays/003_conv2/w0 (checksum mismatch)"), never a wrong result, a traceback or a crash.
"""
from __future__ import annotations

import faulthandler
import hashlib
import io
import json
import os
import re
import select
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from . import __version__
from .compiled import CompiledNetwork
from .errors import DeployError
from .fixed_point import NumericFormat
from .io_utils import hdf5_image, write_bytes_atomic
from .layers import LAYER_KINDS, Layer
from .schemes import SCHEMES  # noqa: F401 - importing the schemes registers their layer kinds

FORMAT = "tnas-artifact"
#: 2: a checksum table covers every attribute, metadata entry and tensor (version 1 had none).
#: 3: projections may have precision groups (`channel_shift`: output channels with their own weight exponents,
#: docs/fixed_point.md section 11), which a reader of version 2 would ignore and compute other integers with. A
#: network without them is still written as version 2 (`format_version`): the same bytes as before, and older
#: tnas-deploy read it.
FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3)
#: The dataset holding the checksum table, and the root attribute holding the table's own sha256.
CHECKSUMS = "checksums"
CHECKSUMS_ATTR = "checksums_sha256"
#: The root attributes the table covers (`format` and `format_version` are checked by value).
CHECKED_ATTRS = ("name", "tool_version")
#: The file header: an HDF5 user block (libhdf5 skips it) holding the sha256 of the bytes after it, twice,
#: so that damage to the header itself is told apart from damage after it.
HEADER_SIZE = 512
HEADER_MAGIC = b"tnas-artifact\n"
_HEADER = re.compile(rb"tnas-artifact\nsha256 ([0-9a-f]{64})\nsha256 \1\n")
#: Seconds the search for the damaged part of a damaged file may take (libhdf5 can loop on a bad structure).
LOCATE_TIMEOUT = 60.0
#: The metadata every artifact holds.
META_KEYS = ("format", "genome", "headroom", "inputs", "network", "notes", "options", "profile", "provenance",
             "quantization_error", "summary")


class ArtifactDamaged(DeployError):
    """The artifact's contents are not what `tnas-deploy compile` wrote: a part fails its checksum, is
    missing, or is malformed. The message names the part."""


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, indent=1, allow_nan=False)


def _sha256(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def array_sha256(values: np.ndarray) -> str:
    """sha256 of a tensor's values: its elements as little-endian bytes in C order (dtype and shape are
    recorded beside it in the checksum table)."""
    values = np.asarray(values)
    return _sha256(np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).tobytes())


def file_header(digest: str) -> bytes:
    """The 512-byte header of an artifact whose bytes after the header have the sha256 `digest`."""
    text = HEADER_MAGIC + f"sha256 {digest}\nsha256 {digest}\n".encode("ascii")
    return text + bytes(HEADER_SIZE - len(text))


def _layer_json(layer: Layer) -> dict[str, Any]:
    return {"id": layer.id, "kind": layer.kind, "shape": list(layer.shape), "window": layer.window,
            "nodes": list(layer.nodes), **layer.to_json()}


# -- writing -----------------------------------------------------------------------------------------
def save_artifact(net: CompiledNetwork, path: str | Path, summary: dict[str, Any]) -> None:
    meta = {
        "genome": net.genome, "provenance": net.provenance, "profile": net.profile, "inputs": net.inputs,
        "options": net.options, "format": net.fmt.to_json(), "notes": net.notes, "headroom": net.headroom,
        "quantization_error": net.quantization_error, "summary": summary,
        "network": {"name": net.name, "steps": net.steps, "input_shape": list(net.input_shape),
                    "classes": list(net.classes), "windows": net.windows, "window_method": net.window_method,
                    "coding": net.coding, "run_steps": net.run_steps,
                    "layers": [_layer_json(layer) for layer in net.layers]},
    }
    texts = {key: _dumps(meta[key]) for key in sorted(meta)}
    tensors = {}
    for index, layer in enumerate(net.layers):
        arrays = {name: np.asarray(values) for name, values in layer.arrays().items()}
        if arrays:
            tensors[f"{index:03d}_{layer.id}"] = arrays
    table = _dumps(checksum_table({"name": net.name, "tool_version": net.tool_version}, texts, tensors))

    def fill(f: h5py.File) -> None:
        text = h5py.string_dtype("utf-8")
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = format_version(net)
        f.attrs["tool_version"] = net.tool_version
        f.attrs["name"] = net.name
        f.attrs[CHECKSUMS_ATTR] = _sha256(table.encode("utf-8"))
        f.create_dataset(CHECKSUMS, data=table, dtype=text, track_times=False)
        g = f.create_group("meta")
        for key, value in texts.items():
            g.create_dataset(key, data=value, dtype=text, track_times=False)
        groups = f.create_group("arrays")
        for group_name, arrays in tensors.items():
            lg = groups.create_group(group_name)
            for name in sorted(arrays):
                lg.create_dataset(name, data=arrays[name], track_times=False)

    image = hdf5_image(fill, track_order=False, userblock_size=HEADER_SIZE)
    if image.startswith(bytes(HEADER_SIZE)):   # libhdf5 returns the image without the user block; should one
        image = image[HEADER_SIZE:]            # version include it (zeros), it is replaced by the header
    write_bytes_atomic(path, file_header(_sha256(image)) + image)


def format_version(net: CompiledNetwork) -> int:
    """The lowest format version that holds everything in `net`: 3 with precision groups or axonal delays (a
    version-2 reader would run them without), else 2."""
    projections = [p for layer in net.layers for p in layer.incoming()]
    grouped = any(p.channel_shift is not None for p in projections)
    delayed = any(getattr(p, "axonal", False) for p in projections)      # rate projections with delays
    return 3 if grouped or delayed else 2


def checksum_table(attrs: dict[str, str], texts: dict[str, str],
                   tensors: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, Any]]:
    """{part: {"sha256": ...}} for the checked attributes ("attrs/<name>"), the metadata ("meta/<key>") and,
    with "dtype" and "shape", the tensors ("arrays/<group>/<name>")."""
    table: dict[str, dict[str, Any]] = {}
    for name, value in attrs.items():
        table[f"attrs/{name}"] = {"sha256": _sha256(value.encode("utf-8"))}
    for key, text in texts.items():
        table[f"meta/{key}"] = {"sha256": _sha256(text.encode("utf-8"))}
    for group_name, arrays in tensors.items():
        for name, values in arrays.items():
            table[f"arrays/{group_name}/{name}"] = {"dtype": values.dtype.name, "shape": list(values.shape),
                                                   "sha256": array_sha256(values)}
    return table


# -- reading -----------------------------------------------------------------------------------------
def load_artifact(path: str | Path) -> tuple[CompiledNetwork, dict[str, Any]]:
    """Read an artifact, checking the file's sha256 and every part's; returns the network and its stored summary.

    Raises `DeployError` for a file that is not an artifact or of another format version, and
    `ArtifactDamaged` (also a `DeployError`) naming the part for a damaged one."""
    path = Path(path)
    if not path.is_file():
        raise DeployError("artifact not found", path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DeployError(f"cannot read the artifact ({exc.strerror})", path) from None
    digest = _recorded_digest(data)
    if digest is not None and _sha256(memoryview(data)[HEADER_SIZE:]) != digest:
        raise _locate_damage(data, path)
    # With a good header the bytes are exactly as written. Without one the file is another HDF5 file, an
    # artifact of format version 1, or an artifact whose header is damaged: its attributes tell which.
    return _parse(data, path, header_ok=digest is not None)


def _recorded_digest(data: bytes) -> str | None:
    """The sha256 the header records, if the first 512 bytes are exactly a header as `save_artifact` writes it."""
    match = _HEADER.match(data[:HEADER_SIZE])
    if match is None or data[:HEADER_SIZE] != file_header(match[1].decode("ascii")):
        return None
    return match[1].decode("ascii")


def _parse(data: bytes, path: Path, header_ok: bool) -> tuple[CompiledNetwork, dict[str, Any]]:
    try:
        f = h5py.File(io.BytesIO(data), "r")
    except (OSError, OverflowError, ValueError, RuntimeError) as exc:   # a damaged superblock can give any of these
        if header_ok or data.startswith(HEADER_MAGIC):    # an artifact's header: truncated or damaged after it
            raise ArtifactDamaged(f"artifact damaged: cannot be opened as HDF5 ({exc})", path) from None
        raise DeployError(f"not a readable HDF5 file ({exc}); expected an artifact written by `tnas-deploy compile`",
                          path) from None
    with f:
        reader = _Reader(f, path)
        reader.check_format()
        if not header_ok:
            raise reader.damaged(f"file header (its first {HEADER_SIZE} bytes do not hold the file's sha256)")
        table = reader.checksum_table()
        attrs = {name: reader.attr_text(name, table) for name in CHECKED_ATTRS}
        meta = {key: reader.meta(key, table) for key in META_KEYS}
        arrays = reader.arrays(table)
        reader.refuse_unlisted(table)
    return _build(path, attrs["tool_version"], meta, arrays)


def _locate_damage(data: bytes, path: Path) -> ArtifactDamaged:
    """The error for a file whose bytes fail their sha256, naming the damaged part if the checks find it.

    libhdf5 can crash (segmentation fault) or loop on a damaged structure, so the parts are read in a forked
    child process with a time limit; if it dies or finds every part intact, the damage is in the HDF5
    structure (or unused bytes) between them."""
    def find() -> str:
        try:
            _parse(data, path, header_ok=True)
        except ArtifactDamaged as exc:
            return exc.message
        except DeployError as exc:         # e.g. the format attribute damaged
            return f"artifact damaged: {exc.field + ': ' if exc.field else ''}{exc.message}"
        return ""

    found = _in_child_process(find, LOCATE_TIMEOUT)
    return ArtifactDamaged(found or "artifact damaged: file checksum mismatch in the HDF5 structure between the "
                           "checked parts", path)


def _in_child_process(task: Callable[[], str], timeout: float) -> str:
    """`task()` run in a forked child; "" if the child crashes, fails or overruns `timeout` seconds."""
    if not hasattr(os, "fork"):
        return task()
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:                        # no process to spare: check here, at libhdf5's risk
        os.close(read_end)
        os.close(write_end)
        return task()
    if pid == 0:                           # the child: report and leave without running any exit handler
        try:
            os.close(read_end)
            faulthandler.disable()         # a crash here is expected and reported by the parent
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
            os.write(write_end, task().encode("utf-8")[:4096])
        finally:
            os._exit(0)
    os.close(write_end)
    chunks: list[bytes] = []
    try:
        while select.select([read_end], [], [], timeout)[0]:
            chunk = os.read(read_end, 4096)
            if not chunk:
                break
            chunks.append(chunk)
    finally:                               # time-out, Ctrl-C or done: the child (until reaped, still ours) ends
        os.close(read_end)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8", "replace")


class _Reader:
    """Reads the parts of an open artifact, each checked against the checksum table."""

    def __init__(self, f: h5py.File, path: Path) -> None:
        self.f, self.path = f, path

    def damaged(self, what: str) -> ArtifactDamaged:
        return ArtifactDamaged(f"artifact damaged: {what}", self.path)

    @contextmanager
    def reading(self, part: str) -> Iterator[None]:
        """libhdf5 reports a corrupt object header, heap or type as one of these; each means damage."""
        try:
            yield
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise self.damaged(f"{part} cannot be read ({reason})") from None

    def check_format(self) -> None:
        with self.reading("attribute 'format'"):
            fmt = self.f.attrs.get("format")
        if fmt != FORMAT:
            raise DeployError(f"not a tnas-deploy artifact (format attribute {fmt!r})", self.path, "format")
        with self.reading("attribute 'format_version'"):
            version = int(self.f.attrs.get("format_version", -1))
        if version == 1:
            raise DeployError(f"artifact format version 1 carries no checksums; this tnas-deploy reads "
                              f"{' and '.join(map(str, READABLE_VERSIONS))} (recompile the genome)", self.path,
                              "format_version")
        if version not in READABLE_VERSIONS:
            raise DeployError(f"artifact format version {version}; this tnas-deploy reads "
                              f"{' and '.join(map(str, READABLE_VERSIONS))} (recompile the genome)", self.path,
                              "format_version")

    def node(self, part: str, what: str) -> h5py.Dataset:
        """The dataset at `part` ("meta/genome"); a missing group or dataset, or a group in its place, is damage."""
        with self.reading(what):
            here: Any = self.f
            names = part.split("/")
            for depth, name in enumerate(names):
                if not isinstance(here, h5py.Group) or name not in here:
                    missing = "/".join(names[:depth + 1])
                    raise self.damaged(f"missing {what}" if depth == len(names) - 1 else f"missing group {missing}")
                here = here[name]
            if not isinstance(here, h5py.Dataset):
                raise self.damaged(f"{what} is a group, expected a dataset")
            return here

    def text(self, part: str, what: str) -> tuple[bytes, Any]:
        """The raw bytes and the parsed JSON of a scalar UTF-8 text dataset."""
        dataset = self.node(part, what)
        with self.reading(what):
            if dataset.shape != () or h5py.check_string_dtype(dataset.dtype) is None:
                raise self.damaged(f"{what} is not a text dataset")
            raw = dataset[()]
        raw = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
        try:
            return raw, json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):   # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise self.damaged(f"{what} is not valid UTF-8 JSON") from None

    def checksum_table(self) -> dict[str, dict[str, Any]]:
        what = f"checksum table '{CHECKSUMS}'"
        raw, table = self.text(CHECKSUMS, what)
        with self.reading(f"attribute '{CHECKSUMS_ATTR}'"):
            recorded = self.f.attrs.get(CHECKSUMS_ATTR)
        if recorded is None:
            raise self.damaged(f"missing attribute '{CHECKSUMS_ATTR}'")
        if _sha256(raw) != recorded:
            raise self.damaged(f"{what} (checksum mismatch)")
        if not isinstance(table, dict) or not all(
                isinstance(entry, dict) and isinstance(entry.get("sha256"), str) for entry in table.values()):
            raise self.damaged(f"{what} is malformed")
        return table

    def entry(self, table: dict[str, dict[str, Any]], part: str, what: str) -> dict[str, Any]:
        if part not in table:
            raise self.damaged(f"{what} is not in the checksum table")
        return table[part]

    def attr_text(self, name: str, table: dict[str, dict[str, Any]]) -> str:
        what = f"attribute '{name}'"
        entry = self.entry(table, f"attrs/{name}", what)
        with self.reading(what):
            if name not in self.f.attrs:
                raise self.damaged(f"missing {what}")
            value = self.f.attrs[name]
            if not isinstance(value, str):
                raise self.damaged(f"{what} is not text")
            data = value.encode("utf-8")
        if _sha256(data) != entry["sha256"]:
            raise self.damaged(f"{what} (checksum mismatch)")
        return value

    def meta(self, key: str, table: dict[str, dict[str, Any]]) -> Any:
        what = f"metadata '{key}'"
        raw, value = self.text(f"meta/{key}", what)
        if _sha256(raw) != self.entry(table, f"meta/{key}", what)["sha256"]:
            raise self.damaged(f"{what} (checksum mismatch)")
        return value

    def arrays(self, table: dict[str, dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
        """Every tensor the table lists, by group and name, after checking its dtype, shape and checksum."""
        out: dict[str, dict[str, np.ndarray]] = {}
        for part in sorted(p for p in table if p.startswith("arrays/")):
            entry = table[part]
            if part.count("/") != 2 or not isinstance(entry.get("dtype"), str) or not isinstance(entry.get("shape"), list):
                raise self.damaged(f"checksum table '{CHECKSUMS}' is malformed at {part!r}")
            dataset = self.node(part, f"dataset {part}")
            with self.reading(f"dataset {part}"):
                dtype, shape = dataset.dtype, list(dataset.shape)
                if dtype.name != entry["dtype"]:
                    raise self.damaged(f"dataset {part} has dtype {dtype.name}, expected {entry['dtype']}")
                if shape != entry["shape"]:
                    raise self.damaged(f"dataset {part} has shape {shape}, expected {entry['shape']}")
                values = dataset[()]
            if array_sha256(values) != entry["sha256"]:
                raise self.damaged(f"{part} (checksum mismatch)")
            _, group, name = part.split("/")
            out.setdefault(group, {})[name] = values
        return out

    def refuse_unlisted(self, table: dict[str, dict[str, Any]]) -> None:
        """A dataset the table does not list was not written by `compile`: its contents are unchecked."""
        found: list[str] = []
        with self.reading("the file's structure"):
            self.f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
        for name in found:
            if name != CHECKSUMS and name not in table:
                raise self.damaged(f"unexpected dataset {name} (not in the checksum table)")


def _build(path: Path, tool_version: str, meta: dict[str, Any], arrays: dict[str, dict[str, np.ndarray]]
           ) -> tuple[CompiledNetwork, dict[str, Any]]:
    """The network from checked parts. The checksums make a malformed entry here a writer's fault rather than
    damage in transit, but it is still refused as damage rather than crashing later."""
    def malformed(what: str, exc: Exception) -> ArtifactDamaged:
        return ArtifactDamaged(f"artifact damaged: {what} is malformed ({type(exc).__name__}: {exc})", path)

    try:
        net_meta = meta["network"]
        specs = list(net_meta["layers"])
    except (KeyError, TypeError) as exc:
        raise malformed("metadata 'network'", exc) from None
    layers = []
    for index, spec in enumerate(specs):
        try:
            layers.append(_layer_from_json(spec, arrays.get(f"{index:03d}_{spec['id']}", {})))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise malformed(f"metadata 'network' layer {index}", exc) from None
        except DeployError as exc:
            raise DeployError(exc.message, path, exc.field) from None
    try:
        net = CompiledNetwork(
            name=net_meta["name"], steps=net_meta["steps"], layers=layers, fmt=NumericFormat(**meta["format"]),
            input_shape=tuple(net_meta["input_shape"]), classes=tuple(net_meta["classes"]),
            windows=net_meta["windows"], window_method=net_meta["window_method"], genome=meta["genome"],
            provenance=meta["provenance"], profile=meta["profile"], inputs=meta["inputs"], options=meta["options"],
            tool_version=tool_version, notes=meta["notes"], headroom=meta["headroom"],
            quantization_error=meta["quantization_error"], coding=net_meta.get("coding", "ttfs"),
            run_steps=net_meta.get("run_steps", 0))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise malformed("metadata", exc) from None
    if not isinstance(meta["summary"], (dict, type(None))):   # None: saved without one (library use)
        raise ArtifactDamaged("artifact damaged: metadata 'summary' is malformed (not an object)", path)
    return net, meta["summary"]


def _layer_from_json(spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> Layer:
    common = dict(id=spec["id"], shape=tuple(spec["shape"]), window=spec["window"], nodes=tuple(spec["nodes"]))
    cls = LAYER_KINDS.get(spec["kind"])
    if cls is None:
        raise DeployError(f"unknown layer kind {spec['kind']!r} (layer {spec['id']!r}); this tnas-deploy knows "
                          f"{sorted(LAYER_KINDS)}: recompile the genome", None, "network.layers")
    return cls.from_json(common, spec, arrays)


__all__ = ["ArtifactDamaged", "save_artifact", "load_artifact", "checksum_table", "array_sha256", "FORMAT",
           "FORMAT_VERSION", "READABLE_VERSIONS", "format_version", "__version__"]
