"""Fuzzing the command line with hostile but fair inputs: damaged genomes, data files, profiles and artifacts.

Whatever the input, a command ends with exit 0 (it worked) or exit 2 (one line naming the problem): never a
traceback (an exception escaping `tnas_deploy.cli.main`), never another exit code, never a partial or `.tmp`
file in the output folder. `tests/fuzz_corpus/` keeps the inputs that once broke this promise; the property
tests mutate valid inputs at random.

In CI the property tests run a few dozen examples each, derandomized (the same examples on every run). For a
long run with fresh random examples: `make fuzz` (TNAS_DEPLOY_FUZZ_EXAMPLES=2000, TNAS_DEPLOY_FUZZ_RANDOM=1).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tnas_deploy.cli import main
from tnas_deploy.data import save_dataset
from tnas_deploy.genome import genome_from_json
from tnas_deploy.random_genome import random_genome_json, random_weights
from tnas_deploy.weights import save_weights

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
SMALL_CNN = Path(__file__).resolve().parent / "genomes" / "small_cnn.json"
EXAMPLES = int(os.environ.get("TNAS_DEPLOY_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                derandomize=not os.environ.get("TNAS_DEPLOY_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def run_cli(args: list[str], out_dir: Path) -> int:
    """Run one command in-process; an exception escaping `main` fails the test (that is a traceback)."""
    try:
        code = main(args)
    except SystemExit as exc:          # argparse's own usage errors
        code = int(exc.code or 0)
    assert code in (0, 2), f"exit {code} from tnas-deploy {' '.join(args)}"
    leftovers = [p.name for p in out_dir.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    return code


def fresh_dir(base: Path, name: str) -> Path:
    path = base / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The small test genome with weights, data and a compiled artifact."""
    root = tmp_path_factory.mktemp("fuzz")
    genome = genome_from_json(json.loads(SMALL_CNN.read_text()), SMALL_CNN)
    weights = root / "small.h5"
    save_weights(random_weights(genome, 0), weights)
    rng = np.random.default_rng(0)
    data = root / "data.npz"
    save_dataset(data, rng.random((8, 1, 6, 6)), rng.integers(0, 3, 8))
    artifact = root / "small.tdart"
    assert main(["compile", str(SMALL_CNN), "--weights", str(weights), "--calibration", str(data),
                 "-o", str(artifact), "--json"]) == 0
    return {"genome": SMALL_CNN, "weights": weights, "data": data, "artifact": artifact, "root": root}


