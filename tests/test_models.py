"""The bundled models: they compile, their committed model cards are current, the digits model meets its
accuracy target, its committed weights give exactly its card's accuracies, and its training script is
deterministic on any one machine and retrains it to its card's accuracies on any machine."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from tnas_deploy.compiler import compile_files
from tnas_deploy.genome import load_genome
from tnas_deploy.model_card import card_json, measure_card, render_readme

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def _load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def cards() -> list[dict]:
    return _load_example("model_cards").measure_all(MODELS)


def test_model_cards_are_current(cards: list[dict]) -> None:
    """Every number in models/*.card.json and models/README.md is what the code measures now."""
    for card in cards:
        committed = (MODELS / f"{card['model']}.card.json").read_text()
        assert committed == card_json(card), f"stale card for {card['model']}: run examples/model_cards.py"
    assert (MODELS / "README.md").read_text() == render_readme(cards)


def test_digits_quantized_accuracy_within_one_point_of_float_ann(cards: list[dict]) -> None:
    acc = next(c for c in cards if c["model"] == "digits_ttfs")["accuracy"]
    assert acc["test_samples"] == 360
    assert acc["float_ann"] >= 0.95
    assert acc["float_ann"] - acc["quantized_reference"] <= 0.01


#: Bundled models whose deployed accuracy is known to be more than 1 point below their float accuracy, and why.
#: The test below fails when such a gap closes (then remove the entry) or when any other model opens one.
KNOWN_ACCURACY_GAPS: dict[str, str] = {}   # csnn_digits closed by bias correction (docs/fixed_point.md section 12)


def test_deployed_accuracy_within_one_point_of_float(cards: list[dict]) -> None:
    """On every card with labelled data: the quantized reference and, where the card has it, Lava (bit-exact with
    the reference) within 1 point of the float model the weights were trained as (float ANN for TTFS, float SNN
    for rate), except the gaps KNOWN_ACCURACY_GAPS names, which must still be there."""
    measured = [c for c in cards if c["accuracy"] is not None]
    assert {c["model"] for c in measured} >= {"digits_ttfs", "csnn_digits", "snasnet_digits"}
    for card in measured:
        acc = card["accuracy"]
        trained = acc["float_snn"] if "float_snn" in acc else acc["float_ann"]
        deployed = [acc["quantized_reference"]] + ([acc["lava"]] if "lava" in acc else [])
        assert acc.get("lava_bit_exact", True), card["model"]
        gap = max(trained - d for d in deployed)
        if card["model"] in KNOWN_ACCURACY_GAPS:
            assert gap > 0.01, f"{card['model']} is now within 1 point: remove it from KNOWN_ACCURACY_GAPS"
        else:
            assert gap <= 0.01 + 1e-9, (card["model"], acc)


def test_eye_model_is_labelled_untrained(cards: list[dict]) -> None:
    genome = load_genome(MODELS / "tnas_er_eye.json")
    assert genome.provenance["weights_status"] == "untrained"
    assert "UNTRAINED" in genome.description
    card = next(c for c in cards if c["model"] == "tnas_er_eye")
    assert card["weights_status"] == "untrained" and card["accuracy"] is None
    assert "untrained" in (MODELS / "README.md").read_text()


def test_eye_model_is_sized_for_smart_glasses() -> None:
    net, summary = compile_files(MODELS / "tnas_er_eye.json", calibration_path=MODELS / "eye_events_synthetic.npz")
    assert net.input_shape == (2, 64, 64) and len(net.classes) == 7
    assert 50_000 < summary["neurons"] < 200_000          # fits a few Loihi-class cores' worth of neurons
    assert 1_000_000 < summary["synapses"] < 30_000_000
    assert any(layer.kind == "ttfs" and len(layer.projections) == 2 for layer in net.layers)  # the residual add


#: How far a retrained digits model's accuracies may be from its committed model card (0.015 = 1.5 points = 5 of
#: the 360 test samples). Retraining is bit-reproducible only on one machine: another CPU's float rounding sends
#: the 60 epochs down a different path (0.0029 max weight difference seen on another machine), after which the
#: final accuracy varies like a re-run with perturbed initial weights. Measured around the card (float ANN 99.72 %,
#: quantized 99.72 %, i.e. 1 error each) in 43 retrainings with the committed recipe: 30 with the initial weights
#: perturbed by ~1 ulp and 1 with 2 torch threads (same seed, different rounding; weights end up to 0.57 apart)
#: moved the float ANN by at most 2 samples (0.56 points); 12 other torch seeds by at most 3 samples (0.83 points).
#: 1.5 points is ~2x the worst of those. It catches broken training (the same script with --epochs 3 gives
#: 96.11 % float, 96.11 % quantized), not small regressions: on these easy digits --epochs 5 already reaches
#: 98.33 % float (inside 1.5 points) but only 97.50 % quantized (outside the 2 points below).
DIGITS_RETRAIN_FLOAT_ANN_TOLERANCE = 0.015
#: The deployed accuracy (8-bit weights, reference simulator) adds quantization to that noise: the same 43 runs
#: moved it by at most 4 samples (1.11 points); 2 points (7 samples) is again ~2x that.
DIGITS_RETRAIN_QUANTIZED_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def retrained_digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """examples/train_digits.py with its defaults (60 epochs, fixed seed: the committed model's recipe), run twice,
    in two concurrent subprocesses (one thread each, ~7 s on 2 cores), each writing into its own temporary directory."""
    runs = []
    for name in ("first", "second"):
        out = tmp_path_factory.mktemp(f"digits_{name}")
        shutil.copy(MODELS / "digits_ttfs.json", out / "digits_ttfs.json")
        log = (out / "train.log").open("w")
        proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / "train_digits.py"),
                                 "--genome", str(out / "digits_ttfs.json")],
                                stdout=log, stderr=subprocess.STDOUT, text=True)
        runs.append((out, proc, log))
    for out, proc, log in runs:
        proc.wait()
        log.close()
        if proc.returncode != 0:
            pytest.fail(f"examples/train_digits.py failed:\n{(out / 'train.log').read_text()}")
    return runs[0][0], runs[1][0]


def test_digits_training_is_deterministic(retrained_digits: tuple[Path, Path]) -> None:
    """Two runs of examples/train_digits.py with the same seed on this machine write byte-identical weights and
    data splits, and the splits are the committed ones (they come from integer index shuffles, no float
    arithmetic beyond an exact /16, so they are the same on every CPU). The weights are not compared with the
    committed ones: on another CPU the float rounding differs and 60 epochs amplify it;
    test_retrained_digits_matches_its_model_card checks what a retrained model must reach instead."""
    first, second = retrained_digits
    for name in ("digits_ttfs.h5", "digits_calib.npz", "digits_test.npz"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), \
            f"{name} differs between two runs of examples/train_digits.py with the same seed"
    with h5py.File(first / "digits_ttfs.h5") as a, h5py.File(second / "digits_ttfs.h5") as b:
        assert sorted(a) == sorted(b) and sorted(a)
        for group in a:
            for name in a[group]:
                np.testing.assert_array_equal(a[group][name][()], b[group][name][()])
    for name in ("digits_calib.npz", "digits_test.npz"):
        a, b = np.load(MODELS / name), np.load(first / name)
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["y"], b["y"])


def test_retrained_digits_matches_its_model_card(retrained_digits: tuple[Path, Path]) -> None:
    """A model retrained by examples/train_digits.py (60 epochs, the committed recipe) reaches the committed
    card's accuracies on the same 360 test samples: float ANN within 1.5 points and quantized reference
    (loihi2, 8-bit) within 2 points (DIGITS_RETRAIN_*_TOLERANCE above says why), on any CPU."""
    out = retrained_digits[0]
    committed = json.loads((MODELS / "digits_ttfs.card.json").read_text())["accuracy"]
    measured = measure_card(out / "digits_ttfs.json", out / "digits_calib.npz", out / "digits_test.npz")["accuracy"]
    assert measured["test_samples"] == committed["test_samples"] == 360
    assert abs(measured["float_ann"] - committed["float_ann"]) <= DIGITS_RETRAIN_FLOAT_ANN_TOLERANCE, \
        (measured, committed)
    assert abs(measured["quantized_reference"] - committed["quantized_reference"]) \
        <= DIGITS_RETRAIN_QUANTIZED_TOLERANCE, (measured, committed)


def test_committed_digits_weights_give_the_cards_accuracy(cards: list[dict]) -> None:
    """The committed models/digits_ttfs.h5 (the same bytes on every machine) loads and, evaluated on the
    committed test split, gives exactly the accuracies its committed card states. The card stores
    round(correct / 360, 6) (README: percent with 2 decimals), which names the count of correct samples
    uniquely, so this compares at the card's precision: the same number of correctly classified samples."""
    committed = json.loads((MODELS / "digits_ttfs.card.json").read_text())["accuracy"]
    measured = next(c for c in cards if c["model"] == "digits_ttfs")["accuracy"]
    n = committed["test_samples"]
    assert measured["test_samples"] == n == 360
    for stage in ("float_ann", "float_ttfs", "quantized_reference"):
        assert round(measured[stage] * n) == round(committed[stage] * n), (stage, measured, committed)
        assert measured[stage] == committed[stage], (stage, measured, committed)


def test_eye_weights_are_reproducible(tmp_path: Path) -> None:
    module = _load_example("make_eye_model")
    x = module.synthetic_eye_events(np.random.default_rng(module.SEED))
    np.testing.assert_array_equal(x, np.load(MODELS / "eye_events_synthetic.npz")["x"])


def test_bundled_genomes_provenance_reaches_the_artifact(tmp_path: Path) -> None:
    from tnas_deploy.artifact import load_artifact, save_artifact
    net, summary = compile_files(MODELS / "digits_ttfs.json", calibration_path=MODELS / "digits_calib.npz")
    save_artifact(net, tmp_path / "d.tdart", summary)
    loaded, stored = load_artifact(tmp_path / "d.tdart")
    genome = json.loads((MODELS / "digits_ttfs.json").read_text())
    assert loaded.provenance == genome["provenance"] == stored["provenance"]
    assert loaded.inputs["weights"] and loaded.inputs["calibration"] and loaded.inputs["profile"]
