"""Population evaluation (`tnas-deploy bench --population`, `population.evaluate_population`): failure isolation,
resume, Pareto fronts, Ray workers giving the rows one process gives, and no Ray process outliving the command.

Small random genomes of digits' shape (`population.synthetic`) on the first samples of models/digits_test.npz.
Rows are compared whole: they hold no timings, so equal inputs must give equal rows."""
from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tnas_deploy.cli import main
from tnas_deploy.population import (RESULTS_FILE, PopulationResult, dominates, evaluate_population, list_population,
                                    pareto_front, run_serial)
from tnas_deploy.population.synthetic import write_random_population
from tnas_deploy.profiles import available_profiles

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "models" / "digits_test.npz"
CALIBRATION = ROOT / "models" / "digits_calib.npz"
CLASSES = [str(i) for i in range(10)]
SAMPLES = 12
PROFILES = ("loihi2", "speck")
MALFORMED = '{"format": "tnas-genome", "version": 1, "name": "bad"'


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four random genomes with their weights, and one malformed genome file (bad.json)."""
    folder = tmp_path_factory.mktemp("population")
    write_random_population(folder, 4, [1, 8, 8], CLASSES)
    (folder / "bad.json").write_text(MALFORMED, encoding="utf-8")
    return folder


def evaluate(source: object, **kwargs: object) -> PopulationResult:
    options: dict = {"data": DATA, "calibration": CALIBRATION, "profiles": PROFILES, "samples": SAMPLES,
                     "executor": run_serial}
    options.update(kwargs)
    return evaluate_population(source, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def serial_rows(population: Path) -> list[dict]:
    return evaluate(population).rows


class CountingExecutor:
    """`run_serial`, remembering which genomes it was asked to evaluate."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, entries, settings_, key, on_row) -> None:  # noqa: ANN001 - the Executor signature
        self.asked += [e.shown for e in entries]
        run_serial(entries, settings_, key, on_row)


# -- failure isolation ---------------------------------------------------------------------------------------

def test_a_malformed_genome_is_a_failed_row_and_the_others_are_evaluated(population: Path,
                                                                         serial_rows: list[dict]) -> None:
    assert [Path(r["genome"]).name for r in serial_rows] == sorted(p.name for p in population.glob("*.json"))
    bad = next(r for r in serial_rows if r["genome"].endswith("bad.json"))
    assert bad["status"] == "failed"
    assert bad["error"].startswith(f"{population / 'bad.json'}: malformed JSON")
    good = [r for r in serial_rows if r is not bad]
    assert len(good) == 4 and all(r["status"] == "ok" for r in good)
    for row in good:
        assert row["samples"] == SAMPLES and 0 <= row["war"] <= 1 and row["spikes"] > 0
        assert set(row["profiles"]) == set(PROFILES)
        assert row["profiles"]["loihi2"]["energy_uj"] > 0 and row["profiles"]["loihi2"]["latency_ms"] > 0


def test_a_listed_file_that_is_missing_is_a_failed_row(population: Path, tmp_path: Path) -> None:
    listing = tmp_path / "genomes.txt"
    listing.write_text(f"# two genomes\n{population / 'random_0.json'}\n\nmissing.json\n", encoding="utf-8")
    entries = list_population(listing)
    assert [e.shown for e in entries] == [str(population / "random_0.json"), str(tmp_path / "missing.json")]
    rows = evaluate(listing).rows
    assert [r["status"] for r in rows] == ["ok", "failed"]
    assert "missing.json: cannot read the genome" in rows[1]["error"]


def test_the_fast_cost_path_gives_the_reference_rows(population: Path, serial_rows: list[dict]) -> None:
    fast = evaluate(population, fast=True).rows
    for ref, quick in zip(serial_rows, fast):
        drop = {"method", "settings"}
        assert {k: v for k, v in ref.items() if k not in drop} == {k: v for k, v in quick.items() if k not in drop}
    assert {r.get("method") for r in fast if r["status"] == "ok"} == {"closed-form"}


# -- resume --------------------------------------------------------------------------------------------------

