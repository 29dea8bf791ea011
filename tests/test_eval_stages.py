"""Per-stage recall (evaluate/stages.py and `openmtcnn evaluate stages`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from openmtcnn.evaluate import stages as S
from openmtcnn.evaluate import widerface as W

SAMPLE = Path(__file__).resolve().parents[1] / "openmtcnn" / "assets" / "sample.jpg"


def test_faces_hit_uses_iou_against_xywh_faces():
    gt = np.array([[10, 10, 40, 40], [100, 10, 40, 40]], float)  # x y w h
    boxes = np.array([[10, 10, 50, 50], [100, 30, 140, 70]], float)  # exact; half overlapping (IoU 1/3)
    assert S.faces_hit(gt, boxes, 0.5).tolist() == [True, False]
    assert S.faces_hit(gt, boxes, 0.3).tolist() == [True, True]
    assert S.faces_hit(gt, np.zeros((0, 4)), 0.5).tolist() == [False, False]
    assert S.faces_hit(np.zeros((0, 4)), boxes, 0.5).shape == (0,)


def _fixture(tmp_path, det):
    """GT = the detector's own final boxes on the bundled photo (kept in every setting), plus a corrupt image."""
    from openmtcnn.imaging import load_image

    rgb = load_image(SAMPLE)
    final = det.detect_rgb(rgb).boxes
    assert len(final) >= 5
    xywh = np.column_stack([final[:, :2], final[:, 2:] - final[:, :2]])
    ev = tmp_path / "images" / "0--Test"
    ev.mkdir(parents=True)
    shutil.copy(SAMPLE, ev / "photo.jpg")
    (ev / "broken.jpg").write_bytes(b"not a jpeg")
    keep = np.arange(len(xywh))
    gt = W.WiderGroundTruth(["0--Test"], [["photo", "broken"]], [[xywh, np.array([[0, 0, 10, 10]], float)]],
                            {s: [[keep, np.array([0])]] for s in W.SETTINGS})
    return gt, len(xywh)


def test_stage_recall_of_the_detectors_own_boxes(tmp_path):
    from openmtcnn import Detector

    det = Detector()
    gt, n = _fixture(tmp_path, det)
    res = S.stage_recall(gt, tmp_path / "images", det.backend, det.config, progress=False)
    assert res["images"] == 1 and len(res["unreadable"]) == 1 and "broken.jpg" in res["unreadable"][0]
    for s in W.SETTINGS:
        assert res["settings"][s]["faces"] == n  # the unreadable image's face does not count
        assert res["settings"][s]["recall"]["onet"] == 1.0  # the final boxes are the faces
        assert res["settings"][s]["recall"]["pnet"] > 0.5
    c = res["candidates_per_image"]
    assert c["pnet"] >= c["rnet"] >= c["onet"] == n
    assert "| easy | %d |" % n in S.recall_table(res)
    res2 = S.stage_recall(gt, tmp_path / "images", det.backend, det.config, every=2, progress=False)
    assert res2["images"] == 1 and res2["unreadable"] == []  # every 2nd image: the photo only
    with pytest.raises(ValueError, match="every"):
        S.stage_recall(gt, tmp_path / "images", det.backend, det.config, every=0, progress=False)


def test_cli_writes_summary(tmp_path, capsys):
    from openmtcnn import Detector
    from openmtcnn.cli import main

    gt, n = _fixture(tmp_path, Detector())
    gt.save(tmp_path / "gt")
    out = tmp_path / "run"
    args = ["evaluate", "stages", "--images", str(tmp_path / "images"), "--gt", str(tmp_path / "gt"), "--every", "1",
            "--min-face-size", "20", "--scale-factor", "0.709", "--thresholds", "0.6", "0.7", "0.7", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    s = json.loads((out / "stages.json").read_text())
    assert s["benchmark"] == "stages" and s["images"] == 1 and s["settings"]["easy"]["recall"]["onet"] == 1.0
    assert "after R-Net" in capsys.readouterr().out
