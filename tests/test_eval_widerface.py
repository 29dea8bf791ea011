"""WIDER FACE evaluation: hand-made ground truth and predictions whose AP is known by hand."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from openmtcnn.evaluate import widerface as W
from openmtcnn.evaluate.formats import FormatError, xywh_to_xyxy, xyxy_to_xywh

SETTINGS = W.SETTINGS


def make_gt(images: dict[str, list[list[float]]], keep: dict[str, dict[str, list[int]]] | None = None, event: str = "0--Test"):
    """One event; ``images``: name -> faces ``x y w h``; ``keep``: setting -> name -> kept face indices (default all)."""
    names = list(images)
    boxes = [np.asarray(images[n], dtype=np.float64).reshape(-1, 4) for n in names]
    kp = {}
    for s in SETTINGS:
        per = (keep or {}).get(s)
        kp[s] = [[np.asarray(per[n] if per is not None else range(len(b)), dtype=np.int64) for n, b in zip(names, boxes)]]
    return W.WiderGroundTruth([event], [names], [boxes], kp)


def preds_for(gt: W.WiderGroundTruth, rows: dict[str, list[list[float]]]) -> list[list[np.ndarray]]:
    return [[np.asarray(rows.get(n, []), dtype=np.float64).reshape(-1, 5) for n in gt.files[0]]]


def aps(gt, rows) -> dict[str, float]:
    return {s: r.ap for s, r in W.evaluate(preds_for(gt, rows), gt).items()}


FACE_A = [10, 10, 40, 40]
FACE_B = [100, 10, 40, 40]


def test_perfect_predictions_give_ap_1():
    gt = make_gt({"a": [FACE_A, FACE_B], "b": [FACE_A]})
    res = aps(gt, {"a": [FACE_A + [0.9], FACE_B + [0.8]], "b": [FACE_A + [0.7]]})
    assert res == {"easy": 1.0, "medium": 1.0, "hard": 1.0}


def test_high_scoring_false_positive_halves_ap():
    gt = make_gt({"a": [FACE_A]})
    far = [300, 300, 40, 40]
    # FP above the TP: at every threshold above the TP's (normalised) score 0, precision 0; at 0, 1/2 with recall 1
    assert aps(gt, {"a": [far + [0.9], FACE_A + [0.5]]})["hard"] == pytest.approx(0.5)
    # the same FP scored below the TP costs nothing: the envelope keeps precision 1 up to recall 1
    assert aps(gt, {"a": [FACE_A + [0.9], far + [0.5]]})["hard"] == pytest.approx(1.0)


def test_duplicate_detection_is_a_false_positive():
    gt = make_gt({"a": [FACE_A]})
    shifted = [12, 12, 40, 40]
    res = W.evaluate(preds_for(gt, {"a": [shifted + [0.9], FACE_A + [0.95]]}), gt)["easy"]
    assert res.recall[-1] == 1.0 and res.precision[-1] == pytest.approx(0.5)


def test_ignored_faces_neither_tp_nor_fp():
    # face B counts only in hard; in easy a prediction on it drops out, a missed B costs nothing
    gt = make_gt({"a": [FACE_A, FACE_B]}, keep={"easy": {"a": [0]}, "medium": {"a": [0]}})
    res = aps(gt, {"a": [FACE_B + [0.9], FACE_A + [0.5]]})
    assert res == {"easy": 1.0, "medium": 1.0, "hard": 1.0}
    res = aps(gt, {"a": [FACE_A + [0.9]]})
    assert res["easy"] == 1.0 and res["hard"] == pytest.approx(0.5)  # in hard, B is kept and missed
    # a false positive stays one whatever the keep list
    res = aps(gt, {"a": [[300, 300, 40, 40, 0.9], FACE_A + [0.5]]})
    assert res["easy"] == pytest.approx(0.5)


def test_image_without_prediction_counts_its_faces():
    gt = make_gt({"a": [FACE_A], "b": [FACE_A]})
    r = W.evaluate(preds_for(gt, {"a": [FACE_A + [0.9]]}), gt)["hard"]
    assert r.faces == 2 and r.ap == pytest.approx(0.5)
    assert np.nanmax(r.precision) == 1.0 and r.recall.max() == 0.5


def test_predictions_on_image_without_faces_are_skipped_as_officially():
    # evaluation.m skips images with no ground-truth box: their predictions are not false positives
    gt = make_gt({"a": [FACE_A], "empty": []})
    assert aps(gt, {"a": [FACE_A + [0.5]], "empty": [[0, 0, 50, 50, 0.99]]})["hard"] == 1.0


def test_iou_uses_plus_one_pixel_boxes():
    gt = np.array([[0, 0, 9, 9]], dtype=np.float64)  # 10 x 10 pixels
    half = np.array([[0, 0, 9, 4]], dtype=np.float64)  # 10 x 5 pixels: IoU exactly 0.5 (0.44 without the +1)
    assert W.wider_iou(half, gt)[0, 0] == pytest.approx(0.5)
    g = make_gt({"a": [[0, 0, 9, 9]]})
    assert aps(g, {"a": [[0, 0, 9, 4, 0.9]]})["easy"] == 1.0  # IoU >= 0.5 matches
    assert aps(g, {"a": [[0, 0, 9, 3, 0.9]]})["easy"] == 0.0


def test_scores_normalised_over_all_images():
    rows = [[np.array([[0, 0, 1, 1, 2.0]]), np.array([[0, 0, 1, 1, 4.0], [0, 0, 1, 1, 3.0]])], [np.zeros((0, 5))]]
    out = W.normalise_scores(rows)
    assert out[0][0][0, 4] == 0.0 and out[0][1][0, 4] == 1.0 and out[0][1][1, 4] == 0.5
    same = W.normalise_scores([[np.array([[0, 0, 1, 1, 0.7]]), np.array([[0, 0, 1, 1, 0.7]])]])
    assert same[0][0][0, 4] == 1.0  # no spread: one operating point instead of the official NaN


def test_voc_ap_envelope_and_nan():
    # precision NaN (no proposal yet) is skipped; the envelope lifts the dip at recall 0.5
    ap = W.voc_ap(np.array([0.0, 0.5, 0.5, 1.0]), np.array([np.nan, 0.4, 0.6, 0.6]))
    assert ap == pytest.approx(0.5 * 0.6 + 0.5 * 0.6)


def test_image_pr_info_matches_a_direct_loop(rng):
    n = 30
    scores = np.sort(rng.random(n))[::-1]
    proposal = rng.random(n) > 0.3
    recall = np.cumsum(rng.random(n) > 0.5)
    thr = W.thresholds(1000)
    got = W.image_pr_info(scores, proposal, recall, thr)
    for k, t in enumerate(thr[::37]):
        idx = np.nonzero(scores >= t)[0]
        want = (0, 0) if len(idx) == 0 else (proposal[: idx[-1] + 1].sum(), recall[idx[-1]])
        assert tuple(got[k * 37]) == tuple(want)


def test_ground_truth_files_round_trip(tmp_path):
    gt = make_gt({"a": [FACE_A, FACE_B], "b": [FACE_A], "c": []}, keep={"easy": {"a": [1], "b": [], "c": []}})
    gt.save(tmp_path)
    back = W.WiderGroundTruth.load(tmp_path)
    assert back.events == gt.events and back.files == gt.files
    assert [b.tolist() for b in back.boxes[0]] == [b.tolist() for b in gt.boxes[0]]
    assert back.kept_counts() == {"easy": 1, "medium": 3, "hard": 3}
    assert back.keep["easy"][0][0].tolist() == [1]


def test_missing_ground_truth_file_is_named(tmp_path):
    make_gt({"a": [FACE_A]}).save(tmp_path)
    (tmp_path / "wider_hard_val.mat").unlink()
    with pytest.raises(W.GroundTruthError, match="wider_hard_val.mat"):
        W.WiderGroundTruth.load(tmp_path)


def test_prediction_files_round_trip_and_missing(tmp_path):
    gt = make_gt({"a": [FACE_A], "b": [FACE_A]})
    W.write_prediction(tmp_path, "0--Test", "a", np.array([FACE_A + [0.123456789]]))
    text = (tmp_path / "0--Test" / "a.txt").read_text()
    assert text.splitlines()[:2] == ["a", "1"]
    p = W.read_predictions(tmp_path, gt)
    assert p.missing == ["0--Test/b"]
    assert p.rows[0][0][0].tolist() == pytest.approx(FACE_A + [0.12345679])
    assert p.rows[0][1].shape == (0, 5)


def test_malformed_prediction_file_is_named(tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("x\n2\n1 2 3 4 0.5\n")
    with pytest.raises(FormatError, match="announces 2 faces"):
        W.read_prediction(f)
    f.write_text("x\n1\n1 2 3 0.5\n")
    with pytest.raises(FormatError, match=r"x.txt:3: expected 5 numbers"):
        W.read_prediction(f)


class _FakeDetector:
    """Picklable stand-in for a detector: one box per image, its position from the image's mean colour."""

    def detect_rgb(self, rgb, source=None):
        from openmtcnn.detect.result import DetectResult

        v = float(rgb.mean())
        box = np.array([[v, v, v + 20, v + 20]], np.float32)
        return DetectResult(box, np.array([0.9], np.float32), np.zeros((1, 5, 2), np.float32), (rgb.shape[1], rgb.shape[0]), source)


