"""The bundled models: they compile, their committed model cards are current, the digits model meets its
accuracy target and is reproducible from its training script."""
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
from tnas_deploy.model_card import card_json, render_readme

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


def test_digits_training_is_reproducible(tmp_path: Path) -> None:
    """examples/train_digits.py with its fixed seed gives the committed weights and data splits."""
    for name in ("digits_ttfs.json",):
        shutil.copy(MODELS / name, tmp_path / name)
    subprocess.run([sys.executable, str(ROOT / "examples" / "train_digits.py"), "--genome",
                    str(tmp_path / "digits_ttfs.json")], check=True, capture_output=True, text=True)
    for name in ("digits_calib.npz", "digits_test.npz"):
        a, b = np.load(MODELS / name), np.load(tmp_path / name)
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["y"], b["y"])
    with h5py.File(MODELS / "digits_ttfs.h5") as a, h5py.File(tmp_path / "digits_ttfs.h5") as b:
        for group in a:
            for name in a[group]:
                # single-threaded deterministic torch: identical on one machine; allow other CPUs' rounding
                np.testing.assert_allclose(a[group][name][()], b[group][name][()], rtol=0, atol=1e-4)


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
