"""Hostile conditions: outputs that cannot be written, and artifacts that were damaged.

Every output goes through `io_utils.write_files_atomic`: a location that cannot be written (read-only, a file
in place of a folder, a full disk) exits with 2 and one line naming the path and the reason, and leaves
neither a partial file nor a `.tmp` file. Every command that reads an artifact checks it first: damaged
bytes, a missing dataset or a wrong shape exit with 2 and "artifact damaged: <the part>".

The read-only and full-disk tests need a location that root cannot write either (CI runs as root, where
chmod does not stop writes): paths under /proc and /sys, a file in place of a folder, and small tmpfs mounts
(`mount -t tmpfs`). Where mounting is not permitted those tests are skipped with the reason (pytest -ra).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from tnas_deploy import artifact
from tnas_deploy.artifact import HEADER_SIZE, ArtifactDamaged, load_artifact
from tnas_deploy.cli import main
from tnas_deploy.data import save_dataset
from tnas_deploy.errors import DeployError
from tnas_deploy.genome import load_genome
from tnas_deploy.io_utils import write_bytes_atomic, write_files_atomic
from tnas_deploy.weights import expected_shapes, save_weights

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
SMALL_CNN = ROOT / "tests" / "genomes" / "small_cnn.json"

RATE_MLP = {"format": "tnas-genome", "version": 2, "name": "rate-mlp", "weights": "rate_w.h5",
            "task": {"input_shape": [6], "classes": ["a", "b", "c"]}, "coding": {"scheme": "rate", "steps": 4},
            "nodes": [{"id": "x", "type": "input"},
                      {"id": "d1", "type": "dense", "inputs": ["x"], "units": 5, "neuron": {"model": "if", "threshold": 1.0}},
                      {"id": "o", "type": "dense", "inputs": ["d1"], "units": 3},
                      {"id": "out", "type": "readout", "inputs": ["o"]}]}


def random_weights(genome_path: Path, seed: int = 0) -> dict:
    """Weights of the right shapes; batch-norm variances (and everything else) in [0.5, 1.5]."""
    rng = np.random.default_rng(seed)
    return {node: {name: rng.uniform(0.5, 1.5, shape) for name, shape in tensors.items()}
            for node, tensors in expected_shapes(load_genome(genome_path)).items()}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict[str, Path]:
    """The small CNN compiled once (a 32 KB artifact), its data, a golden file and a rate artifact."""
    d = tmp_path_factory.mktemp("small")
    genome = d / "small_cnn.json"
    shutil.copy(SMALL_CNN, genome)
    save_weights(random_weights(genome), d / "w.h5")
    rng = np.random.default_rng(1)
    save_dataset(d / "data.npz", rng.uniform(0, 1, (6, 1, 6, 6)), rng.integers(0, 3, 6))
    art = d / "small.tdart"
    assert main(["compile", str(genome), "--weights", str(d / "w.h5"), "--calibration", str(d / "data.npz"),
                 "-o", str(art)]) == 0
    assert main(["golden", str(art), "--input", str(d / "data.npz"), "-o", str(d / "golden.npz"),
                 "--no-progress"]) == 0
    rate_genome = d / "rate.json"
    rate_genome.write_text(json.dumps(RATE_MLP))
    save_weights(random_weights(rate_genome), d / "rate_w.h5")
    save_dataset(d / "rate_data.npz", rng.uniform(0, 1, (4, 6)), rng.integers(0, 3, 4))
    assert main(["export", str(rate_genome), "--format", "netx", "--calibration", str(d / "rate_data.npz"), "-o",
                 str(d / "rate.net"), "--artifact", str(d / "rate.tdart")]) == 0
    return {"dir": d, "genome": genome, "weights": d / "w.h5", "data": d / "data.npz", "artifact": art,
            "golden": d / "golden.npz", "rate": d / "rate.tdart"}


def one_error_line(capsys, rc: int) -> str:
    """The command failed as a user error: exit 2, one line on stderr, no traceback."""
    captured = capsys.readouterr()
    assert rc == 2, (captured.out, captured.err)
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tnas-deploy: error: "), captured.err
    return lines[0]


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- damaged artifacts ---------------------------------------------------------------------------------

def _flip(data: bytearray, offset: int, value: int | None = None) -> None:
    data[offset] = data[offset] ^ 0x01 if value is None else value


def _meta_offset(path: Path, key: str) -> tuple[int, bytes]:
    with h5py.File(path, "r") as f:
        text = f["meta"][key][()]
    data = path.read_bytes()
    assert data.count(text) == 1
    return data.find(text), text


def damage_meta_utf8(path: Path) -> None:
    """A byte of the `network` metadata becomes 0xff: no longer UTF-8."""
    offset, text = _meta_offset(path, "network")
    data = bytearray(path.read_bytes())
    _flip(data, offset + len(text) // 2, 0xFF)
    path.write_bytes(data)


def damage_meta_value(path: Path) -> None:
    """A digit of the `network` metadata changes: still valid JSON, another network."""
    offset, text = _meta_offset(path, "network")
    digit = offset + text.index(b'"steps": ') + len(b'"steps": ')
    data = bytearray(path.read_bytes())
    data[digit] = ord("9") if data[digit] != ord("9") else ord("7")
    path.write_bytes(data)


def first_weights(path: Path) -> str:
    """The first layer's weights ("arrays/001_c1/w0" in the small CNN)."""
    with h5py.File(path, "r") as f:
        return f"arrays/{min(f['arrays'])}/w0"


