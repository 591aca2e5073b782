"""Measure every bundled model and write `models/<name>.card.json` and `models/README.md`.

    .venv/bin/python examples/model_cards.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tnas_deploy.io_utils import write_text_atomic  # noqa: E402
from tnas_deploy.model_card import card_json, measure_card, render_readme  # noqa: E402

#: genome -> (calibration data, labelled test data or None)
BUNDLED = {
    "digits_ttfs.json": ("digits_calib.npz", "digits_test.npz"),
    "tnas_er_eye.json": ("eye_events_synthetic.npz", None),
    "csnn_digits.json": ("digits_calib.npz", "digits_test.npz"),
    "snasnet_digits.json": ("digits_calib.npz", "digits_test.npz"),
}


#: card name -> (genome, coding it is compiled with, calibration data, labelled test data): a genome deployed in
#: another coding than its own (`compile --coding`) has a card of its own.
RECODED = {
    "digits_sdnn": ("digits_ttfs.json", "sdnn", "digits_calib.npz", "digits_test.npz"),
}


def measure_all(models: Path = ROOT / "models") -> list[dict]:
    cards = [measure_card(models / g, models / c, models / t if t else None) for g, (c, t) in BUNDLED.items()]
    return cards + [measure_card(models / g, models / c, models / t, coding=coding, name=name)
                    for name, (g, coding, c, t) in RECODED.items()]


def main() -> None:
    models = ROOT / "models"
    cards = measure_all(models)
    for card in cards:
        write_text_atomic(models / f"{card['model']}.card.json", card_json(card))
    write_text_atomic(models / "README.md", render_readme(cards))
    print(render_readme(cards))


if __name__ == "__main__":
    main()
