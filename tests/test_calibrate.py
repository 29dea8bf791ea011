"""Score calibration (``openmtcnn train calibrate``): the fit, the fold into ONNX, and a whole set calibrated."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from openmtcnn.config import DetectConfig  # noqa: E402
from openmtcnn.detect.backends import make_backend  # noqa: E402
from openmtcnn.train.calibrate import calibrate_set, fit_shift, fold_shift, logit, scored_crops  # noqa: E402
from openmtcnn.train.samples import held_out_wider  # noqa: E402
from openmtcnn.train.config import stage_config  # noqa: E402

from test_train_synthetic import make_dataset  # noqa: E402

DEFAULT = Path(__file__).resolve().parent.parent / "openmtcnn" / "weights" / "default"


@pytest.mark.parametrize("seed", range(5))
def test_fit_shift_passes_as_many_as_the_reference(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    ours = 1 / (1 + np.exp(-rng.normal(0, 2, n)))
    ref = 1 / (1 + np.exp(-rng.normal(rng.uniform(-2, 2), 2, n)))
    for t in (0.3, 0.7, 0.95):
        shift, k = fit_shift(ours, ref, t)
        assert k == int((ref > t).sum())
        assert int((logit(ours) + shift > logit(np.array([t]))[0]).sum()) == k


def test_fit_shift_edges_and_errors():
    ours = np.array([0.2, 0.5, 0.9])
    shift, k = fit_shift(ours, np.zeros(3), 0.7)  # the reference passes none: neither does ours after
    assert k == 0 and (logit(ours) + shift < logit(np.array([0.7]))[0]).all()
    shift, k = fit_shift(ours, np.ones(3), 0.7)  # all
    assert k == 3 and (logit(ours) + shift > logit(np.array([0.7]))[0]).all()
    assert fit_shift(np.array([0.1, 0.9]), np.array([0.1, 0.9]), 0.5)[0] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="same crops"):
        fit_shift(ours, np.ones(2), 0.7)
    with pytest.raises(ValueError, match="threshold"):
        fit_shift(ours, ours, 1.0)


@pytest.mark.parametrize("stage,size", [("rnet", 24), ("onet", 48)])
def test_fold_shift_moves_the_face_logit_only(stage, size):
    model = onnx.load(str(DEFAULT / f"{stage}.onnx"))
    x = np.random.default_rng(0).uniform(-1, 1, (16, 3, size, size)).astype(np.float32)

    def run(m):
        s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return {o.name: v for o, v in zip(s.get_outputs(), s.run(None, {"image": x}))}

    before = run(model)
    fold_shift(model, 0.75)
    after = run(model)
    keep = (before["prob"] > 1e-4) & (before["prob"] < 1 - 1e-4)  # float32 probabilities saturate
    assert keep.sum() > 4
    np.testing.assert_allclose(logit(after["prob"][keep]) - logit(before["prob"][keep]), 0.75, atol=2e-3)
    for name in before:
        if name != "prob":
            np.testing.assert_array_equal(after[name], before[name])


def test_fold_shift_refuses_a_graph_it_does_not_know():
    model = onnx.load(str(DEFAULT / "onet.onnx"))
    soft = next(n for n in model.graph.node if n.op_type == "Softmax")
    model.graph.node.remove(soft)
    with pytest.raises(ValueError, match="Softmax"):
        fold_shift(model, 1.0)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """Synthetic data; the default set as the reference; the same set with O-Net's face logit lowered by 1 as the
    candidate, its O-Net's recorded split holding out half of the images (the real ones hold out 5 %)."""
    tmp = tmp_path_factory.mktemp("calibrate")
    data = make_dataset(tmp / "data", n_images=24, n_landmark=8)
    ref, cand = tmp / "ref", tmp / "cand"
    shutil.copytree(DEFAULT, ref)
    shutil.copytree(DEFAULT, cand)
    model = onnx.load(str(cand / "onet.onnx"))
    fold_shift(model, -1.0)
    onnx.save(model, str(cand / "onet.onnx"))
    record = json.loads((cand / "training.json").read_text())
    record["stages"]["onet"]["config"]["samples"]["val_fraction"] = 0.5
    (cand / "training.json").write_text(json.dumps(record))
    return data, ref, cand, tmp


def test_calibrate_set_matches_the_reference_on_the_held_out_images(sets):
    data, ref, cand, tmp = sets
    cfg = DetectConfig(thresholds=(0.5, 0.5, 0.7))
    out = tmp / "out"
    messages: list[str] = []
    c = calibrate_set(cand, ref, "onet", data, out, cfg=cfg, log=messages.append)
    record = json.loads((cand / "training.json").read_text())
    held = held_out_wider(stage_config(record["stages"]["onet"]["config"], "test"), data)
    assert any("skipped" in m and "corrupt.jpg" in m for m in messages) == any(p.name == "corrupt.jpg" for p in held)
    mine, theirs, _ = scored_crops(held, "onet", make_backend(None, out), make_backend(None, ref), cfg, log=lambda *_: None)
    assert c["crops"] == len(mine) > 0 and c["passed_reference"] == int((theirs > 0.7).sum())
    assert int((mine > 0.7).sum()) == c["passed_reference"]  # the calibrated O-Net passes as many as the reference's
    assert c["shift"] > 0  # it undoes part or all of the lowered logit
    for f in ("pnet.onnx", "rnet.onnx", "manifest.json"):
        assert (out / f).read_bytes() == (cand / f).read_bytes()
    assert json.loads((out / "training.json").read_text())["stages"]["onet"]["calibration"] == c
    card = (out / "MODEL_CARD.md").read_text()
    assert "**calibrated**" in card and f"{c['shift']:+.3f}" in card and "figures are its net's before the calibration" in card
    assert (cand / "onet.onnx").read_bytes() != (out / "onet.onnx").read_bytes()  # the source set is left as it was


def test_calibrate_cli_refuses_bad_arguments(sets, tmp_path):
    data, ref, cand, _ = sets

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "openmtcnn", "train", "calibrate", *args],
                              capture_output=True, text=True)

    r = cli("--weights", str(cand), "--reference", str(ref), "--data", str(data), "--stages", "pnet")
    assert r.returncode == 2 and "only rnet and onet" in r.stderr
    r = cli("--weights", str(cand), "--reference", str(tmp_path / "nowhere"), "--data", str(data))
    assert r.returncode == 2 and "--reference" in r.stderr and "nowhere" in r.stderr
    r = cli("--weights", str(cand), "--reference", str(ref), "--data", str(tmp_path), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "wider_face_train_bbx_gt.txt" in r.stderr  # the missing annotation file, named
    assert not (tmp_path / "o").exists()