def test_resume_skips_finished_rows_and_evaluates_changed_genomes_again(population: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pop"
    shutil.copytree(population, folder)
    out = tmp_path / "out"
    first = CountingExecutor()
    result = evaluate(folder, out_dir=out, executor=first)
    assert len(first.asked) == 5 and result.evaluated == 5 and result.reused == 0
    results = out / RESULTS_FILE
    lines = results.read_bytes()
    report = (out / "population.html").read_bytes()

    again = CountingExecutor()
    result = evaluate(folder, out_dir=out, executor=again)
    assert again.asked == [] and result.reused == 5
    assert results.read_bytes() == lines and (out / "population.html").read_bytes() == report

    genome = json.loads((folder / "random_2.json").read_text(encoding="utf-8"))
    genome["time"]["steps_per_window"] = 8 if genome["time"]["steps_per_window"] != 8 else 16
    (folder / "random_2.json").write_text(json.dumps(genome), encoding="utf-8")
    changed = CountingExecutor()
    result = evaluate(folder, out_dir=out, executor=changed)
    assert changed.asked == [str(folder / "random_2.json")] and result.reused == 4
    assert results.read_bytes().startswith(lines) and len(results.read_bytes().splitlines()) == 6

    other_settings = CountingExecutor()
    evaluate(folder, out_dir=out, executor=other_settings, samples=SAMPLES - 2)
    assert len(other_settings.asked) == 5


def test_a_torn_last_line_and_a_lost_worker_are_evaluated_again(population: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    evaluate(population, out_dir=out)
    results = out / RESULTS_FILE
    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    lost = {**rows[1], "status": "failed", "transient": True, "error": "its Ray worker died twice"}
    results.write_text("".join(json.dumps(r) + "\n" for r in rows[:1] + [lost] + rows[2:-1])
                       + json.dumps(rows[-1])[:40], encoding="utf-8")
    resumed = CountingExecutor()
    result = evaluate(population, out_dir=out, executor=resumed)
    assert resumed.asked == [rows[1]["genome"], rows[-1]["genome"]]
    assert [r["status"] for r in result.rows] == [r["status"] for r in rows]
    assert results.read_bytes().endswith(b"\n")


def test_a_damaged_results_file_is_a_clear_error(population: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / RESULTS_FILE).write_text("not json\n", encoding="utf-8")
    code = main(["bench", "--population", str(population), "--input", str(DATA), "-o", str(out), "--no-progress"])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"tnas-deploy: error: {out / RESULTS_FILE}: line 1 is not a result row of tnas-deploy bench --population; "
        "remove the line (that genome is evaluated again) or choose another -o")


# -- Pareto fronts -------------------------------------------------------------------------------------------

def test_pareto_front_of_hand_made_points() -> None:
    points = [(0.90, 10.0),    # 0 front
              (0.80, 5.0),     # 1 front (cheapest)
              (0.85, 12.0),    # 2 dominated by 0
              (0.80, 5.0),     # 3 equal to 1: on the front too
              (None, 1.0),     # 4 unknown accuracy: on no front
              (0.95, 50.0),    # 5 front (most accurate)
              (0.90, 11.0),    # 6 as accurate as 0, costlier: dominated
              (0.70, None),    # 7 unknown cost
              (0.95, 60.0)]    # 8 dominated by 5
    assert pareto_front(points) == [0, 1, 3, 5]
    assert pareto_front([]) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5).map(lambda a: a / 5), st.integers(1, 6).map(float)), max_size=12))
def test_pareto_front_is_the_set_no_point_dominates(points: list[tuple[float, float]]) -> None:
    expected = [i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)]
    assert pareto_front(points) == expected


