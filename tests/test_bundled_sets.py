"""The bundled weight sets as a user loads them by name (ONNX Runtime only; no torch)."""

from pathlib import Path

import numpy as np

from openmtcnn import Detector
from openmtcnn.imaging import load_image
from openmtcnn.ops.boxes import box_iou
from openmtcnn.weights import bundled_sets, read_manifest, resolve_weights

PHOTOS = Path(__file__).resolve().parent / "fixtures" / "images"


def test_the_shipped_depthwise_set_loads_by_name_with_its_settings():
    d = resolve_weights("mtcnn-dw")
    m = read_manifest(d)
    assert "mtcnn-dw" in bundled_sets() and {n["conv"] for n in m["nets"].values()} == {"dwsep"}
    assert m["variant"] == "mtcnn-dw-bn"  # trained with batch norm, folded into the convolutions of the files
    det = Detector(weights="mtcnn-dw")
    assert det.config.pnet_scale == m["cascade"]["pnet_scale"] < 1  # the first pyramid level chosen for the set
    assert Detector(weights="mtcnn-dw", pnet_scale=1.0).config.pnet_scale == 1.0  # a caller's value wins
    assert Detector().config.pnet_scale == 1.0  # the default keeps the original cascade


def test_the_shipped_depthwise_set_finds_the_faces_the_default_finds():
    """On the fixture photos, most faces the default is sure of (p >= 0.95) are found by `mtcnn-dw` too (IoU >= 0.5),
    with their five points within a tenth of the face's width of the default's."""
    ref, dw = Detector(), Detector(weights="mtcnn-dw")
    matched = total = 0
    for name in ("situation_room_1024.jpg", "collage_portrait.jpg", "collage_garden.jpg"):
        img = load_image(PHOTOS / name)
        a, b = ref.detect(img), dw.detect(img)
        sure = a.scores >= 0.95
        if not sure.any() or len(b) == 0:
            total += int(sure.sum())
            continue
        iou = box_iou(a.boxes[sure], b.boxes)
        best = iou.argmax(axis=1)
        hit = iou[np.arange(len(best)), best] >= 0.5
        matched, total = matched + int(hit.sum()), total + int(sure.sum())
        width = (a.boxes[sure][hit, 2] - a.boxes[sure][hit, 0])[:, None]
        err = np.linalg.norm(a.landmarks[sure][hit] - b.landmarks[best[hit]], axis=2) / width
        assert np.median(err) < 0.1, name
    assert total >= 10 and matched >= 0.8 * total, (matched, total)