THRESHOLD = "arrays/004_d1/threshold"      # the small CNN's hidden dense layer: 8 neurons


def _damage_dataset_bit(path: Path, dataset: str) -> None:
    with h5py.File(path, "r") as f:
        offset = f[dataset].id.get_offset()        # contiguous data: its first byte in the file
    data = bytearray(path.read_bytes())
    _flip(data, offset)
    path.write_bytes(data)


def damage_weights(path: Path) -> None:
    _damage_dataset_bit(path, first_weights(path))


def damage_threshold(path: Path) -> None:
    _damage_dataset_bit(path, THRESHOLD)


def damage_missing_dataset(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        del f[THRESHOLD]


def damage_wrong_shape(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        del f[THRESHOLD]
        f.create_dataset(THRESHOLD, data=np.zeros(3, dtype=np.int64))


def damage_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    _flip(data, 30)                                 # a hex digit of the recorded sha256
    path.write_bytes(data)


def damage_unlisted_dataset(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        f["arrays/004_d1"].create_dataset("w1", data=np.zeros(3, dtype=np.int16))


def damage_truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-1000])


#: (damage, what the error line must say; {weights} is the first layer's weights)
DAMAGES = {
    "meta-utf8": (damage_meta_utf8, "artifact damaged: metadata 'network' is not valid UTF-8 JSON"),
    "meta-value": (damage_meta_value, "artifact damaged: metadata 'network' (checksum mismatch)"),
    "weights": (damage_weights, "artifact damaged: {weights} (checksum mismatch)"),
    "threshold": (damage_threshold, "artifact damaged: arrays/004_d1/threshold (checksum mismatch)"),
    "missing-dataset": (damage_missing_dataset, "artifact damaged: missing dataset arrays/004_d1/threshold"),
    "wrong-shape": (damage_wrong_shape,
                    "artifact damaged: dataset arrays/004_d1/threshold has shape [3], expected [8]"),
    "header": (damage_header, "artifact damaged: file header"),
    "unlisted-dataset": (damage_unlisted_dataset,
                         "artifact damaged: unexpected dataset arrays/004_d1/w1 (not in the checksum table)"),
    "truncated": (damage_truncated, "artifact damaged: "),
}


def damaged_copy(small: dict[str, Path], tmp_path: Path, damage: str, source: str = "artifact") -> Path:
    path = tmp_path / f"damaged-{damage}.tdart"
    shutil.copy(small[source], path)
    DAMAGES[damage][0](path)
    return path


def _inspect(small, art, out):
    return ["inspect", str(art)]


def _run(small, art, out):
    return ["run", str(art), "--input", str(small["data"]), "-o", str(out / "result.npz"), "--no-progress"]


def _verify_golden(small, art, out):
    return ["verify", str(art), "--golden", str(small["golden"]), "--no-progress"]


def _verify_lava(small, art, out):
    return ["verify", str(art), "--input", str(small["data"]), "--no-progress"]


def _golden(small, art, out):
    return ["golden", str(art), "--input", str(small["data"]), "-o", str(out / "g.npz"), "--no-progress"]


def _bench(small, art, out):
    return ["bench", str(art), "--input", str(small["data"]), "-o", str(out / "report"), "--no-progress"]


def _view(small, art, out):
    return ["view", str(art), "--export", str(out / "view.onnx")]


def _export_netx(small, art, out):
    return ["export", str(art), "--format", "netx", "-o", str(out / "net.net")]


COMMANDS = {"inspect": _inspect, "run": _run, "verify-golden": _verify_golden, "verify-lava": _verify_lava,
            "golden": _golden, "bench": _bench, "view": _view, "export-netx": _export_netx}
#: Every damage for inspect and run; one (a different one each) for the other commands.
CASES = ([("inspect", d) for d in DAMAGES] + [("run", d) for d in DAMAGES]
         + [("verify-golden", "threshold"), ("verify-lava", "meta-utf8"), ("golden", "missing-dataset"),
            ("bench", "wrong-shape"), ("view", "weights"), ("export-netx", "weights")])


@pytest.mark.parametrize(("command", "damage"), CASES)
def test_damaged_artifact_is_refused_naming_the_part(small, tmp_path, capsys, command, damage) -> None:
    source = "rate" if command == "export-netx" else "artifact"
    art = damaged_copy(small, tmp_path, damage, source)
    out = tmp_path / "out"
    out.mkdir()
    expected = DAMAGES[damage][1].format(weights=first_weights(small[source]))
    line = one_error_line(capsys, main(COMMANDS[command](small, art, out)))
    assert line.startswith(f"tnas-deploy: error: {art}: {expected}"), line
    assert listing(out) == []                     # nothing written from a damaged artifact


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - {"verify-lava"}))
def test_every_command_accepts_the_intact_artifact(small, tmp_path, capsys, command) -> None:
    """The controls of the test above: the same commands succeed on the undamaged artifacts (verify against
    Lava is left to tests/test_lava.py: it loads the artifact as verify --golden does, then runs Lava)."""
    art = small["rate" if command == "export-netx" else "artifact"]
    out = tmp_path / "out"
    out.mkdir()
    assert main(COMMANDS[command](small, art, out)) == 0, capsys.readouterr().err


