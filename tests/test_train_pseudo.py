"""A teacher's detections on unannotated photos as extra samples (`samples.pseudo`, issue 21 item 4): the bundled
weights as the teacher on the bundled test photo (13 faces), end to end, and a teacher of known boxes for the labels."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
yaml = pytest.importorskip("yaml")

from test_train import killed_and_resumed  # noqa: E402
from test_train_synthetic import background, make_dataset  # noqa: E402

from openmtcnn.detect.result import DetectResult  # noqa: E402
from openmtcnn.ops import boxes as B  # noqa: E402
from openmtcnn.ops.crops import crop_boxes  # noqa: E402
from openmtcnn.train import samples as S  # noqa: E402
from openmtcnn.train.config import ConfigError, DetectionSamples, PseudoSamples, StageConfig, load_config  # noqa: E402
from openmtcnn.train.pseudo import PseudoImage, pseudo_annotation, read_image_list, teacher_detector  # noqa: E402
from openmtcnn.weights import resolve_weights  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "tests/fixtures/images/situation_room_480.jpg"
TEACHER = str(resolve_weights(None))  # the bundled set: it finds the photo's faces
MIN_SCORE = 0.9985  # the bundled weights score 2 of the photo's 12 faces found at min face 12 below this (0.997, 0.998)
quiet = lambda *a: None  # noqa: E731


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """The synthetic WIDER + landmark set, and a folder of photos with a list naming them (a duplicate line,
    extra fields, an unreadable file and a missing one)."""
    root = make_dataset(tmp_path_factory.mktemp("pseudo"), n_images=4, n_landmark=6)
    photos = root / "photos"
    photos.mkdir()
    shutil.copy(PHOTO, photos / "room.jpg")
    import cv2

    cv2.imwrite(str(photos / "room_mirrored.jpg"), cv2.imread(str(PHOTO))[:, ::-1])
    (photos / "bad.jpg").write_bytes(b"not a jpeg")
    (photos / "list.txt").write_text("room.jpg 1 2 3\n\nroom.jpg\nroom_mirrored.jpg x\nbad.jpg\nabsent.jpg\n")
    return root


def _config(stage: str = "pnet", **pseudo) -> StageConfig:
    cfg = StageConfig(stage=stage)
    cfg.samples.workers = 1
    cfg.samples.flush_every = 2
    cfg.data.landmark_root = "landmarks"
    if stage != "pnet":
        cfg.samples.detections = DetectionSamples(min_face_size=12.0, thresholds=[0.3, 0.6, 0.7])
    settings = {"list": "photos/list.txt", "root": "photos", "teacher": TEACHER, "min_score": MIN_SCORE} | pseudo
    cfg.samples.pseudo = PseudoSamples(**settings)
    return cfg


def test_the_list_gives_each_path_once(tmp_path):
    (tmp_path / "list.txt").write_text("a\\b.jpg 1 2\n\n  c.jpg\na/b.jpg x y\n")
    assert read_image_list(tmp_path / "list.txt") == ["a/b.jpg", "c.jpg"]


def test_the_annotation_is_the_teachers_detections_by_score():
    from openmtcnn.imaging import load_image

    cfg = _config(ignore_score=0.6)
    det = teacher_detector(cfg)
    image = load_image(PHOTO)
    found = det.detect_rgb(image)
    ann = pseudo_annotation(det, image, PseudoImage("room.jpg"), cfg.samples.pseudo)
    faces, ignored = found.scores >= MIN_SCORE, (found.scores >= 0.6) & (found.scores < MIN_SCORE)
    assert faces.sum() >= 8 and ignored.sum() >= 1
    assert len(ann.boxes) == faces.sum() + ignored.sum()
    np.testing.assert_array_equal(ann.boxes[ann.valid_mask()], found.boxes[faces])
    np.testing.assert_array_equal(ann.boxes[~ann.valid_mask()], found.boxes[ignored])


class KnownTeacher:
    """A teacher whose detections are fixed: a face, a box to ignore, and one below ignore_score."""

    face = np.array([40.0, 30.0, 100.0, 104.0])
    unsure = np.array([130.0, 60.0, 180.0, 120.0])
    weak = np.array([20.0, 130.0, 70.0, 180.0])

    def detect_rgb(self, image):
        boxes = np.stack([self.face, self.unsure, self.weak])
        return DetectResult(boxes, np.array([0.9995, 0.8, 0.3]), np.zeros((3, 5, 2)), image.shape[:2])


@pytest.mark.parametrize("stage", ["pnet", "rnet"])
def test_pseudo_boxes_are_labelled_as_wider_faces(tmp_path, monkeypatch, stage):
    """Positives and part faces point at the confident box, with the right crops; no negative overlaps the
    ignored box (IoU >= neg_iou) nor the face; R-Net's samples include the previous P-Net's candidates."""
    import cv2

    image = background(np.random.default_rng(7), 200, 200)
    cv2.imwrite(str(tmp_path / "p.png"), image[:, :, ::-1])
    cfg = _config(stage)
    prev = {"pnet": str(Path(TEACHER) / "pnet.onnx")} if stage == "rnet" else {}
    sampler = S.Sampler(cfg, "", "", prev, str(tmp_path)).start()
    sampler.teacher = KnownTeacher()
    crops = []
    real = S.crop_boxes
    monkeypatch.setattr(S, "crop_boxes", lambda img, boxes, *a: crops.append(np.array(boxes)) or real(img, boxes, *a))
    _, is_val, samples, err, counts = S._process(sampler, (3, "pseudo", PseudoImage("p.png")))
    assert err is None and not is_val and counts == {"pseudo_faces": 1, "pseudo_ignored": 1}
    boxes = dict(zip([t for t in ("neg", "pos", "part") if t in samples], crops))
    assert set(boxes) == {"neg", "pos", "part"}
    s = cfg.samples
    for t in ("pos", "part"):
        imgs, labs = samples[t]
        np.testing.assert_allclose(labs[:, :4], B.regression_targets(boxes[t], KnownTeacher.face[None]), atol=1e-6)
        assert (labs[:, 4:] == 0).all()
        np.testing.assert_array_equal(imgs, crop_boxes(image, boxes[t], cfg.size, cfg.crop_method))
        iou = B.box_iou(boxes[t], B.square(KnownTeacher.face[None]) if s.label_square else KnownTeacher.face[None])[:, 0]
        assert (iou >= (s.pos_iou if t == "pos" else s.part_iou)).all()
    assert (B.box_iou(boxes["neg"], np.stack([KnownTeacher.face, KnownTeacher.unsure])) < s.neg_iou).all()
    assert (samples["neg"][1] == 0).all()
    if stage == "rnet":  # the previous P-Net's candidates come on top of the crops drawn without it
        sampler.backend = None
        plain = S._process(sampler, (3, "pseudo", PseudoImage("p.png")))[2]
        assert sum(len(v[0]) for v in samples.values()) > sum(len(v[0]) for v in plain.values())


def test_generation_with_pseudo_images(data, tmp_path):
    """The photos come after the WIDER images and landmark faces, in the training split only; the WIDER and landmark
    samples are those of a run without them; the data record counts the photos' faces and ignored boxes."""
    cfg = _config()
    with_p = S.generate(cfg, data, tmp_path / "with", log=quiet)
    cfg.samples.pseudo = None
    without = S.generate(cfg, data, tmp_path / "without", log=quiet)
    d = with_p["data"]
    assert (d["pseudo_images_found"], d["pseudo_images_missing"], d["pseudo_images_used"]) == (3, 1, 3)
    assert d["pseudo_faces"] >= 16 and d["pseudo_ignored"] >= 2  # 2 readable photos of 13 faces each
    assert any("bad.jpg" in e for e in with_p["errors"])  # reported and skipped, as a bad WIDER image
    assert "pseudo_faces" not in without["data"]
    assert with_p["counts"]["val"] == without["counts"]["val"]
    for t in ("neg", "pos", "part"):
        assert with_p["counts"]["train"][t] > without["counts"]["train"][t]
    assert with_p["counts"]["train"]["landmark"] == without["counts"]["train"]["landmark"]
    a, b = S.SampleStore(tmp_path / "with"), S.SampleStore(tmp_path / "without")
    for t in ("neg", "pos"):
        ia, _ = a.load("train", t, 12)
        ib, _ = b.load("train", t, 12)
        assert np.array_equal(ia[: len(ib)], ib)  # the photos' crops come after the others


