"""Pixel conventions of the annotation sets (openmtcnn/datasets/conventions.py), on hand-made values."""

import numpy as np
import pytest

from openmtcnn.datasets.conventions import FACENET_BOXES, OPENMTCNN, SUN_LANDMARKS, WIDER, PixelConvention
from openmtcnn.datasets.landmarks import read_landmark_list
from openmtcnn.datasets.wider import read_wider_gt


@pytest.mark.parametrize(
    "conv, point, box",
    [
        # 0-based centres: pixel 3's centre is 3 -> 3.5
        (PixelConvention(0, True, False), 3.5, (3.5, 2.5, 6.5, 5.5)),
        # 1-based centres (MATLAB's pixel grid): pixel 1's centre is 1 -> 0.5
        (PixelConvention(1, True, False), 2.5, (2.5, 1.5, 5.5, 4.5)),
        # 1-based whole pixels, right / bottom inclusive (facenet-pytorch, MATLAB): pixels 3..6 -> [2, 6)
        (PixelConvention(1, False, True), 2.0, (2.0, 1.0, 6.0, 5.0)),
        # 0-based whole pixels, inclusive: pixels 3..6 -> [3, 7)
        (PixelConvention(0, False, True), 3.0, (3.0, 2.0, 7.0, 6.0)),
    ],
)
def test_conversions_on_hand_made_values(conv, point, box):
    # `point`: where the file's number 3 lands; `box`: where the file's box 3 2 6 5 lands
    assert conv.points(np.array([[3.0, 3.0]]))[0, 0] == pytest.approx(point)
    np.testing.assert_allclose(conv.boxes(np.array([[3, 2, 6, 5]])), [box])


def test_named_sets():
    assert OPENMTCNN.shift == 0 and not OPENMTCNN.inclusive
    # WIDER boxes run from 0 to the image width (corners), the landmark list is 0-based corners
    assert WIDER == OPENMTCNN and SUN_LANDMARKS == OPENMTCNN
    # facenet-pytorch's 1-based inclusive boxes -> (x1 - 1, y1 - 1, x2, y2)
    np.testing.assert_allclose(FACENET_BOXES.boxes(np.array([[11.4, 21.0, 50.2, 60.0]])), [[10.4, 20.0, 50.2, 60.0]])


def test_readers_apply_their_convention(tmp_path, monkeypatch):
    lst = tmp_path / "list.txt"
    lst.write_text("a\\b.jpg 10 50 20 60 20 30 40 30 30 40 22 50 38 50\n")
    wider = tmp_path / "gt.txt"
    wider.write_text("e/x.jpg\n1\n4 5 10 12 0 0 0 0 0 0\n")
    face = read_landmark_list(lst)[0]
    np.testing.assert_allclose(face.box, [10, 20, 50, 60])
    np.testing.assert_allclose(face.points[0], [20, 30])
    np.testing.assert_allclose(read_wider_gt(wider)[0].boxes, [[4, 5, 14, 17]])
    # a reader converts with its set's convention: changing that convention moves what it returns
    import openmtcnn.datasets.landmarks as lm
    import openmtcnn.datasets.wider as wd

    monkeypatch.setattr(lm, "SUN_LANDMARKS", PixelConvention(0, True, True))
    monkeypatch.setattr(wd, "WIDER", PixelConvention(1, False, True))
    face = read_landmark_list(lst)[0]
    np.testing.assert_allclose(face.box, [10.5, 20.5, 51.5, 61.5])
    np.testing.assert_allclose(face.points[0], [20.5, 30.5])
    np.testing.assert_allclose(read_wider_gt(wider)[0].boxes, [[3, 4, 14, 17]])