def test_report_fronts_and_table(population: Path, tmp_path: Path) -> None:
    result = evaluate(population, out_dir=tmp_path)
    ok = [r for r in result.rows if r["status"] == "ok"]
    for chip in PROFILES:
        points = [(r["war"], r["profiles"][chip]["energy_uj"]) for r in ok]
        assert result.front(chip) == sorted(ok[i]["genome"] for i in pareto_front(points))
    page = (tmp_path / "population.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "Pareto fronts on loihi2" in page and "Failed genomes" in page
    assert (tmp_path / "plots" / "pareto_speck.png").is_file()
    table = result.table()
    assert table[0].split()[:5] == ["genome", "status", "WAR", "UAR", "spikes"]
    assert table[-1] == f"failed: {population / 'bad.json'}: " + result.failed[0]["error"].split(": ", 1)[1]


# -- Ray -----------------------------------------------------------------------------------------------------

def marked_processes(mark: str) -> list[int]:
    """Live processes whose environment holds `mark` (Ray's processes inherit the command's environment)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if mark.encode() in fh.read():
                    with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                        if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                            found.append(int(entry))
        except OSError:
            continue
    return found


def command_env(mark: str) -> dict[str, str]:
    return {**os.environ, "TNAS_POPULATION_TEST_MARK": mark, "TNAS_DEPLOY_PROGRESS_INTERVAL": "0"}


def population_command(population: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "tnas_deploy.cli", "bench", "--population", str(population), "--input", str(DATA),
            "--calibration", str(CALIBRATION), "--profile", PROFILES[0], "--profile", PROFILES[1],
            "--samples", str(SAMPLES), "-o", str(out), "--workers", "2"]


def test_two_ray_workers_give_the_rows_and_report_of_one_process_and_leave_no_ray_process(
        population: Path, serial_rows: list[dict], tmp_path: Path) -> None:
    """The command on 2 Ray workers: exit 0 with a failed row; rows (finished in any order) and report files as
    one process evaluating the genomes in turn gives them; no process of the command's left afterwards."""
    mark = uuid.uuid4().hex
    done = subprocess.run(population_command(population, tmp_path / "ray"), capture_output=True, text=True,
                          env=command_env(mark), timeout=300)
    assert done.returncode == 0, done.stderr
    assert "5 genomes: 5 evaluated now; 1 failed" in done.stdout
    assert "evaluating genomes: 5/5 genomes" in done.stderr      # progress lines, output not a terminal
    assert marked_processes(mark) == []
    rows = [json.loads(line) for line in (tmp_path / "ray" / RESULTS_FILE).read_text(encoding="utf-8").splitlines()]
    assert sorted(rows, key=lambda r: r["genome"]) == serial_rows
    evaluate(population, out_dir=tmp_path / "serial")
    for name in ("population.md", "population.html", "plots/pareto_loihi2.png", "plots/pareto_speck.png"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "serial" / name).read_bytes(), name


def test_sigterm_stops_the_batch_and_leaves_no_ray_process(tmp_path: Path) -> None:
    folder = tmp_path / "pop"
    write_random_population(folder, 40, [1, 8, 8], CLASSES)
    mark = uuid.uuid4().hex
    out = tmp_path / "out"
    proc = subprocess.Popen(population_command(folder, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=command_env(mark))
    try:
        deadline = time.monotonic() + 240
        while not (out / RESULTS_FILE).is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the batch ended before any row was written"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err
    for _ in itertools.repeat(None, 50):           # killed processes leave the table within moments
        if not marked_processes(mark):
            break
        time.sleep(0.1)
    assert marked_processes(mark) == []
    rows = (out / RESULTS_FILE).read_text(encoding="utf-8").splitlines()
    assert 1 <= len(rows) < 40 and all(json.loads(line)["status"] == "ok" for line in rows)


def test_a_killed_ray_worker_is_reported_and_its_genome_evaluated_again(population: Path, tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    out = tmp_path / "out"
    proc = subprocess.Popen(population_command(population, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=command_env(mark))
    killed = None
    try:
        deadline = time.monotonic() + 240
        while killed is None and proc.poll() is None and time.monotonic() < deadline:
            for pid in marked_processes(mark):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as fh:
                        running = fh.read().startswith(b"ray::evaluate_entry")
                except OSError:
                    continue
                if running:
                    os.kill(pid, signal.SIGKILL)
                    killed = pid
                    break
            time.sleep(0.01)
        out_text, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed is not None, "no genome was seen running"
    assert proc.returncode == 0, err
    assert "its Ray worker died" in err and "evaluating it again" in err
    assert "5 genomes: 5 evaluated now; 1 failed" in out_text        # only bad.json: the lost genome ran again
    assert marked_processes(mark) == []


def test_bad_arguments_exit_2(population: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["bench", "--input", str(DATA), "--no-progress"]
    cases = {
        ("--population", str(population)): "--output: expected an output folder for the results and report (-o OUT)",
        ("--population", str(tmp_path / "none"), "-o", str(tmp_path)):
            f"{tmp_path / 'none'}: --population: no such folder or list file",
        ("--population", str(population), "-o", str(tmp_path), "--workers", "0"):
            "--workers: expected a number of workers >= 1, got 0",
        (str(ROOT / "models" / "digits_ttfs.json"), "--workers", "2"):
            "--workers: applies only to a population bench: add --population DIR_OR_LIST",
        ("--population", str(population), "-o", str(tmp_path), "--profile", "nochip"):
            f"--profile: unknown profile 'nochip'; expected one of {available_profiles()} or a path to a .toml file",
        ("--population", str(population), "-o", str(tmp_path), "--backend", "lava"):
            "--backend: --backend is not available with --population (each genome runs in its own coding on the "
            "reference simulator or the fast cost path)",
    }
    for args, message in cases.items():
        assert main(base + list(args)) == 2, args
        assert capsys.readouterr().err.strip() == f"tnas-deploy: error: {message}"
    assert not (tmp_path / RESULTS_FILE).exists()     # refused before anything was evaluated
