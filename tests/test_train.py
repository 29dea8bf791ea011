"""Unit tests of the training pipeline's pieces: readers, configs, sample geometry, labels, resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("yaml")

from test_train_synthetic import make_dataset  # noqa: E402

from openmtcnn.ops import landmarks as L  # noqa: E402
from openmtcnn.imaging import load_image  # noqa: E402
from openmtcnn.ops import boxes as B  # noqa: E402
from openmtcnn.train import samples as S  # noqa: E402
from openmtcnn.datasets.landmarks import read_landmark_list  # noqa: E402
from openmtcnn.datasets.wider import AnnotationError, existing, read_wider_gt  # noqa: E402
from openmtcnn.train.config import ConfigError, StageConfig, load_config  # noqa: E402
from openmtcnn.train.trainer import KIND, augment, landmark_loss, losses, to_tensor, validate  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("synthetic"), n_images=8, n_landmark=10)


def test_wider_reader_formats_and_counts(dataset):
    items = read_wider_gt(dataset / "widerface/wider_face_split/wider_face_train_bbx_gt.txt")
    assert items[0].boxes.shape == (0, 4)  # the no-face image's placeholder line is dropped
    one = items[1]
    assert one.boxes.shape[1] == 4 and one.flags.shape[1] == 6
    assert np.all(one.boxes[:, 2] > one.boxes[:, 0])  # x y w h -> x1 y1 x2 y2
    assert not one.valid_mask()[0]  # flagged invalid
    found = existing(items, dataset / "widerface/WIDER_train/images")
    assert found.missing == ["0--Synthetic/absent.jpg"]
    assert len(found.items) == len(items) - 1


def test_wider_reader_reports_bad_line(tmp_path):
    p = tmp_path / "gt.txt"
    p.write_text("a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n")
    with pytest.raises(AnnotationError, match="gt.txt:4"):
        read_wider_gt(p)


def test_landmark_reader(dataset):
    faces = read_landmark_list(dataset / "landmarks/trainImageList.txt")
    f = faces[0]
    assert f.path.startswith("faces/")  # backslashes normalised
    assert f.points.shape == (5, 2)
    assert f.box[0] < f.points[:, 0].min() and f.points[:, 0].max() < f.box[2]


def test_repo_configs_load():
    for stage in ("pnet", "rnet", "onet"):
        cfg = load_config(REPO / "configs" / f"{stage}.yaml", stage)
        assert cfg.size == {"pnet": 12, "rnet": 24, "onet": 48}[stage]
    assert load_config(REPO / "configs/onet.yaml").train.task_weights == {"det": 1.0, "box": 0.5, "landmark": 1.0}


def test_every_repo_config_loads():
    for path in sorted((REPO / "configs").rglob("*.yaml")):
        assert load_config(path).stage in ("pnet", "rnet", "onet"), path


def test_config_extends_merges_sections_and_replaces_values(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base/b.yaml").write_text(
        "stage: onet\nseed: 3\nsamples: {min_face: 20, detections: {min_face_size: 16, thresholds: [0.6, 0.7, 0.7]}}\n"
        "train: {lr: 0.01, epochs: 5, mix: {neg: 3, pos: 1, part: 1, landmark: 2}}\n")
    (tmp_path / "c.yaml").write_text(
        "extends: base/b.yaml\nsamples: {detections: {min_face_size: 12}}\ntrain: {epochs: 9, mix: {neg: 1, pos: 1}}\n")
    cfg = load_config(tmp_path / "c.yaml", "onet")
    assert (cfg.seed, cfg.samples.min_face, cfg.train.lr, cfg.train.epochs) == (3, 20, 0.01, 9)
    assert (cfg.samples.detections.min_face_size, cfg.samples.detections.thresholds) == (12, [0.6, 0.7, 0.7])
    assert cfg.train.mix == {"neg": 1, "pos": 1}  # a mapping value replaces the base's whole
    (tmp_path / "d.yaml").write_text("extends: c.yaml\ntrain: {lr: 0.1}\n")  # chains resolve in order
    assert (load_config(tmp_path / "d.yaml").train.lr, load_config(tmp_path / "d.yaml").train.epochs) == (0.1, 9)


def test_config_extends_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nstage: pnet\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="extends itself"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: missing.yaml\nstage: pnet\n")
    with pytest.raises(ConfigError, match=r"missing.yaml: no such config file \(extended by"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "e.yaml").write_text("extends: c.yaml\ntrain: {batchsize: 3}\n")
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "e.yaml")


def test_config_rejects_unknown_keys(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("stage: pnet\ntrain: {batchsize: 3}\n")
    with pytest.raises(ConfigError, match="batchsize"):
        load_config(p)
    p.write_text("stage: rnet\n")
    with pytest.raises(ConfigError, match="detections"):
        load_config(p)


def test_label_by_iou_thresholds():
    cfg = StageConfig(stage="pnet").samples
    gt = np.array([[0, 0, 100, 100], [200, 200, 230, 230]], float)
    usable = np.array([True, False])
    boxes = np.array([[0, 0, 100, 100], [0, 0, 100, 60], [0, 0, 100, 25], [300, 300, 350, 350], [200, 200, 230, 230]])
    kind, targets = S.label_by_iou(boxes, gt, usable, cfg)
    assert kind.tolist() == [1, 2, 0, 0, -1]  # unusable face: neither positive nor negative
    np.testing.assert_allclose(B.calibrate(boxes[1:2], targets[1:2]), gt[:1])


def test_fingerprints_of_existing_sample_folders_stay_the_same():
    """A sample folder made by an earlier version must still be accepted: the shipped configs' fingerprints are
    pinned (a new SampleConfig field goes into LATER_OPTIONS with default None). A variant's own sample size or
    crop method counts; a variant whose samples are the standard ones (mtcnn-dw) shares them."""
    pinned = {"pnet": "78043e48414b28c1", "rnet": "b71c54df428907af", "onet": "ca7b0b6a36344118"}
    for stage, fp in pinned.items():
        cfg = load_config(REPO / "configs" / f"{stage}.yaml")
        assert S.fingerprint(cfg, {}) == fp, stage
    onet = load_config(REPO / "configs/onet.yaml")
    assert S.fingerprint(dataclasses.replace(onet, variant="mtcnn-dw"), {}) == pinned["onet"]
    others = {S.fingerprint(dataclasses.replace(onet, variant=v), {}) for v in ("mtcnn-dw-r0.75", "mtcnn-dw-bl")}
    assert len(others) == 2 and pinned["onet"] not in others


def test_label_square_makes_tall_faces_positives():
    cfg = StageConfig(stage="onet").samples
    gt = np.array([[100, 100, 150, 190]], float)  # h / w = 1.8
    usable = np.array([True])
    crop = np.array([[80, 100, 170, 190]])  # the square around it: IoU 0.56 with the annotated box
    kind, targets = S.label_by_iou(crop, gt, usable, cfg)
    assert kind.tolist() == [2]  # plain rule: only a part face
    base = S.fingerprint(StageConfig(stage="onet"), {})
    cfg.label_square = None  # unset: sample sets made before the option existed stay valid
    assert S.fingerprint(StageConfig(stage="onet", samples=cfg), {}) == base
    cfg.label_square = True
    kind_sq, targets_sq = S.label_by_iou(crop, gt, usable, cfg)
    assert kind_sq.tolist() == [1]
    np.testing.assert_allclose(targets_sq, targets)  # box targets: still the annotated box
    np.testing.assert_allclose(B.calibrate(crop, targets_sq), gt)
    assert S.fingerprint(StageConfig(stage="onet", samples=cfg), {}) != base
    far = np.array([[400, 400, 450, 450], [150, 100, 200, 150]])  # clear negatives stay negatives
    assert S.label_by_iou(far, gt, usable, cfg)[0].tolist() == [0, 0]


def test_jittered_and_negatives_respect_iou():
    cfg = StageConfig(stage="pnet").samples
    rng = np.random.default_rng(0)
    face = np.array([50.0, 60.0, 90.0, 100.0])
    gt = face[None]
    neg = S.near_negatives(rng, face, 200, 200, gt, 50, cfg, 12)
    assert len(neg) > 0 and B.box_iou(neg, gt).max() < cfg.neg_iou
    rnd = S.random_negatives(rng, 200, 200, gt, 50, cfg, 12)
    assert len(rnd) > 0 and B.box_iou(rnd, gt).max() < cfg.neg_iou
    j = S.jittered(rng, face, 200, cfg)
    assert np.all(j[:, 2] - j[:, 0] == j[:, 3] - j[:, 1])  # squares, integer pixels
    assert (B.box_iou(j, gt)[:, 0] >= cfg.pos_iou).mean() > 0.1


def test_landmark_samples_point_back_to_the_points(dataset):
    cfg = StageConfig(stage="onet")
    face = read_landmark_list(dataset / "landmarks/trainImageList.txt")[0]
    image = load_image(dataset / "landmarks" / face.path)
    cfg.samples.landmark_flip = 0.0
    cfg.samples.landmark_rotate = 0.0
    out = S.landmark_samples(np.random.default_rng(0), image, face, cfg)
    crops, labs = out["landmark"]
    assert crops.shape[1:] == (48, 48, 3) and crops.dtype == np.uint8
    # in crop coordinates (a 48 px box at the origin) the eyes are dark: the labels point at them
    pts = L.decode(np.array([[0, 0, 48, 48]] * len(labs)), labs[:, 4:])
    for c, p in zip(crops, pts):
        eye = c[int(p[0, 1]), int(p[0, 0])]
        assert eye.mean() < 110


def test_flip_augmentation_mirrors_labels():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (2, 12, 12, 3), dtype=np.uint8)
    kinds = np.array([KIND["pos"], KIND["landmark"]])
    labels = np.zeros((2, 14), np.float32)
    labels[:, :4] = [0.1, 0.2, -0.05, 0.3]
    labels[1, 4:] = [0.3, 0.4, 0.7, 0.4, 0.5, 0.6, 0.35, 0.8, 0.65, 0.8]
    x, lab = augment(to_tensor(img), kinds, labels, rng, flip=1.0, jitter=0.0)
    assert torch.equal(x, to_tensor(img).flip(3))
    np.testing.assert_allclose(lab[0, :4], [0.05, 0.2, -0.1, 0.3])
    # left eye (0.3) and right eye (0.7) swap and mirror: new left eye = 1 - 0.7
    np.testing.assert_allclose(lab[1, 4:], [0.3, 0.4, 0.7, 0.4, 0.5, 0.6, 0.35, 0.8, 0.65, 0.8], atol=1e-6)
    x2, lab2 = augment(x, kinds, lab, rng, flip=1.0, jitter=0.0)
    np.testing.assert_allclose(lab2, labels, atol=1e-6)


def test_losses_use_only_labelled_samples_and_ohem():
    torch = pytest.importorskip("torch")
    kinds = np.array([KIND["neg"], KIND["pos"], KIND["part"], KIND["landmark"]])
    labels = np.zeros((4, 14), np.float32)
    logits = torch.tensor([[5.0, -5.0], [-5.0, 5.0], [0.0, 100.0], [100.0, 0.0]])  # part / landmark logits are absurd
    box = torch.zeros(4, 4)
    box[3] = 9  # landmark face: no box label -> ignored
    lmk = torch.zeros(4, 10)
    lmk[0] = 9  # negative: no landmark label -> ignored
    det, box_l, lmk_l, _ = losses((logits, box, lmk), kinds, labels, 1.0)
    assert float(det) < 1e-3 and float(box_l) == 0 and float(lmk_l) == 0
    # OHEM keeps the hardest half: one wrong sample dominates
    logits2 = torch.tensor([[5.0, -5.0], [5.0, -5.0], [0.0, 0.0], [0.0, 0.0]])
    det_all, *_ = losses((logits2, box, lmk), np.array([0, 1, 3, 3]), labels, 1.0)
    det_half, *_ = losses((logits2, box, lmk), np.array([0, 1, 3, 3]), labels, 0.5)
    assert float(det_half) > float(det_all)


def test_soft_part_targets_and_loss():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from openmtcnn.train.trainer import face_targets

    kinds = np.array([KIND["neg"], KIND["pos"], KIND["part"], KIND["part"], KIND["landmark"]])
    labels = np.zeros((5, 14), np.float32)
    labels[2, :4] = [0.5, 0, 0.5, 0]  # IoU 1/3 with its face: target (1/3 - 0.3) / 0.35
    labels[3, :4] = [0.1, 0, 0.1, 0]  # IoU 0.818: above pos_iou, target 1
    hard = face_targets(kinds, labels)
    assert hard[:2].tolist() == [0, 1] and np.isnan(hard[2:]).all()
    soft = face_targets(kinds, labels, (0.3, 0.65, False))
    np.testing.assert_allclose(soft[:4], [0, 1, (1 / 3 - 0.3) / 0.35, 1], rtol=1e-5)
    assert np.isnan(soft[4])
    logits = torch.tensor([[1.0, -1.0], [-0.5, 2.0], [0.3, 0.1], [0.0, 0.0], [9.0, -9.0]])
    out = (logits, torch.zeros(5, 4), torch.zeros(5, 10))
    det_hard, *_ = losses(out, kinds, labels, 1.0)  # hard labels: plain cross-entropy over neg / pos
    want = F.cross_entropy(logits[:2], torch.tensor([0, 1]))
    assert abs(float(det_hard) - float(want)) < 1e-6
    # soft labels: a part face whose probability equals its target adds nothing (divergence, not cross-entropy)
    t = float(soft[2])
    logits[2] = torch.tensor([0.0, float(np.log(t / (1 - t)))])
    logits[3] = torch.tensor([-20.0, 20.0])
    det_soft, *_ = losses((logits, out[1], out[2]), kinds, labels, 1.0, soft=(0.3, 0.65, False))
    assert abs(float(det_soft) - float(want) * 2 / 4) < 1e-5


def test_landmark_losses_values_and_wing_shape():
    torch = pytest.importorskip("torch")
    r = torch.tensor([[0.01, -0.02] + [0.0] * 8, [0.3, 0.0] + [0.0] * 8])
    assert float(landmark_loss(r, "l2")) == pytest.approx((0.0001 + 0.0004 + 0.09) / 2, rel=1e-5)
    assert float(landmark_loss(r, "l1")) == pytest.approx((0.03 + 0.3) / 2, rel=1e-5)
    w, eps = 0.15, 0.03
    x = torch.tensor([w - 1e-6, w + 1e-6, 0.01, 0.5])
    per = [float(landmark_loss(v.reshape(1, 1), "wing", w, eps)) for v in x]
    assert per[0] == pytest.approx(per[1], abs=1e-5)  # the two pieces meet at |x| = w
    assert per[2] == pytest.approx(w * np.log1p(0.01 / eps), rel=1e-5)
    assert per[3] - per[1] == pytest.approx(0.5 - w, rel=1e-4)  # linear above w, slope 1
    small = torch.tensor([[0.01]], requires_grad=True)
    landmark_loss(small, "wing", w, eps).backward()
    assert float(small.grad) == pytest.approx(w / (eps + 0.01), rel=1e-5)  # 187x the squared error's 2x = 0.02 at 1 % of the crop
    with pytest.raises(ValueError, match="landmark_loss"):
        landmark_loss(r, "l3")


def test_config_checks_landmark_loss():
    from openmtcnn.train.config import validate

    cfg = StageConfig(stage="onet")
    cfg.samples.detections = {"thresholds": [0.5, 0.5, 0.7]}
    cfg.train.landmark_loss = "huber"
    with pytest.raises(ConfigError, match="landmark_loss"):
        validate(cfg)
    cfg.train.landmark_loss, cfg.train.wing_eps = "wing", 0.0
    with pytest.raises(ConfigError, match="wing_eps"):
        validate(cfg)


def test_validation_landmark_nme_is_the_point_error_over_the_eye_distance():
    torch = pytest.importorskip("torch")
    pts = np.array([[0.3, 0.4, 0.7, 0.4, 0.5, 0.6, 0.35, 0.8, 0.65, 0.8]], np.float32)  # eyes 0.4 apart
    shift = np.zeros(10, np.float32)
    shift[0::2] = 0.04  # every point 0.04 to the right: NME 0.1

    class Held:  # the held-out split: one landmark face and one negative
        def all_batches(self, batch):
            yield np.zeros((1, 48, 48, 3), np.uint8), np.array([KIND["landmark"]]), np.concatenate([np.zeros((1, 4), np.float32), pts], 1)
            yield np.zeros((1, 48, 48, 3), np.uint8), np.array([KIND["neg"]]), np.zeros((1, 14), np.float32)

    class Net:
        def __call__(self, x):
            return torch.tensor([[2.0, -2.0]]), torch.zeros(1, 4), torch.from_numpy(pts + shift)

        def eval(self):
            return self

        def train(self):
            return self

    for kind in ("l2", "wing"):
        cfg = StageConfig(stage="onet")
        cfg.train.landmark_loss = kind
        m = validate(Net(), Held(), cfg)
        assert m["landmark_nme"] == pytest.approx(0.1, rel=1e-4)
        assert m["landmark_loss"] == pytest.approx(float(landmark_loss(torch.from_numpy(shift[None]), kind)), rel=1e-4)


def killed_and_resumed(cfg: StageConfig, data: Path, out: Path, monkeypatch, dies) -> tuple[dict, dict]:
    """Sample generation killed (KeyboardInterrupt) at the first work item ``(index, kind, item)`` that ``dies``
    picks, then run again to the end: the progress left by the kill, and the final one."""
    real = S._process

    def dying(sampler, args):
        if dies(args):
            raise KeyboardInterrupt
        return real(sampler, args)

    monkeypatch.setattr(S, "_process", dying)
    with pytest.raises(KeyboardInterrupt):
        S.generate(cfg, data, out, log=lambda *a: None)
    monkeypatch.setattr(S, "_process", real)
    return S.SampleStore(out).load_progress(), S.generate(cfg, data, out, log=lambda *a: None)


def test_generation_resumes_identically(dataset, tmp_path, monkeypatch):
    cfg = StageConfig(stage="pnet")
    cfg.samples.workers = 1
    cfg.samples.flush_every = 3
    cfg.data.landmark_root = "landmarks"
    quiet = lambda *a: None  # noqa: E731
    full = S.generate(cfg, dataset, tmp_path / "full", log=quiet)
    assert full["complete"] and full["errors"] and "corrupt.jpg" in full["errors"][0]  # reported, skipped
    assert full["data"]["wider_images_missing"] == 1

    calls = {"n": 0}

    def dies(args) -> bool:
        calls["n"] += 1
        return calls["n"] > 7

    part, again = killed_and_resumed(cfg, dataset, tmp_path / "resumed", monkeypatch, dies)
    assert 0 < part["done"] < full["done"]
    assert again["counts"] == full["counts"]
    a, b = S.SampleStore(tmp_path / "full"), S.SampleStore(tmp_path / "resumed")
    for t in ("neg", "pos", "part", "landmark"):
        ia, la = a.load("train", t, 12)
        ib, lb = b.load("train", t, 12)
        assert np.array_equal(ia, ib) and np.array_equal(la, lb)
    cfg.samples.jitter_per_face += 1
    with pytest.raises(RuntimeError, match="other settings"):
        S.generate(cfg, dataset, tmp_path / "resumed", log=quiet)


def test_landmark_jitter_option_changes_only_landmark_crops(dataset):
    cfg = StageConfig(stage="onet")
    base = S.fingerprint(cfg, {})
    cfg.samples.landmark_jitter_shift = None  # unset: same samples as before the option existed
    assert S.fingerprint(cfg, {}) == base
    cfg.samples.landmark_jitter_shift = 0.0
    cfg.samples.landmark_jitter_scale = [1.0, 1.0]
    assert S.fingerprint(cfg, {}) != base
    cfg.samples.landmark_flip = cfg.samples.landmark_rotate = 0.0
    face = read_landmark_list(dataset / "landmarks/trainImageList.txt")[0]
    image = load_image(dataset / "landmarks" / face.path)
    _, labs = S.landmark_samples(np.random.default_rng(0), image, face, cfg)["landmark"]
    assert np.all(labs[:, :4] == labs[0, :4])  # no jitter: every crop is the same box


def training_killed_and_resumed(cfg: StageConfig, samples: Path, out: Path, monkeypatch, at_step: int = 8) -> dict:
    """Training killed (KeyboardInterrupt) at its ``at_step``-th step, then run again to the end: the summary."""
    from openmtcnn.train import trainer as T

    real, calls = T.losses, {"n": 0}

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] == at_step:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(T, "losses", dying)
    with pytest.raises(KeyboardInterrupt):
        T.train_stage(cfg, samples, out, log=lambda *a: None)
    monkeypatch.setattr(T, "losses", real)
    return T.train_stage(cfg, samples, out, log=lambda *a: None)


def test_training_resumes_after_a_kill_exactly(dataset, tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from openmtcnn.train import trainer as T

    cfg = StageConfig(stage="pnet")
    cfg.samples.workers = 1
    cfg.train.batch_size, cfg.train.epochs, cfg.train.steps_per_epoch = 32, 2, 5
    cfg.train.checkpoint_seconds = 0  # checkpoint after every step
    quiet = lambda *a: None  # noqa: E731
    S.generate(cfg, dataset, tmp_path / "samples", log=quiet)
    T.train_stage(cfg, tmp_path / "samples", tmp_path / "full", log=quiet)
    summary = training_killed_and_resumed(cfg, tmp_path / "samples", tmp_path / "killed", monkeypatch)
    assert summary["epochs_run"] == 2
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "killed" / "last.pt", weights_only=False)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert [r["val_loss"] for r in a["state"]["rows"]] == [r["val_loss"] for r in b["state"]["rows"]]


def test_landmark_min_iou_lets_larger_crops_through(dataset):
    """Crops 1.4-1.45x the annotated box (IoU < 0.65 with it) need a lower landmark_min_iou."""
    cfg = StageConfig(stage="onet")
    base = S.fingerprint(cfg, {})
    cfg.samples.landmark_jitter_shift, cfg.samples.landmark_jitter_scale = 0.0, [1.4, 1.45]
    face = read_landmark_list(dataset / "landmarks/trainImageList.txt")[0]
    image = load_image(dataset / "landmarks" / face.path)
    assert S.landmark_samples(np.random.default_rng(0), image, face, cfg) == {}  # all below pos_iou
    cfg.samples.landmark_min_iou = 0.4
    assert S.fingerprint(cfg, {}) != base
    _, labs = S.landmark_samples(np.random.default_rng(0), image, face, cfg)["landmark"]
    assert len(labs) > 0 and labs[:, 4:].min() >= 0 and labs[:, 4:].max() <= 1


def test_every_config_loads():
    """Every stage config in configs/, experiment folders included (their ``extends`` chains resolve and validate)."""
    paths = sorted((REPO / "configs").rglob("*.yaml"))
    assert any(p.parent.name == "default-onet-nolmface" for p in paths)  # the subfolders are searched
    for path in paths:
        load_config(path)


def test_cap_room_paces_a_cap_over_the_work_list():
    cap, total, supply = 300, 100, 10
    count, taken = 0, []
    for k in range(total):
        room = S.cap_room(cap, count, k, total, spread=True)
        n = min(supply, max(0, room))
        taken.append(n)
        count += n
    assert count == cap and min(taken) == max(taken) == 3  # every item contributes, the cap is reached exactly
    assert S.cap_room(cap, 0, 0, total, spread=False) == cap  # plain: first come, first kept
    # an item that brings nothing passes its allowance on
    assert S.cap_room(cap, 0, 1, total, spread=True) == 6
    assert S.cap_room(cap, 0, 0, 1, spread=True) == cap


def test_spread_caps_keep_samples_from_late_images(dataset, tmp_path):
    quiet = lambda *a: None  # noqa: E731
    cfg = StageConfig(stage="pnet")
    base = S.fingerprint(cfg, {})
    cfg.samples.spread_caps = None  # unset: the sample sets made before the option existed stay valid
    assert S.fingerprint(cfg, {}) == base
    cfg.samples.workers, cfg.samples.val_fraction, cfg.samples.flush_every = 1, 0.0, 1  # a shard per item
    cfg.samples.max_per_type = {"neg": 30}
    plain = S.generate(cfg, dataset, tmp_path / "plain", log=quiet)
    cfg.samples.spread_caps = True
    assert S.fingerprint(cfg, {}) != base
    spread = S.generate(cfg, dataset, tmp_path / "spread", log=quiet)
    assert plain["counts"]["train"]["neg"] == spread["counts"]["train"]["neg"] == 30
    # plain fills the cap from the first images' shards; spread writes some into every shard of WIDER images
    shards = lambda run: [len(np.load(p)) for p, _ in S.SampleStore(tmp_path / run).shard_files("train", "neg")]  # noqa: E731
    assert len(shards("spread")) > len(shards("plain"))



def test_generation_on_the_worker_pool_matches_one_process(dataset, tmp_path):
    """R-Net samples (with the previous P-Net's detections, run through OnnxBackend on that one net) come out
    the same, shard for shard, from two worker processes of the project's pool as from this process."""
    from openmtcnn.train.config import DetectionSamples
    from openmtcnn.weights import resolve_weights

    cfg = StageConfig(stage="rnet")
    cfg.samples.detections = DetectionSamples(min_face_size=12.0, thresholds=[0.3, 0.6, 0.7])
    cfg.samples.flush_every = 4
    cfg.data.landmark_root = "landmarks"
    prev = {"pnet": str(resolve_weights(None) / "pnet.onnx")}
    quiet = lambda *a: None  # noqa: E731
    runs = {}
    for workers in (1, 2):
        cfg.samples.workers = workers
        runs[workers] = S.generate(cfg, dataset, tmp_path / f"w{workers}", prev, log=quiet)
    assert runs[1]["counts"] == runs[2]["counts"] and runs[1]["errors"] == runs[2]["errors"]
    a, b = S.SampleStore(tmp_path / "w1"), S.SampleStore(tmp_path / "w2")
    for sp in S.SPLITS:
        for t in ("neg", "pos", "part", "landmark"):
            fa, fb = a.shard_files(sp, t), b.shard_files(sp, t)
            assert [p.name for p, _ in fa] == [p.name for p, _ in fb]
            for (ia, la), (ib, lb) in zip(fa, fb):
                assert np.array_equal(np.load(ia), np.load(ib)) and np.array_equal(np.load(la), np.load(lb))
    assert runs[1]["counts"]["train"]["neg"] > 0


def test_sampler_mines_with_the_detectors_backend_on_the_stages_given(dataset):
    """The previous stages' detections come from OnnxBackend loaded with just those nets: the same candidates
    as the full weight set's P-Net gives."""
    from openmtcnn.config import DetectConfig
    from openmtcnn.detect.backends.onnx import OnnxBackend
    from openmtcnn.detect.cascade import stage_pnet
    from openmtcnn.weights import resolve_weights

    cfg = StageConfig(stage="rnet")
    sampler = S.Sampler(cfg, "", "", {"pnet": str(resolve_weights(None) / "pnet.onnx")}).start()
    assert isinstance(sampler.backend, OnnxBackend) and set(sampler.backend.sessions) == {"pnet"}
    image = load_image(REPO / "tests/fixtures/images/situation_room_480.jpg")
    dcfg = DetectConfig(thresholds=(0.6, 0.7, 0.7))
    np.testing.assert_array_equal(stage_pnet(image, sampler.backend, dcfg), stage_pnet(image, OnnxBackend(), dcfg))
    assert S.Sampler(StageConfig(stage="pnet"), "", "", {}).start().backend is None


def test_an_item_whose_work_fails_outright_is_reported_and_skipped(dataset, tmp_path, monkeypatch):
    """What the pool answers for an item whose worker died (or whose work raised) is an error naming the item;
    the run goes on and completes."""
    cfg = StageConfig(stage="pnet")
    cfg.samples.workers = 1
    cfg.data.landmark_root = "landmarks"
    real = S._process

    def failing(sampler, args):
        if args[0] == 2:
            raise MemoryError("no room")
        return real(sampler, args)

    monkeypatch.setattr(S, "_process", failing)
    progress = S.generate(cfg, dataset, tmp_path / "samples", log=lambda *a: None)
    assert progress["complete"] and any("MemoryError: no room" in e for e in progress["errors"])