def test_generation_with_pseudo_images_resumes_identically(data, tmp_path, monkeypatch):
    cfg = _config()
    cfg.samples.flush_every = 1
    full = S.generate(cfg, data, tmp_path / "full", log=quiet)
    # killed on a pseudo image
    part, again = killed_and_resumed(cfg, data, tmp_path / "resumed", monkeypatch, lambda a: a[2].path == "room_mirrored.jpg")
    assert 0 < part["done"] < full["done"]
    assert again["counts"] == full["counts"] and again["data"] == full["data"]
    a, b = S.SampleStore(tmp_path / "full"), S.SampleStore(tmp_path / "resumed")
    for t in ("neg", "pos", "part"):
        ia, la = a.load("train", t, 12)
        ib, lb = b.load("train", t, 12)
        assert np.array_equal(ia, ib) and np.array_equal(la, lb)


def test_the_photos_of_held_out_landmark_faces_stay_out(data):
    """With the landmark list itself as the photo list, its validation faces' photos are not pseudo images."""
    cfg = _config(list="landmarks/trainImageList.txt", root="landmarks")
    cfg.samples.val_fraction = 0.5
    items, info = S.work_items(cfg, data)
    lmk = [(i, x.path) for i, (k, x) in enumerate(items) if k == "lmk"]
    val = {p for i, p in lmk if S.item_rng(cfg, i)[1]}
    used = {x.path for k, x in items if k == "pseudo"}
    assert val and used and not (val & used)
    assert used == {p for _, p in lmk} - val
    assert info["pseudo_images_held_out"] == len(val) and info["pseudo_images_used"] == len(used)
    cfg.samples.pseudo.max_images = 2
    assert S.work_items(cfg, data)[1]["pseudo_images_used"] == 2


