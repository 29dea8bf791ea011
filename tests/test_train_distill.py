"""Training additions of issue 21: a teacher's soft targets, landmark faces as positives, crops past the
border, photometric corruptions."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("yaml")

from test_train_synthetic import make_dataset  # noqa: E402

from openmtcnn.nets import create_net  # noqa: E402
from openmtcnn.nets.export import export_net  # noqa: E402
from openmtcnn.ops import boxes as B  # noqa: E402
from openmtcnn.ops.crops import crop_boxes  # noqa: E402
from openmtcnn.train import samples as S  # noqa: E402
from openmtcnn.train.config import ConfigError, StageConfig, validate  # noqa: E402
from openmtcnn.train.corrupt import corrupt  # noqa: E402
from openmtcnn.train.teacher import Teacher, distill_losses  # noqa: E402
from openmtcnn.train.trainer import KIND, face_targets, train_stage  # noqa: E402


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("synthetic"), n_images=6, n_landmark=8)


@pytest.fixture(scope="module")
def teacher_set(tmp_path_factory):
    """A weight-set folder with one exported R-Net (random weights, fixed seed), and that net."""
    torch.manual_seed(3)
    net = create_net("mtcnn", "rnet").eval()
    d = tmp_path_factory.mktemp("teacher")
    export_net(net, d / "rnet.onnx")
    return d, net


def test_teacher_outputs_are_the_exported_nets(teacher_set):
    d, net = teacher_set
    x = np.random.default_rng(0).uniform(-1, 1, (7, 3, 24, 24)).astype(np.float32)
    prob, box, lmk = Teacher(d, "rnet", 24)(x)
    with torch.no_grad():
        logits, tb, tl = net(torch.from_numpy(x))
    assert np.allclose(prob, torch.softmax(logits, 1)[:, 1].numpy(), atol=1e-5)
    assert np.allclose(box, tb.numpy(), atol=1e-5) and np.allclose(lmk, tl.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="24 px"):
        Teacher(d / "rnet.onnx", "onet", 48)
    with pytest.raises(FileNotFoundError, match="convert-weights"):
        Teacher(d, "onet", 48)


def test_distillation_losses_vanish_for_the_teacher_itself(teacher_set):
    d, net = teacher_set
    x = np.random.default_rng(1).uniform(-1, 1, (12, 3, 24, 24)).astype(np.float32)
    kinds = np.array([KIND["neg"], KIND["pos"], KIND["part"], KIND["landmark"]] * 3)
    target = Teacher(d, "rnet", 24)(x)
    with torch.no_grad():
        same = distill_losses(net(torch.from_numpy(x)), kinds, target, (KIND["pos"], KIND["part"]), (KIND["pos"],))
        torch.manual_seed(4)
        other = create_net("mtcnn", "rnet").eval()
        diff = distill_losses(other(torch.from_numpy(x)), kinds, target, (KIND["pos"], KIND["part"]), (KIND["pos"],))
    assert all(float(v) < 1e-6 for v in same)
    assert all(float(v) > 1e-4 for v in diff)
    # the box term reads positives and part faces only: changing the teacher's boxes elsewhere changes nothing
    moved = (target[0], target[1].copy(), target[2])
    moved[1][kinds == KIND["neg"]] += 5.0
    with torch.no_grad():
        again = distill_losses(other(torch.from_numpy(x)), kinds, moved, (KIND["pos"], KIND["part"]), (KIND["pos"],))
    assert float(again[1]) == pytest.approx(float(diff[1]))


def test_landmark_faces_become_positives_by_their_iou():
    crop = np.array([[0.0, 0.0, 100.0, 100.0]])
    faces = np.array([[0, 0, 100, 100], [10, 10, 100, 100], [30, 30, 100, 100]], float)  # IoU 1, 0.81, 0.49
    labels = np.zeros((3, 14), np.float32)
    labels[:, :4] = B.regression_targets(np.repeat(crop, 3, 0), faces)
    kinds = np.full(3, KIND["landmark"])
    assert np.isnan(face_targets(kinds, labels)).all()
    t = face_targets(kinds, labels, landmark_pos_iou=0.65)
    assert t[0] == 1 and t[1] == 1 and np.isnan(t[2])


def test_border_crops_keep_faces_cut_by_the_border():
    boxes = np.array([[0, 0, 10, 10], [-5, 0, 5, 10], [-2, 0, 8, 10], [-9, -9, 1, 1]])
    assert S._inside(boxes, 20, 20).tolist() == [True, False, False, False]
    assert S._inside(boxes, 20, 20, 0.3).tolist() == [True, False, True, False]
    image = np.full((20, 20, 3), 200, np.uint8)
    cut = crop_boxes(image, boxes[2:3], 10)[0]
    assert (cut[:, :2] == 0).all() and (cut[:, 2:] == 200).all()  # the outside is zero, as in the cascade


def test_border_crops_change_the_fingerprint_only_when_set():
    cfg = StageConfig(stage="onet")
    base = S.fingerprint(cfg, {})
    cfg.samples.border_crops = 0.3
    assert S.fingerprint(cfg, {}) != base


def test_corruptions():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    img = np.stack([(xx * 5) % 256, (yy * 5) % 256, ((xx + yy) * 3) % 256], -1).astype(np.uint8)
    batch = np.stack([img] * 6)
    assert corrupt(batch, rng) is batch
    assert np.array_equal(corrupt(batch, rng, blur=0.0, jpeg=0.0, grayscale=0.0), batch)
    gray = corrupt(batch, rng, grayscale=1.0)
    assert gray.dtype == np.uint8 and gray.shape == batch.shape
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    blurred = corrupt(batch, rng, blur=1.0)
    assert np.abs(np.diff(blurred.astype(int), axis=2)).mean() < np.abs(np.diff(batch.astype(int), axis=2)).mean()
    jpeg = corrupt(batch, rng, jpeg=1.0)
    err = np.abs(jpeg.astype(int) - batch.astype(int)).mean()
    assert 0 < err < 40  # lossy, but the same picture in the same channel order
    assert np.array_equal(batch[0], img)  # the input is left alone


def test_config_checks_the_new_options():
    cfg = StageConfig(stage="pnet")
    cfg.train.distill = {"det": 1.0, "boxes": 1.0}
    with pytest.raises(ConfigError, match="distill"):
        validate(cfg)
    cfg = StageConfig(stage="pnet")
    cfg.train.blur = 1.5
    with pytest.raises(ConfigError, match="blur"):
        validate(cfg)


def test_training_with_a_teacher_runs_and_logs_its_loss(dataset, tmp_path):
    cfg = StageConfig(stage="pnet")
    cfg.samples.workers = 1
    cfg.data.landmark_root = "landmarks"
    cfg.train.batch_size, cfg.train.epochs, cfg.train.steps_per_epoch = 32, 1, 4
    cfg.train.landmark_as_face = True
    cfg.train.blur = cfg.train.jpeg = cfg.train.grayscale = 0.3
    torch.manual_seed(5)
    export_net(create_net("mtcnn", "pnet").eval(), tmp_path / "pnet.onnx")
    cfg.train.teacher = str(tmp_path)
    quiet = lambda *a: None  # noqa: E731
    S.generate(cfg, dataset, tmp_path / "samples", log=quiet)
    summary = train_stage(cfg, tmp_path / "samples", tmp_path / "train", log=quiet)
    assert summary["epochs_run"] == 1 and summary["best"]["train_distill_loss"] > 0
