"""Landmark evaluation: list reading, inter-ocular normalised error, O-Net on boxes, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from openmtcnn.detect.result import DetectResult
from openmtcnn.evaluate import landmarks as L
from openmtcnn.evaluate.formats import FormatError

EYES_10 = np.array([[0, 0], [10, 0], [5, 5], [2, 10], [8, 10]], dtype=np.float64)  # inter-ocular distance 10


def test_read_list_backslashes_and_box_order(tmp_path):
    f = tmp_path / "list.txt"
    f.write_text("lfw_5590\\a.jpg 75 165 87 177 106.75 108.25 143.75 108.75 131.25 127.25 106.25 155.25 142.75 155.25\n\n")
    (face,) = L.read_landmark_list(f)
    assert face.path == "lfw_5590/a.jpg" and face.subset == "lfw_5590"
    assert face.box.tolist() == [75, 87, 165, 177]  # LEFT RIGHT TOP BOTTOM -> x1 y1 x2 y2
    assert face.points[1].tolist() == [143.75, 108.75]


@pytest.mark.parametrize(
    "line, msg",
    [("a.jpg 1 2 3", "expected PATH and 14 numbers"), ("a.jpg 9 2 3 4 " + "1 " * 10, "empty face box"), ("a.jpg 1 2 3 4 x " + "1 " * 9, "not numbers")],
)
def test_bad_list_lines_are_named(tmp_path, line, msg):
    f = tmp_path / "list.txt"
    f.write_text(line + "\n")
    with pytest.raises(FormatError, match=msg):
        L.read_landmark_list(f)


def test_normalised_error_by_inter_ocular_distance():
    pred = EYES_10 + [1.0, 0.0]
    err = L.normalised_errors(pred[None], EYES_10[None])
    assert err.shape == (1, 5) and np.allclose(err, 0.1)
    pred = EYES_10.copy()
    pred[2] += [0, 3]  # nose 3 px off: 0.3 of the IOD, mean over 5 points 0.06
    stats = L.error_stats(L.normalised_errors(pred[None], EYES_10[None]))
    assert stats["nme"] == pytest.approx(0.06) and stats["per_point"]["nose"] == pytest.approx(0.3)
    assert stats["failure_rate_10"] == 0.0
    with pytest.raises(ValueError, match="inter-ocular distance is 0"):
        L.normalised_errors(EYES_10[None], np.zeros((1, 5, 2)))


def test_failure_rate_and_ced():
    errs = np.array([[0.05] * 5, [0.1] * 5, [0.2] * 5, [0.02] * 5])
    s = L.error_stats(errs)
    assert s["failure_rate_10"] == pytest.approx(0.25)  # only the 0.2 face: "above 10 %"
    x, y = L.ced(errs.mean(axis=1), max_error=0.25, steps=26)
    assert y[0] == 0 and y[-1] == 1 and np.all(np.diff(y) >= 0)
    assert y[np.searchsorted(x, 0.1 - 1e-9)] == pytest.approx(0.75)  # three faces at <= 10 %


class CentreBackend:
    """O-Net stand-in: every landmark at relative (0.25 + 0.1 k, 0.5); records the crops it gets."""

    input_sizes = {"pnet": 12, "rnet": 24, "onet": 48}

    def __init__(self):
        self.batches = []

    def run(self, stage, batch, landmarks=True):
        self.batches.append(batch)
        n = len(batch)
        lmk = np.tile(np.array([[0.25 + 0.1 * k, 0.5] for k in range(5)]).reshape(1, 10), (n, 1)).astype(np.float32)
        return np.ones(n, np.float32), np.zeros((n, 4), np.float32), lmk


def test_onet_points_on_squared_box():
    be = CentreBackend()
    img = np.zeros((200, 200, 3), np.uint8)
    pts = L.onet_points(be, img, np.array([[50, 60, 90, 140]]))  # 40 x 80 -> square 80 x 80 at x 30..110
    assert be.batches[0].shape == (1, 3, 48, 48)
    assert pts[0, 0].tolist() == pytest.approx([30 + 0.25 * 80, 60 + 0.5 * 80])


class FakeDetector:
    """Finds one face per image: the annotated one, shifted by ``shift`` pixels, points 1 px right of the truth."""

    def __init__(self, truth, shift=0.0):
        self.backend = CentreBackend()
        self.truth, self.shift = truth, shift

    def detect_rgb(self, rgb, source=None):
        box, pts = self.truth[int(rgb[0, 0, 0])]
        return DetectResult(
            np.array([box + self.shift], np.float32), np.array([0.99], np.float32), np.array([pts + [1.0, 0.0]], np.float32), (rgb.shape[1], rgb.shape[0])
        )


def _fixture(tmp_path):
    from PIL import Image

    lines, truth = [], {}
    for k, sub in enumerate(["lfw_5590", "lfw_5590", "net_7876"]):
        (tmp_path / sub).mkdir(exist_ok=True)
        img = np.zeros((120, 120, 3), np.uint8)
        img[0, 0] = k  # the fake detector reads the image id here
        Image.fromarray(img).save(tmp_path / sub / f"{k}.png")
        box = np.array([20.0, 20.0, 100.0, 100.0])
        pts = EYES_10 * 4 + 30
        truth[k] = (box, pts)
        coords = " ".join(f"{v:g}" for v in pts.reshape(-1))
        lines.append(f"{sub}\\{k}.png 20 100 20 100 {coords}")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.jpg").write_bytes(b"nope")
    lines.append("broken/x.jpg 20 100 20 100 " + " ".join(f"{v:g}" for v in (EYES_10 * 4 + 30).reshape(-1)))
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    return truth


def test_run_and_summarise_with_subsets_and_corrupt_image(tmp_path):
    truth = _fixture(tmp_path)
    faces = L.read_landmark_list(tmp_path / "list.txt")
    run = L.run_landmarks(faces, tmp_path, FakeDetector(truth), progress=False)
    assert len(run.failed) == 1 and "x.jpg" in run.failed[0]
    res = L.summarise(run)
    e2e = res["subsets"]["all"]["end_to_end"]
    assert e2e["found"] == 3 and e2e["found_share"] == 1.0
    assert e2e["nme"] == pytest.approx(1 / 40)  # 1 px off, inter-ocular distance 40
    assert res["subsets"]["lfw_5590"]["faces"] == 2 and res["subsets"]["net_7876"]["display"] == "web"
    assert res["subsets"]["all"]["readable"] == 3 and res["subsets"]["all"]["onet_gt"]["count"] == 3
    # a detection shifted so that IoU < 0.5 is "not found" and left out of the error
    far = L.summarise(L.run_landmarks(faces, tmp_path, FakeDetector(truth, shift=60.0), progress=False))
    assert far["subsets"]["all"]["end_to_end"]["found"] == 0 and far["subsets"]["all"]["end_to_end"]["nme"] is None


def test_cli_landmarks(tmp_path, monkeypatch, capsys):
    from openmtcnn.cli import main
    from openmtcnn.evaluate import runs

    truth = _fixture(tmp_path)
    seen = {}

    def fake_build(weights, threads, **settings):
        seen.update(settings, weights=weights)
        return FakeDetector(truth), {"weights": weights, "weights_name": "fake", "settings": settings, "threads": threads}

    monkeypatch.setattr(runs, "build_detector", fake_build)
    rc = main(["evaluate", "landmarks", "--list", str(tmp_path / "list.txt"), "--images", str(tmp_path), "--weights", "w",
               "--min-face", "30", "--out", str(tmp_path / "run"), "--no-progress"])
    assert rc == 0
    assert seen["min_face_size"] == 30 and seen["thresholds"] == (0.6, 0.7, 0.7) and seen["weights"] == "w"
    s = json.loads((tmp_path / "run" / "landmarks.json").read_text())
    assert s["benchmark"] == "landmarks" and s["label"] == "fake" and s["faces"] == 4
    assert s["subsets"]["all"]["onet_gt"]["count"] == 3 and s["subsets"]["all"]["end_to_end"]["found"] == 3
    assert (tmp_path / "run" / "landmarks_ced.png").is_file()
    assert "O-Net on box NME" in capsys.readouterr().out


def test_best_match_picks_the_most_overlapping_detection():
    from openmtcnn.evaluate.landmarks import best_match

    faces = np.array([[0, 0, 10, 10], [20, 20, 40, 40]], float)
    dets = np.array([[21, 21, 41, 41], [1, 0, 11, 10], [100, 100, 110, 110]], float)
    idx, iou = best_match(faces, dets)
    assert idx.tolist() == [1, 0]
    assert iou[0] == pytest.approx(90 / 110) and iou[1] == pytest.approx(361 / 439)


def test_reframe_cuts_the_face_out_and_moves_its_points():
    img = np.random.default_rng(0).integers(0, 256, (100, 120, 3), dtype=np.uint8)
    face = L.LandmarkFace("a.jpg", np.array([30.0, 20.0, 70.0, 80.0]), EYES_10.reshape(5, 2) + 40)
    frame, moved = L.reframe(img, face, 40)
    assert frame.shape == (60 + 80, 40 + 80, 3)
    assert np.array_equal(frame[40:100, 40:80], img[20:80, 30:70])
    assert (frame[:40] == L.REFRAME_FILL).all() and (frame[:, :40] == L.REFRAME_FILL).all()
    assert moved.box.tolist() == [40.0, 40.0, 80.0, 100.0]
    assert np.allclose(moved.points, face.points + [10, 20])
    assert face.box.tolist() == [30.0, 20.0, 70.0, 80.0]  # the list's face is left alone