def test_fingerprint_unchanged_when_off_and_changed_by_the_teacher(tmp_path):
    cfg = StageConfig(stage="pnet")
    base = S.fingerprint(cfg, {})
    cfg.samples.pseudo = None
    assert S.fingerprint(cfg, {}) == base
    on = _config()
    fp = S.fingerprint(on, {})
    assert fp != base
    other = tmp_path / "teacher"
    shutil.copytree(TEACHER, other)
    (other / "onet.onnx").write_bytes((other / "onet.onnx").read_bytes() + b"\0")
    on.samples.pseudo.teacher = str(other)
    assert S.fingerprint(on, {}) != fp


def test_missing_sources_are_named_before_any_work(data, tmp_path):
    from test_train_pipeline import _run

    cfg = _config(list="photos/nothing.txt")
    with pytest.raises(FileNotFoundError, match="nothing.txt"):
        S.generate(cfg, data, tmp_path / "a", log=quiet)
    cfg = _config(teacher=str(tmp_path / "no_teacher"))
    with pytest.raises(FileNotFoundError, match="no_teacher"):
        S.generate(cfg, data, tmp_path / "b", log=quiet)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    # the command line checks every stage's sources before the first stage starts
    configs = tmp_path / "configs"
    configs.mkdir()
    for stage in ("pnet", "rnet", "onet"):
        c = {"stage": stage}
        if stage != "pnet":
            c["samples"] = {"detections": {}}
        if stage == "onet":
            c["samples"]["pseudo"] = {"teacher": str(tmp_path / "no_teacher"), "list": "photos/list.txt", "root": "photos"}
        (configs / f"{stage}.yaml").write_text(yaml.safe_dump(c))
    runs = tmp_path / "runs"
    assert _run(["train", "all", "--config", str(configs), "--data", str(data), "--runs", str(runs)]) == 2
    assert not runs.exists()