def test_golden_file_of_the_same_artifact_says_so(small, capsys) -> None:
    """Artifacts are deterministic, so the golden file's artifact sha256 identifies the very artifact."""
    assert main(["verify", str(small["artifact"]), "--golden", str(small["golden"]), "--json",
                 "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["same_artifact"] is True and report["identical_samples"] == 6


def test_damage_in_the_hdf5_structure_never_crashes(small, tmp_path, monkeypatch) -> None:
    """libhdf5 may crash on a damaged structure: the search for the damaged part runs in a child process, and
    a crash there (simulated with SIGSEGV) still ends in the one clean error."""
    art = damaged_copy(small, tmp_path, "weights")

    def crash(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGSEGV)

    monkeypatch.setattr(artifact, "_parse", crash)
    with pytest.raises(ArtifactDamaged, match=r"artifact damaged: file checksum mismatch in the HDF5 structure"):
        load_artifact(art)


def test_artifact_of_format_version_1_asks_for_a_recompile(tmp_path) -> None:
    old = tmp_path / "old.tdart"
    with h5py.File(old, "w") as f:
        f.attrs["format"] = "tnas-artifact"
        f.attrs["format_version"] = 1
    with pytest.raises(DeployError, match=r"format version 1 carries no checksums.*recompile the genome"):
        load_artifact(old)


def test_checksum_table_covers_every_dataset(small) -> None:
    with h5py.File(small["artifact"], "r") as f:
        table = json.loads(f["checksums"][()])
        datasets: list[str] = []
        f.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
    assert sorted(set(datasets) - {"checksums"}) == sorted(p for p in table if not p.startswith("attrs/"))
    assert {"attrs/name", "attrs/tool_version"} <= set(table)
    assert small["artifact"].read_bytes()[:14] == b"tnas-artifact\n"


# -- outputs that cannot be written --------------------------------------------------------------------

def mount_tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """Mount a tmpfs at `folder` (root only); skip the test, saying why, where that is not permitted."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root); not run as this user")
    folder.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode}); "
                    "the read-only / full-disk case is not tested on this machine")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def full_disk(tmp_path) -> Iterator[Path]:
    """A 64 KiB tmpfs: smaller than the digits artifact (68 KB)."""
    yield from mount_tmpfs(tmp_path / "disk", "size=64k")


@pytest.fixture
def read_only_disk(tmp_path) -> Iterator[Path]:
    yield from mount_tmpfs(tmp_path / "ro", "ro,size=64k")


def test_full_disk_compile_exits_2_and_leaves_nothing(full_disk) -> None:
    """A real process: libhdf5 used to crash here (exit 139) and leave a .tmp file behind."""
    target = full_disk / "digits.tdart"
    proc = subprocess.run([sys.executable, "-m", "tnas_deploy.cli", "compile", str(MODELS / "digits_ttfs.json"),
                           "-o", str(target)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"tnas-deploy: error: {target}: cannot write: No space left on device"]
    assert listing(full_disk) == []


def test_full_disk_keeps_the_old_file_and_every_output_fails_cleanly(small, full_disk, capsys) -> None:
    """On a full disk an earlier output stays untouched, and run, golden, bench and compile all fail the
    same way, leaving no file and no folder they created."""
    old = full_disk / "small.tdart"
    shutil.copy(small["artifact"], old)                       # 32 KB: fits
    before = old.read_bytes()
    with open(full_disk / "filler", "wb", buffering=0) as fh, pytest.raises(OSError):   # fill the disk
        while True:
            fh.write(bytes(4096))
    for argv in (_run(small, small["artifact"], full_disk), _golden(small, small["artifact"], full_disk),
                 _bench(small, small["artifact"], full_disk),
                 ["compile", str(small["genome"]), "--weights", str(small["weights"]), "-o", str(old)]):
        line = one_error_line(capsys, main(argv))
        assert line.endswith(": cannot write: No space left on device"), line
        assert listing(full_disk) == ["filler", "small.tdart"], argv
    assert old.read_bytes() == before


@pytest.mark.parametrize("command", ["compile", "run", "view", "export-nir", "export-netx", "import"])
def test_read_only_disk(small, read_only_disk, capsys, command) -> None:
    out = read_only_disk / ("sub/x.out" if command == "compile" else "x.json" if command == "import" else "x.out")
    argv = {"compile": ["compile", str(small["genome"]), "--weights", str(small["weights"]), "-o", str(out)],
            "run": ["run", str(small["artifact"]), "--input", str(small["data"]), "-o", str(out), "--no-progress"],
            "view": ["view", str(small["artifact"]), "--export", str(out)],
            "export-nir": ["export", str(small["genome"]), "--weights", str(small["weights"]), "--format", "nir",
                           "-o", str(out)],
            "export-netx": ["export", str(small["rate"]), "--format", "netx", "-o", str(out)],
            "import": ["import", str(small["dir"] / "rate.net"), "-o", str(out)]}[command]
    line = one_error_line(capsys, main(argv))
    if command == "compile":
        expected = f"{out}: cannot write: cannot create the folder {out.parent} (Read-only file system)"
    elif command == "import":          # the weights are written first; the genome is not written without them
        expected = f"{out.with_suffix('.h5')}: cannot write: Read-only file system"
    else:
        expected = f"{out}: cannot write: Read-only file system"
    assert line == f"tnas-deploy: error: {expected}"
    assert listing(read_only_disk) == []


@pytest.mark.parametrize(("target", "reason"), [
    ("/proc/tnas-deploy-test.tdart", "No such file or directory"),
    ("/proc/tnas-deploy-test/x.tdart", "cannot create the folder /proc/tnas-deploy-test (No such file or directory)"),
    ("/sys/tnas-deploy-test.tdart", None),
])
def test_locations_nobody_can_write(small, capsys, target, reason) -> None:
    """/proc and /sys refuse new files even to root (the exact errno of /sys differs between kernels)."""
    line = one_error_line(capsys, main(["compile", str(small["genome"]), "--weights", str(small["weights"]),
                                        "-o", target]))
    assert line.startswith(f"tnas-deploy: error: {target}: cannot write: ")
    if reason is not None:
        assert line.endswith(reason)
    assert not Path(target).exists()


def test_a_file_in_place_of_a_folder(small, tmp_path, capsys) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    for out in (blocker / "x.npz", blocker / "deeper" / "x.npz"):
        line = one_error_line(capsys, main(["run", str(small["artifact"]), "--input", str(small["data"]),
                                            "-o", str(out), "--no-progress"]))
        assert line == f"tnas-deploy: error: {out}: cannot write: {blocker} is a file, not a folder"
    assert listing(tmp_path) == ["results"]


def test_a_folder_or_a_pipe_as_the_output(small, tmp_path, capsys) -> None:
    """Renaming over a pipe or device would replace it (as root, /dev/null itself): both are refused."""
    folder, pipe = tmp_path / "folder", tmp_path / "pipe"
    folder.mkdir()
    os.mkfifo(pipe)
    for out, what in ((folder, "a directory"), (pipe, "a device, pipe or socket, not a regular file")):
        line = one_error_line(capsys, main(["view", str(small["artifact"]), "--export", str(out)]))
        assert line.startswith(f"tnas-deploy: error: {out}: cannot write: it is {what}")
    assert stat.S_ISFIFO(os.stat(pipe).st_mode) and listing(folder) == []
    assert listing(tmp_path) == ["folder", "pipe"]


def test_unwritable_folder_for_a_normal_user(small, tmp_path, capsys) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into a chmod 0555 folder; the read-only tmpfs test covers root")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        line = one_error_line(capsys, main(["view", str(small["artifact"]), "--export", str(locked / "v.onnx")]))
        assert line == f"tnas-deploy: error: {locked / 'v.onnx'}: cannot write: Permission denied"
        assert listing(locked) == []
    finally:
        locked.chmod(0o755)


# -- the writer itself ---------------------------------------------------------------------------------

def test_files_written_together_are_all_or_nothing(tmp_path) -> None:
    """import writes a genome and its weights: if one cannot be written, neither is."""
    (tmp_path / "blocker").write_text("")
    with pytest.raises(DeployError, match="is a file, not a folder"):
        write_files_atomic({tmp_path / "genome.json": b"{}", tmp_path / "blocker" / "w.h5": b"weights"})
    assert listing(tmp_path) == ["blocker"]


def test_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch) -> None:
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_bytes_atomic(target, b"new")
    assert listing(tmp_path) == ["x.bin"] and target.read_bytes() == b"old"


def test_written_file_has_the_usual_mode(tmp_path) -> None:
    write_bytes_atomic(tmp_path / "x.bin", b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(tmp_path / "x.bin").st_mode) == 0o666 & ~mask


def test_nir_bytes_are_those_of_nir_write(small, tmp_path, capsys) -> None:
    """The NIR file is built in memory by a copy of nir.write; it must stay byte-identical to nir.write."""
    nir = pytest.importorskip("nir")
    from tnas_deploy.interop.nir_common import nir_image

    out = tmp_path / "g.nir"
    assert main(["export", str(small["genome"]), "--weights", str(small["weights"]), "--format", "nir",
                 "-o", str(out)]) == 0
    capsys.readouterr()
    graph = nir.read(out)
    nir.write(tmp_path / "by_nir.nir", graph)
    assert nir_image(graph) == (tmp_path / "by_nir.nir").read_bytes()


def test_header_is_the_sha256_of_the_rest(small) -> None:
    import hashlib
    data = small["artifact"].read_bytes()
    assert data[:HEADER_SIZE] == artifact.file_header(hashlib.sha256(data[HEADER_SIZE:]).hexdigest())