class _FakeFactory:
    def __call__(self):
        return _FakeDetector()


def test_detection_pass_is_resumable_and_skips_corrupt_images(tmp_path):
    from PIL import Image

    images = tmp_path / "images" / "0--Test"
    images.mkdir(parents=True)
    for k in range(3):
        Image.fromarray(np.full((30, 40, 3), 10 * (k + 1), np.uint8)).save(images / f"img_{k}.jpg")
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    listed = W.list_event_images(tmp_path / "images")
    assert [p.name for _, p in listed] == ["broken.jpg", "img_0.jpg", "img_1.jpg", "img_2.jpg"]
    pred = tmp_path / "pred"
    (pred / "0--Test").mkdir(parents=True)
    W.write_prediction(pred, "0--Test", "img_1", np.zeros((0, 5)))  # done earlier
    stats = W.detect_images(_FakeFactory(), listed, pred, times_file=tmp_path / "t.tsv", errors_file=tmp_path / "e.txt", progress=False)
    assert (stats.done, stats.skipped, len(stats.failed)) == (2, 1, 1)
    assert "broken.jpg" in (tmp_path / "e.txt").read_text()
    rows = W.read_prediction(pred / "0--Test" / "img_0.txt")
    assert rows.shape == (1, 5) and rows[0, 2] == pytest.approx(20) and rows[0, 4] == pytest.approx(0.9)
    assert W.read_prediction(pred / "0--Test" / "img_1.txt").shape == (0, 5)  # untouched
    n, wall, cpu = W.total_time(tmp_path / "t.tsv")
    assert n == 2 and wall > 0 and cpu >= 0
    again = W.detect_images(_FakeFactory(), listed, pred, progress=False)
    assert again.done == 0 and again.skipped == 3 and len(again.failed) == 1


