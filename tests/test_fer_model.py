"""The facial-emotion CSNN at its real size (1x48x48, 7 classes, ~21.5 M parameters): it compiles, reports
its cores on every profile (or why it does not fit) and runs. Its untrained weights are written from a seed
(they are not committed), exactly as a user would with examples/make_fer_model.py."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from tnas_deploy.artifact import save_artifact
from tnas_deploy.compiler import compile_network, load_inputs
from tnas_deploy.energy.bench import run_bench
from tnas_deploy.errors import DeployError
from tnas_deploy.summary import summarize
from tnas_deploy.weights import save_weights

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fer(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("make_fer_model", ROOT / "examples" / "make_fer_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    tmp = tmp_path_factory.mktemp("fer")
    shutil.copy(ROOT / "models" / "csnn_fer.json", tmp / "csnn_fer.json")
    save_weights(module.seeded_weights(tmp / "csnn_fer.json"), tmp / "csnn_fer.h5")
    return tmp


def test_missing_weights_say_how_to_write_them(tmp_path):
    shutil.copy(ROOT / "models" / "csnn_fer.json", tmp_path / "csnn_fer.json")
    with pytest.raises(DeployError) as err:
        load_inputs(tmp_path / "csnn_fer.json", None, "loihi2", None)
    assert "examples/make_fer_model.py" in str(err.value)


def test_fer_csnn_compiles_places_and_runs(fer: Path):
    inputs = load_inputs(fer / "csnn_fer.json", None, "loihi2", ROOT / "models" / "fer_synthetic.npz")
    net = compile_network(inputs)
    fc1 = net.by_id["fc1"]
    assert fc1.projections[0].weight.shape == (1152, 18432)                 # 21.2 M synapses in one layer
    assert net.run_steps == 4 + 7 and net.readout.mode == "spike_count"
    save_artifact(net, fer / "csnn_fer.tdart", summarize(net))
    report, _ = run_bench(fer / "csnn_fer.tdart", ROOT / "models" / "fer_synthetic.npz",
                          profiles=["loihi1", "loihi2", "xylo"], out_dir=fer / "report", progress=False)
    assert report["summary"]["synapses"] > 21_000_000
    loihi2 = report["profiles"]["loihi2"]["placement"]
    assert loihi2["fits"] and 0 < loihi2["cores_used"] <= loihi2["cores_available"]
    loihi1 = report["profiles"]["loihi1"]["placement"]
    assert not loihi1["fits"] and "cores" in loihi1["problem"]
    assert "the input x has 2304 channels, the profile has 16 input channels" in report["profiles"]["xylo"][
        "placement"]["problem"]
    assert report["metrics"]["spikes"] > 0 and len(report["layers"]["fc1"]["spike_step_histogram"]) == net.run_steps
    assert np.isfinite(report["metrics"]["synaptic_events"])