def test_the_config_section(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"stage": "pnet", "samples": {"pseudo": {"min_score": 0.95}}}))
    (tmp_path / "exp.yaml").write_text("extends: base.yaml\nsamples:\n  pseudo:\n    max_images: 10\n")
    p = load_config(tmp_path / "exp.yaml").samples.pseudo
    assert (p.min_score, p.max_images, p.ignore_score, p.list) == (0.95, 10, 0.6, "landmarks/trainImageList.txt")
    assert load_config(REPO / "configs/pnet.yaml").samples.pseudo is None
    for bad, match in (({"min_score": 0.5}, "ignore_score"), ({"thresholds": [0.6]}, "thresholds"), ({"teachr": "x"}, "teachr")):
        base.write_text(yaml.safe_dump({"stage": "pnet", "samples": {"pseudo": bad}}))
        with pytest.raises(ConfigError, match=match):
            load_config(base)


def _summary(stage: str, pseudo: dict | None) -> dict:
    """A stage summary as `pipeline.run_stage` writes it, with made-up figures."""
    cfg = StageConfig(stage=stage)
    cfg.samples.pseudo = PseudoSamples() if pseudo is not None else None
    data = {"wider_images_used": 20, "wider_images_found": 21, "wider_images_missing": 1, "wider_faces_used": 30,
            "landmark_faces_used": 40, "landmark_faces_missing": 0, **(pseudo or {})}
    best = {"epoch": 2, **{f"val_{k}": 0.5 for k in ("accuracy", "recall", "false_pos_rate", "det_loss", "box_loss",
                                                     "landmark_loss", "landmark_nme")}}
    return {"stage": stage, "config_file": None, "command": "openmtcnn train", "config": cfg.to_dict(), "data": data,
            "sample_counts": {sp: {t: 10 for t in ("neg", "pos", "part", "landmark")} for sp in ("train", "val")},
            "sample_seconds": 60.0, "unreadable_images": [], "epochs_run": 3, "best": best, "train_seconds": 120.0}


def test_the_model_card_states_the_pseudo_images_of_the_stages_that_used_them(tmp_path):
    from openmtcnn.train.card import write_model_card
    from openmtcnn.train.card_parse import read_model_card
    from openmtcnn.train.record import build_record

    pseudo = {"pseudo_list": "data/landmarks/trainImageList.txt", "pseudo_teacher": "weights/original",
              "pseudo_images_found": 9000, "pseudo_images_missing": 2, "pseudo_images_held_out": 450,
              "pseudo_images_used": 8550, "pseudo_faces": 9100, "pseudo_ignored": 310}
    summaries = {"pnet": _summary("pnet", None), "rnet": _summary("rnet", pseudo), "onet": _summary("onet", pseudo)}
    card = write_model_card(build_record(summaries), tmp_path / "MODEL_CARD.md").read_text()
    assert ("- Pseudo-annotated photos (R-Net, O-Net): 8550 images of `data/landmarks/trainImageList.txt` (9000 found, "
            "450 left out as photos of held-out landmark faces, 2 missing), annotated by the cascade of the weight set "
            "`weights/original`: 9100 faces (detections scoring 0.97 or more), 310 boxes ignored (scoring 0.6") in card
    back = read_model_card(tmp_path / "MODEL_CARD.md")
    assert "pseudo_faces" not in back["pnet"]["data"]
    assert back["onet"]["data"] == summaries["onet"]["data"] and back["rnet"]["data"] == summaries["rnet"]["data"]
    plain = write_model_card(build_record({s: _summary(s, None) for s in ("pnet", "rnet", "onet")}), tmp_path / "plain.md").read_text()
    assert "Pseudo" not in plain and "pseudo" not in plain.split("## Commands")[0]