def test_time_limit_stops_the_pass_after_the_image_in_hand(tmp_path):
    from PIL import Image

    ev = tmp_path / "images" / "0--Test"
    ev.mkdir(parents=True)
    for k in range(4):
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(ev / f"{k}.png")
    listed = W.list_event_images(tmp_path / "images")
    stats = W.detect_images(_FakeFactory(), listed, tmp_path / "pred", progress=False, time_limit=0)
    assert stats.time_limit_hit and stats.done == 1
    assert len(list((tmp_path / "pred").glob("*/*.txt"))) == 1


def test_cli_scores_a_prediction_folder(tmp_path, capsys):
    from openmtcnn.cli import main

    gt = make_gt({"a": [FACE_A, FACE_B], "b": [FACE_A]}, keep={"easy": {"a": [0], "b": [0]}})
    gt.save(tmp_path / "gt")
    W.write_prediction(tmp_path / "pred", "0--Test", "a", np.array([FACE_A + [0.9], FACE_B + [0.8]]))
    W.write_prediction(tmp_path / "pred", "0--Test", "b", np.array([[300, 300, 40, 40, 0.95]]))
    rc = main(["evaluate", "widerface", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--out", str(tmp_path / "run"), "--label", "fixture"])
    assert rc == 0
    summary = json.loads((tmp_path / "run" / "widerface.json").read_text())
    # hard: 3 faces; FP (score 1 after normalisation) first, then 2 TPs: precision 2/3 at recall 2/3
    assert summary["ap"]["hard"] == pytest.approx(2 / 3 * 2 / 3, abs=1e-6)
    assert summary["faces"] == {"easy": 2, "medium": 3, "hard": 3}
    assert summary["label"] == "fixture" and len(summary["curves"]["easy"]["recall"]) == 1000
    assert (tmp_path / "run" / "widerface_pr.png").stat().st_size > 1000
    assert "fixture: AP easy" in capsys.readouterr().out


def _real_gt_dir() -> Path | None:
    here = Path(__file__).resolve().parents[1]
    for d in (
        os.environ.get("OPENMTCNN_WIDER_GT"),
        here / "data" / "widerface" / "eval_tools" / "ground_truth",
        here.parent / "shared" / "data" / "widerface" / "eval_tools" / "ground_truth",
    ):
        if d and all((Path(d) / f).is_file() for f in W.GT_FILES.values()):
            return Path(d)
    return None


@pytest.mark.data
def test_official_ground_truth_kept_face_counts():
    d = _real_gt_dir()
    if d is None:
        pytest.skip("WIDER FACE eval_tools/ground_truth .mat files not staged (data/widerface/eval_tools/ground_truth)")
    gt = W.WiderGroundTruth.load(d)
    assert gt.kept_counts() == {"easy": 7211, "medium": 13319, "hard": 31958}
    assert len(gt.events) == 61 and gt.image_count == 3226


def test_cli_detection_pass_then_scoring(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from openmtcnn.cli import main
    from openmtcnn.evaluate import runs

    class Det:  # finds FACE_A in every image, more surely in "a"
        class backend:
            weights_dir = None
            manifest = {}

        def detect_rgb(self, rgb, source=None):
            score = 0.9 if rgb.shape[1] == 200 else 0.6
            x, y, w, h = FACE_A
            return type("R", (), {"boxes": np.array([[x, y, x + w, y + h]], np.float32), "scores": np.array([score], np.float32),
                                  "image_size": (rgb.shape[1], rgb.shape[0])})()

    seen = {}

    def fake_build(weights, threads, **settings):
        seen.update(settings)
        return Det(), {"weights": weights, "weights_name": "fake", "settings": settings, "threads": threads}

    monkeypatch.setattr(runs, "build_detector", fake_build)
    gt = make_gt({"a": [FACE_A], "b": [FACE_A, FACE_B]})
    gt.save(tmp_path / "gt")
    ev = tmp_path / "images" / "0--Test"
    ev.mkdir(parents=True)
    Image.fromarray(np.zeros((150, 200, 3), np.uint8)).save(ev / "a.jpg")
    Image.fromarray(np.zeros((150, 210, 3), np.uint8)).save(ev / "b.jpg")
    args = ["evaluate", "widerface", "--images", str(tmp_path / "images"), "--gt", str(tmp_path / "gt"), "--out", str(tmp_path / "run"), "--no-progress", "--jobs", "1"]  # the fake reaches this process only
    assert main(args) == 0
    assert seen == {"min_face_size": 10, "scale_factor": 0.79, "thresholds": (0.5, 0.5, 0.3), "pyramid": "chained", "landmark_passes": 0,
                    "max_pixels": 100_000_000, "pnet_scale": None, "crop_method": None}  # the authors' WIDER settings, no landmark passes (WIDER scores boxes only); the weight-bound ones: the weight set's
    s = json.loads((tmp_path / "run" / "widerface.json").read_text())
    assert s["ap"]["hard"] == pytest.approx(2 / 3) and s["images"] == 2 and s["detection"]["done_this_run"] == 2
    assert s["label"] == "fake" and s["detection"]["timed_images"] == 2
    assert main(args) == 0  # resumed: nothing left to detect, same AP
    s2 = json.loads((tmp_path / "run" / "widerface.json").read_text())
    assert s2["detection"]["skipped_already_done"] == 2 and s2["ap"] == s["ap"]


def test_sample_is_a_fixed_spread_the_same_for_every_list_order():
    listed = [(f"{e}--Ev", Path(f"{e}--Ev/{k}.jpg")) for e in range(5) for k in range(20)]
    a = W.sample_images(listed, 30)
    assert len(a) == 30 == len(set(a)) and set(a) <= set(listed) and a == sorted(a)
    assert W.sample_images(list(listed), 30) == a  # deterministic
    assert set(a) <= set(W.sample_images(listed, 40))  # nested: a larger N keeps the smaller N's images
    assert len({ev for ev, _ in a}) == 5  # spread over the events
    assert W.sample_images(listed, 500) == listed
    with pytest.raises(ValueError, match="sample size"):
        W.sample_images(listed, 0)


def test_cli_sample_detects_and_scores_only_the_spread(tmp_path, monkeypatch):
    from PIL import Image

    from openmtcnn.cli import main
    from openmtcnn.evaluate import runs

    class Det:  # finds FACE_A in every image
        class backend:
            weights_dir = None
            manifest = {}

        def detect_rgb(self, rgb, source=None):
            x, y, w, h = FACE_A
            return type("R", (), {"boxes": np.array([[x, y, x + w, y + h]], np.float32), "scores": np.array([0.9], np.float32),
                                  "image_size": (rgb.shape[1], rgb.shape[0])})()

    monkeypatch.setattr(runs, "build_detector", lambda weights, threads, **s: (Det(), {"weights_name": "fake", "settings": s}))
    names = [f"i{k}" for k in range(6)]
    gt = make_gt({n: [FACE_A, FACE_B] if n in ("i0", "i1", "i2") else [FACE_A] for n in names})
    gt.save(tmp_path / "gt")
    ev = tmp_path / "images" / "0--Test"
    ev.mkdir(parents=True)
    for n in names:
        Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(ev / f"{n}.jpg")
    args = ["evaluate", "widerface", "--images", str(tmp_path / "images"), "--gt", str(tmp_path / "gt"), "--out",
            str(tmp_path / "run"), "--no-progress", "--jobs", "1", "--sample", "3"]
    assert main(args) == 0
    s = json.loads((tmp_path / "run" / "widerface.json").read_text())
    chosen = {p.stem for _, p in W.sample_images(W.list_event_images(tmp_path / "images"), 3)}
    assert {p.stem for p in (tmp_path / "run" / "pred").glob("*/*.txt")} == chosen  # only the spread was detected
    assert s["images"] == 3 and s["sample"] == {"images": 3, "of": 6, "how": "the first N of the evaluation's fixed shuffle (seed 0)"}
    faces = sum(2 if n in ("i0", "i1", "i2") else 1 for n in chosen)
    assert s["faces"]["hard"] == faces and s["missing_predictions"] == 0
    assert s["ap"]["hard"] == pytest.approx(3 / faces)  # one face found per image, all first in score order
    with pytest.raises(ValueError, match="needs the images folder"):
        W.run(pred=tmp_path / "run" / "pred", gt=tmp_path / "gt", sample=3)


def test_xywh_and_xyxy_are_inverse():
    xywh = np.array([[10.0, 20.0, 30.0, 40.0], [0.5, 1.5, 2.0, 3.0]])
    np.testing.assert_array_equal(xywh_to_xyxy(xywh), [[10, 20, 40, 60], [0.5, 1.5, 2.5, 4.5]])
    np.testing.assert_allclose(xyxy_to_xywh(xywh_to_xyxy(xywh)), xywh)
