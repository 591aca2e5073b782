"""Energy models fitted on published measurements: the stored fits, their held-out checks and their bands.

Every bundled profile with a `[calibration]` table must hold exactly the numbers its measurement table fits
(`check_profile`), and every fitted chip must predict its held-out published points inside its stated band.
The fitted parameters are pinned here to the values docs/energy_calibration.md documents.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tnas_deploy.energy.calibration import load_calibration, outward, round_significant
from tnas_deploy.errors import DeployError
from tnas_deploy.profiles import BUNDLED_DIR, available_profiles, load_profile

CALIBRATED = [name for name in available_profiles() if load_profile(name).calibration is not None]

#: The documented fits (docs/energy_calibration.md): profile -> {number: value}.
DOCUMENTED_FITS = {
    "truenorth": {"energy.synaptic_op_pj": 1.531, "energy.static_power_mw": 64.43},
    "speck": {"energy.spike_out_pj": 3852.0},
    "loihi2": {"energy.synaptic_op_pj": 19.23, "energy.static_power_mw": 234.0, "time.synaptic_op_ns": 1.964},
}
#: Held-out published figures and the model's error on each, as documented (percent, rounded to 0.1).
DOCUMENTED_HELD_OUT = {
    "truenorth": {"akopyan2015-fig17-20.07hz": (71.0, -0.5)},
    "speck": {"yao2024-table1-gesture-dynamic": (3.8, -13.9), "yao2024-table1-gait-day-dynamic": (7.3, 23.0),
              "yao2024-table1-gait-night-dynamic": (12.3, -9.6)},
    "loihi2": {"pilotnet-lif-f49e18b": (1198.82, -34.4), "pilotnet-lif-12f0402": (1385.611, -43.3),
               "pilotnet-lif-static-f49e18b": (358.639, -34.8), "pilotnet-lif-static-12f0402": (352.063, -33.5),
               "pilotnet-lif-step-f49e18b": (182.0353, -16.9), "pilotnet-lif-step-12f0402": (182.5937, -17.2)},
}


def test_every_neuromorphic_chip_with_measurements_is_calibrated() -> None:
    assert {"truenorth", "speck", "loihi1", "loihi2"} <= set(CALIBRATED)


@pytest.mark.parametrize("name", CALIBRATED)
def test_profile_holds_what_its_table_fits(name: str) -> None:
    """Refitting from the stored measurement table gives the profile's numbers, and every point is in the band."""
    profile = load_profile(name)
    fits = load_calibration(profile.calibration).check_profile(profile)
    for fit in fits.values():
        for key, value in fit.fitted.items():
            assert profile.get(key) == round_significant(value)
            assert profile.quantities[key].fitted, f"{key} must say which table it was fitted on"


@pytest.mark.parametrize("name", sorted(DOCUMENTED_FITS))
def test_fitted_parameters_are_the_documented_ones(name: str) -> None:
    profile = load_profile(name)
    fits = load_calibration(profile.calibration).fit(profile)
    fitted = {k: round_significant(v) for f in fits.values() for k, v in f.fitted.items()}
    assert fitted == DOCUMENTED_FITS[name]


@pytest.mark.parametrize("name", sorted(DOCUMENTED_HELD_OUT))
def test_held_out_published_figures_are_reproduced_within_the_band(name: str) -> None:
    profile = load_profile(name)
    fits = load_calibration(profile.calibration).check_profile(profile)
    seen = {}
    for fit in fits.values():
        low, high = fit.band
        for point in fit.quantity.points:
            if point.role != "held-out":
                continue
            modelled = fit.modelled[point.id]
            assert modelled * low <= point.published <= modelled * high, (point.id, modelled, fit.band)
            seen[point.id] = (point.published, round(fit.error_pct(point), 1))
    assert seen == DOCUMENTED_HELD_OUT[name]