# -- the stored corpus ---------------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(p.name for p in CORPUS.iterdir()), ids=str)
def test_corpus_inputs_end_in_exit_0_or_2(case: str, small: dict[str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = CORPUS / case
    out = tmp_path / "out"
    out.mkdir()
    if case.startswith("genome_"):
        args = ["compile", str(path), "--weights", str(small["weights"]), "-o", str(out / "x.tdart")]
    elif case.startswith("profile_"):
        args = ["compile", str(small["genome"]), "--weights", str(small["weights"]), "--profile", str(path),
                "-o", str(out / "x.tdart")]
    elif case.startswith("data_"):
        args = ["run", str(small["artifact"]), "--input", str(path), "-o", str(out / "r.npz")]
    elif case.startswith("artifact_"):
        args = ["run", str(path), "--input", str(small["data"]), "-o", str(out / "r.npz")]
    else:
        raise AssertionError(f"corpus file {case} has no known prefix (genome_, profile_, data_, artifact_)")
    code = run_cli(args, out)
    err = capsys.readouterr().err
    if code == 2:
        assert err.startswith("tnas-deploy: error: ") and err.count("\n") == 1, err
        assert not any(out.iterdir()), "a failed command left a file behind"


# -- mutated genomes -----------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0, -1, 1e300, -1e300, 3e38, 65537])
    | st.text(max_size=8) | st.sampled_from(["x", "ttfs", "rate", "lif", "dense", "\ud800", "../x"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value (dict keys and list indices)."""
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


def _mutate(obj: Any, path: tuple, action: str, value: Any) -> Any:
    if not path:
        return value if action == "replace" else obj
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = value
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(last, json.loads(json.dumps(parent[last])))
    return obj


@FUZZ
@given(seed=st.integers(0, 10_000), edits=st.lists(
    st.tuples(st.integers(0, 10_000), st.sampled_from(["replace", "delete", "duplicate"]), JSON_VALUES),
    min_size=1, max_size=3))
def test_mutated_genomes_compile_or_are_refused(seed: int, edits: list, tmp_path: Path) -> None:
    obj = random_genome_json(seed, max_blocks=2)
    weights = tmp_path / f"w{seed}.h5"        # hypothesis reuses tmp_path across examples: one file per genome
    if not weights.exists():
        save_weights(random_weights(genome_from_json(json.loads(json.dumps(obj))), seed), weights)
    for where, action, value in edits:
        places = _paths(obj)
        obj = _mutate(obj, places[where % len(places)], action, value)
    genome = tmp_path / "g.json"
    genome.write_text(json.dumps(obj), encoding="utf-8")
    out = fresh_dir(tmp_path, "out")
    code = run_cli(["compile", str(genome), "--weights", str(weights), "-o", str(out / "x.tdart"), "--json"], out)
    assert (out / "x.tdart").exists() == (code == 0)


# -- damaged data files, profiles and artifacts --------------------------------------------------------

FLIPS = st.lists(st.tuples(st.integers(0, 2 ** 31), st.integers(1, 255)), min_size=1, max_size=8)


def _flip(data: bytes, flips: list[tuple[int, int]], truncate: int | None = None) -> bytes:
    buf = bytearray(data)
    for at, mask in flips:
        buf[at % len(buf)] ^= mask
    return bytes(buf[:truncate] if truncate else buf)


@FUZZ
@given(flips=FLIPS, truncate=st.none() | st.integers(1, 4000))
def test_damaged_data_files_run_or_are_refused(flips: list, truncate: int | None, small: dict[str, Path],
                                               tmp_path: Path) -> None:
    data = tmp_path / "d.npz"
    data.write_bytes(_flip(small["data"].read_bytes(), flips, truncate))
    out = fresh_dir(tmp_path, "out")
    code = run_cli(["run", str(small["artifact"]), "--input", str(data), "-o", str(out / "r.npz"), "--json"], out)
    assert (out / "r.npz").exists() == (code == 0)


@FUZZ
@given(line=st.integers(0, 1000), action=st.sampled_from(["delete", "replace", "insert"]),
       text=st.sampled_from(["", "=", "[format]", "value = -1", "value = 1e300", "value = 0", "name = \"../x\"",
                             "x = [[[[[[[[]]]]]]]]", "weight_bits = { value = 99 }", "\x00", "kind = \"baseline\""]))
def test_damaged_profiles_compile_or_are_refused(line: int, action: str, text: str, small: dict[str, Path],
                                                 tmp_path: Path) -> None:
    lines = (ROOT / "hw_profiles" / "loihi2.toml").read_text(encoding="utf-8").splitlines()
    at = line % len(lines)
    if action == "delete":
        del lines[at]
    elif action == "replace":
        key = lines[at].split("=")[0].strip()
        lines[at] = f"{key} = {text.split('=', 1)[-1].strip() or '0'}" if "=" in lines[at] else text
    else:
        lines.insert(at, text)
    profile = tmp_path / "p.toml"
    profile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = fresh_dir(tmp_path, "out")
    run_cli(["compile", str(small["genome"]), "--weights", str(small["weights"]), "--profile", str(profile),
             "-o", str(out / "x.tdart"), "--json"], out)


@FUZZ
@given(flips=FLIPS, truncate=st.none() | st.integers(1, 60_000), command=st.sampled_from(["inspect", "run"]))
def test_damaged_artifacts_are_refused(flips: list, truncate: int | None, command: str, small: dict[str, Path],
                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    artifact = tmp_path / "a.tdart"
    original = small["artifact"].read_bytes()
    damaged = _flip(original, flips, truncate)
    artifact.write_bytes(damaged)
    out = fresh_dir(tmp_path, "out")
    args = ["inspect", str(artifact), "--json"] if command == "inspect" else \
        ["run", str(artifact), "--input", str(small["data"]), "-o", str(out / "r.npz"), "--json"]
    code = run_cli(args, out)
    if damaged != original:      # every byte of an artifact is covered by a checksum: any change is refused
        err = capsys.readouterr().err
        assert code == 2 and f"{artifact}: " in err and err.count("\n") == 1, err
        assert "artifact" in err, err    # "artifact damaged: <part>", or (header hit) "not a tnas-deploy artifact"
