"""FDDB: fold / ellipse readers, detection writer, and the discrete / continuous ROC on a hand-made fixture."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from openmtcnn.evaluate import fddb as F
from openmtcnn.evaluate.formats import FormatError
from openmtcnn.imaging import image_size

ELLIPSES = """2002/07/19/big/img_1
2
20.0 15.0 0.0 50.0 40.0  1
10.0 10.0 1.5707963 20.0 20.0  1
2002/07/19/big/img_2
1
12.0 8.0 0.3 30.0 30.0  1
"""


def write_fixture(tmp_path):
    from PIL import Image

    folds = tmp_path / "FDDB-folds"
    folds.mkdir()
    (folds / "FDDB-fold-01.txt").write_text("2002/07/19/big/img_1\n2002/07/19/big/img_2\n")
    (folds / "FDDB-fold-01-ellipseList.txt").write_text(ELLIPSES)
    for name in ("img_1", "img_2"):
        d = tmp_path / "pics" / "2002" / "07" / "19" / "big"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((80, 100, 3), np.uint8)).save(d / f"{name}.jpg")
    return folds, tmp_path / "pics"


def test_readers(tmp_path):
    folds, _ = write_fixture(tmp_path)
    assert F.read_fold(folds / "FDDB-fold-01.txt") == ["2002/07/19/big/img_1", "2002/07/19/big/img_2"]
    ell = F.read_ellipses(folds / "FDDB-fold-01-ellipseList.txt")
    assert list(ell) == ["2002/07/19/big/img_1", "2002/07/19/big/img_2"]
    assert ell["2002/07/19/big/img_1"].shape == (2, 5) and ell["2002/07/19/big/img_2"][0, 2] == pytest.approx(0.3)
    bad = tmp_path / "bad.txt"
    bad.write_text("img\n2\n1 2 3 4 5 1\n")
    with pytest.raises(FormatError, match="announces 2 faces"):
        F.read_ellipses(bad)


def test_detection_file_round_trip(tmp_path):
    rows = {"a/b": np.array([[1.5, 2.25, 30, 40, 0.987654321]]), "c/d": np.zeros((0, 5))}
    F.write_detections(tmp_path / "out.txt", rows.items())
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert lines == ["a/b", "1", "1.50 2.25 30.00 40.00 0.98765432", "c/d", "0"]
    back = F.read_detections(tmp_path / "out.txt")
    assert back["a/b"][0].tolist() == pytest.approx([1.5, 2.25, 30, 40, 0.98765432]) and back["c/d"].shape == (0, 5)


def test_region_overlap_of_circle_and_box():
    circle = np.array([[20.0, 20.0, 0.0, 50.0, 40.0]])
    box = np.array([[30.0, 20.0, 40.0, 40.0, 1.0]])  # the circle's bounding square, 41 x 41 pixels inclusive
    ov = F.region_overlaps(circle, box, (100, 80))
    assert ov[0, 0] == pytest.approx(math.pi * 20**2 / 41**2, abs=0.03)
    assert F.region_overlaps(circle, np.array([[0, 0, 5, 5, 1.0]]), (100, 80))[0, 0] == 0.0
    # the angle is in radians: a 90 degree turn swaps the axes
    tall = F.ellipse_mask((80, 100), np.array([20.0, 5.0, math.pi / 2, 50.0, 40.0]))
    ys, xs = np.nonzero(tall)
    assert np.ptp(ys) > 3 * np.ptp(xs)


def test_image_roc_hand_computed():
    # 2 faces; det 0 fits face 0 (0.8), det 1 is background, det 2 fits face 1 loosely (0.4)
    ov = np.array([[0.8, 0.0, 0.0], [0.0, 0.0, 0.4]])
    r = F.image_roc(ov, np.array([0.9, 0.8, 0.3]))
    assert r.thresholds.tolist() == [0.3, 0.8, 0.9]
    assert r.tp_disc.tolist() == [1, 1, 1]  # 0.4 is not > 0.5
    assert r.tp_cont.tolist() == pytest.approx([1.2, 0.8, 0.8])  # but counts for the continuous score
    assert r.fp.tolist() == [2, 1, 0]


def test_one_to_one_matching():
    # two detections on one face: the better one matches, the other is a false positive
    r = F.image_roc(np.array([[0.7, 0.6]]), np.array([0.5, 0.9]))
    assert (r.tp_disc[0], r.fp[0]) == (1, 1)
    # Hungarian, not greedy: greedy would give det 0 to face 0 (0.9) and leave face 1 with 0.2
    r = F.image_roc(np.array([[0.9, 0.8], [0.6, 0.0]]), np.array([0.5, 0.5]))
    assert r.tp_cont[0] == pytest.approx(1.4) and r.tp_disc[0] == 2


def test_combine_over_images():
    a = F.image_roc(np.array([[0.8, 0.0, 0.0], [0.0, 0.0, 0.6]]), np.array([0.9, 0.8, 0.3]))
    b = F.image_roc(np.zeros((1, 0)), np.zeros(0))  # one face, no detection
    c = F.image_roc(np.array([[0.9]]), np.array([0.85]))
    roc = F.combine([a, b, c])
    assert roc.faces == 4
    assert roc.thresholds.tolist() == [0.3, 0.8, 0.85, 0.9]
    # at 0.3: a 2 TP 1 FP, c 1 TP; at 0.8 and 0.85: a 1 TP 1 FP / 1 TP 0 FP (its own next threshold 0.9), c 1 TP
    assert roc.tpr_disc.tolist() == pytest.approx([3 / 4, 2 / 4, 2 / 4, 1 / 4])
    assert roc.fp.tolist() == [1, 1, 0, 0]
    assert roc.tpr_at(0) == pytest.approx(0.5) and roc.tpr_at(1) == pytest.approx(0.75)


def test_evaluate_and_cli_on_fixture(tmp_path, capsys):
    from openmtcnn.cli import main

    folds, pics = write_fixture(tmp_path)
    dets = {
        "2002/07/19/big/img_1": np.array([[30, 25, 40, 30, 0.99], [10, 10, 20, 20, 0.7], [80, 60, 10, 10, 0.95]]),
        "2002/07/19/big/img_2": np.array([[18, 22, 24, 16, 0.9]]),
    }
    F.write_detections(tmp_path / "dets.txt", dets.items())
    ann = F.read_ellipses(folds / "FDDB-fold-01-ellipseList.txt")
    sizes = {n: image_size(pics / f"{n}.jpg") for n in ann}
    assert sizes["2002/07/19/big/img_1"] == (100, 80)
    roc = F.evaluate(ann, F.read_detections(tmp_path / "dets.txt"), sizes)
    assert roc.faces == 3 and roc.tpr_disc.max() == pytest.approx(1.0) and roc.fp.min() == 0
    rc = main(["evaluate", "fddb", "--folds", str(folds), "--images", str(pics), "--pred", str(tmp_path / "dets.txt"), "--out", str(tmp_path / "run")])
    assert rc == 0
    s = json.loads((tmp_path / "run" / "fddb.json").read_text())
    assert s["faces"] == 3 and s["tpr_at_fp"]["disc"]["2000"] == pytest.approx(1.0)
    disc = (tmp_path / "run" / "fddb_DiscROC.txt").read_text().splitlines()
    assert len(disc) == len(s["curve"]["fp"]) and len(disc[0].split()) == 3
    assert (tmp_path / "run" / "fddb_roc.png").is_file()
    assert "TPR at 2000 FP" in capsys.readouterr().out


def test_cli_runs_detection_and_writes_fold_output(tmp_path, monkeypatch):
    from openmtcnn.cli import main
    from openmtcnn.evaluate import runs

    folds, pics = write_fixture(tmp_path)

    class Det:
        def detect_rgb(self, rgb, source=None):
            return type("R", (), {"boxes": np.array([[30, 25, 70, 55]], np.float32), "scores": np.array([0.9], np.float32)})()

    monkeypatch.setattr(runs, "build_detector", lambda w, t, **s: (Det(), {"weights": w, "weights_name": "fake", "settings": s, "threads": t}))
    # --jobs 1: the fake reaches this process only (detection goes through detect_files either way)
    assert main(["evaluate", "fddb", "--folds", str(folds), "--images", str(pics), "--out", str(tmp_path / "run"), "--jobs", "1"]) == 0
    out = F.read_detections(tmp_path / "run" / "fold-01-out.txt")
    assert list(out) == F.read_fold(folds / "FDDB-fold-01.txt")
    assert out["2002/07/19/big/img_1"][0].tolist() == pytest.approx([30, 25, 40, 30, 0.9])
    s = json.loads((tmp_path / "run" / "fddb.json").read_text())
    assert s["label"] == "fake" and s["faces"] == 3 and s["tpr_at_fp"]["disc"]["2000"] == pytest.approx(1 / 3, abs=1e-4)


def test_run_detects_on_worker_processes_as_in_this_one(tmp_path):
    """FDDB detection goes through detect_files: two worker processes write the same fold file as one process,
    and an unreadable image is listed in ``failed`` and left out, the others go on."""
    import shutil

    from openmtcnn.evaluate import runs

    folds, pics = write_fixture(tmp_path)
    photo = pics / "2002" / "07" / "19" / "big" / "img_1.jpg"
    shutil.copy(Path(__file__).parent / "fixtures" / "images" / "situation_room_480.jpg", photo)
    (folds / "FDDB-fold-01.txt").write_text("2002/07/19/big/img_1\n2002/07/19/big/img_3\n2002/07/19/big/img_2\n")
    (photo.parent / "img_3.jpg").write_bytes(b"not a jpeg")
    det, info = runs.build_detector(None, 1)
    one = F.run(folds, pics, detector=det, info=info, out=tmp_path / "one", jobs=1, log=lambda m: None)
    two = F.run(folds, pics, detector=det, info=info, out=tmp_path / "two", jobs=2, log=lambda m: None)
    a, b = (F.read_detections(tmp_path / d / "fold-01-out.txt") for d in ("one", "two"))
    assert list(a) == list(b) == ["2002/07/19/big/img_1", "2002/07/19/big/img_2"] and len(a["2002/07/19/big/img_1"]) > 0
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert one["tpr_at_fp"] == two["tpr_at_fp"]
    assert len(one["failed"]) == len(two["failed"]) == 1 and "img_3.jpg" in one["failed"][0]