def _copy_profile(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A bundled profile and its calibration table, copied so a test can edit them."""
    (tmp_path / "calibration").mkdir()
    profile = tmp_path / f"{name}.toml"
    shutil.copy(BUNDLED_DIR / f"{name}.toml", profile)
    table = tmp_path / "calibration" / f"{name}.toml"
    shutil.copy(BUNDLED_DIR / "calibration" / f"{name}.toml", table)
    return profile, table


def test_a_profile_that_drifts_from_its_fit_is_refused(tmp_path: Path) -> None:
    profile_path, _ = _copy_profile(tmp_path, "speck")
    profile_path.write_text(profile_path.read_text().replace("value = 3852", "value = 4000"))
    profile = load_profile(str(profile_path))
    with pytest.raises(DeployError, match=r"energy.spike_out_pj = 4000.0 but the calibration table speck.toml "
                                          r"fits 3852.0"):
        load_calibration(profile.calibration).check_profile(profile)


def test_a_band_that_misses_a_measurement_is_refused(tmp_path: Path) -> None:
    profile_path, table = _copy_profile(tmp_path, "speck")
    table.write_text(table.read_text().replace("band = [0.75, 2.0]", "band = [0.8, 2.0]"))
    profile = load_profile(str(profile_path))
    with pytest.raises(DeployError, match=r"quantity.processor power.band: point 'yao2024-table1-gait-day-vanilla'"
                                          r".*outside the stated band \[0.8, 2\]"):
        load_calibration(profile.calibration).check_profile(profile)


def test_a_band_wider_than_the_measurements_is_refused(tmp_path: Path) -> None:
    profile_path, table = _copy_profile(tmp_path, "speck")
    table.write_text(table.read_text().replace("band = [0.75, 2.0]", "band = [0.5, 2.0]"))
    profile = load_profile(str(profile_path))
    with pytest.raises(DeployError, match=r"wider than the measurements allow \(\[0.75, 2.00\] rounded outward\)"):
        load_calibration(profile.calibration).check_profile(profile)


@pytest.mark.parametrize(("edit", "field", "message"), [
    (("measures = \"power_mw\"", "measures = \"watts\""), "quantity.processor power.measures", "expected one of"),
    (("role = \"fit\"", "role = \"train\""), "quantity.processor power.point[0].role", "expected one of"),
    (("published = 9.5", "published = -9.5"), "quantity.processor power.point[0].published", "finite number > 0"),
    (("fitted = [\"energy.spike_out_pj\"]", "fitted = [\"energy.spike_pj\"]"), "quantity.processor power.fitted",
     "list of profile numbers"),
    (("activity = { spikes", "activity = { spikez"), "quantity.processor power.point",
     r"lacks the activity count\(s\) \['spikes'\]"),
])
def test_malformed_tables_name_the_field(tmp_path: Path, edit: tuple[str, str], field: str, message: str) -> None:
    profile_path, table = _copy_profile(tmp_path, "speck")
    text = table.read_text()
    assert edit[0] in text
    table.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(DeployError, match=message) as info:
        load_calibration(load_profile(str(profile_path)).calibration)
    assert info.value.field == field
    assert str(table) in str(info.value)


def test_a_missing_table_is_named(tmp_path: Path) -> None:
    profile_path, table = _copy_profile(tmp_path, "speck")
    profile_path.write_text(profile_path.read_text().replace("calibration/speck.toml", "calibration/nothing.toml"))
    with pytest.raises(DeployError, match="calibration table 'calibration/nothing.toml' not found next to the "
                                          "profile nor in") as info:
        load_profile(str(profile_path))
    assert info.value.field == "calibration.table"


def test_a_copied_bundled_profile_keeps_its_measurements(tmp_path: Path) -> None:
    """A user's edited copy of loihi2.toml elsewhere still finds the bundled measurement table."""
    copy = tmp_path / "my_loihi2.toml"
    copy.write_text((BUNDLED_DIR / "loihi2.toml").read_text().replace('name = "loihi2"', 'name = "my_loihi2"'))
    profile = load_profile(str(copy))
    assert profile.calibration == BUNDLED_DIR / "calibration" / "loihi2.toml"
    load_calibration(profile.calibration).check_profile(profile)


def test_outward_rounding() -> None:
    assert outward((0.7628, 1.9533)) == pytest.approx((0.75, 2.0))
    assert outward((1.0, 1.0054)) == pytest.approx((1.0, 1.05))


def test_loihi2_activity_is_the_one_regenerated_from_lava_dl() -> None:
    """The table's PilotNet LIF counts are what tnas-deploy regenerates from the files lava-dl installs."""
    from tnas_deploy.energy.published_workloads import pilotnet_lif_activity

    workload = pilotnet_lif_activity()
    calibration = load_calibration(load_profile("loihi2").calibration)
    per_frame = {q.name: {p.activity.get("effective_synaptic_events") for p in q.points} for q in calibration.quantities}
    assert per_frame["dynamic energy per frame"] == {float(workload.effective_synaptic_events)}
    assert per_frame["time per step"] == {workload.busiest_core_effective_events / workload.frame_steps}


ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("model", ["digits_ttfs", "csnn_digits"])
def test_bench_gives_every_chip_a_band_a_binding_resource_or_a_reason(model: str, tmp_path: Path) -> None:
    """Issue 11's promise for `tnas-deploy bench`: each neuromorphic profile has energy and latency with a band
    and its validation, or "does not fit" naming the resource, or "unknown" with the reason."""
    from tnas_deploy.energy.bench import run_bench

    report, _ = run_bench(ROOT / "models" / f"{model}.json", ROOT / "models" / "digits_test.npz",
                          out_dir=tmp_path, progress=False, samples=40,
                          calibration=ROOT / "models" / "digits_calib.npz")
    outcomes = {}
    for name, block in report["profiles"].items():
        if block["kind"] != "neuromorphic":
            continue
        energy = block["energy"]
        if energy is not None and energy["total_uj"] is not None:
            low, high = energy["band_uj"]
            assert low <= energy["total_uj"] <= high, name
            assert energy["latency_ms"] is not None and energy["latency_ms"] > 0, name
            validation = energy["validation"]
            assert validation["source"] and validation["error_pct"] is not None, name
            if validation["kind"] == "held-out":
                assert validation["published"] > 0 and validation["modelled"] > 0, name
            assert energy["fitted_on"] or validation["kind"] == "reported-by-authors", name
            outcomes[name] = "estimated"
        elif block["note"].startswith("does not fit: "):
            outcomes[name] = "does not fit"
        else:
            assert block["note"].startswith("energy per inference unknown: "), (name, block["note"])
            assert load_profile(name).unknown_reason in block["note"], name
            outcomes[name] = "unknown"
    assert outcomes == {"loihi1": "estimated", "loihi2": "estimated", "speck": "estimated",
                        "truenorth": "estimated", "xylo": "does not fit", "spinnaker2": "unknown", "yoso": "unknown"}
    assert "input channels" in report["profiles"]["xylo"]["note"]
