"""ops.landmarks: the landmark head's offsets <-> image points."""

from __future__ import annotations

import numpy as np

from openmtcnn.ops import landmarks as L


def test_decode_hand_case():
    boxes = np.array([[10.0, 20.0, 30.0, 60.0]])  # 20 wide, 40 high
    offsets = np.array([[0.0, 0.0, 1.0, 1.0, 0.5, 0.25, 0.1, 0.9, -0.5, 1.5]])
    np.testing.assert_allclose(L.decode(boxes, offsets)[0], [[10, 20], [30, 60], [20, 30], [12, 56], [0, 80]])


def test_encode_inverts_decode():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 500, (50, 2))
    boxes = np.column_stack([xy, xy + rng.uniform(5, 200, (50, 2))])
    offsets = rng.uniform(-0.3, 1.3, (50, 10))
    points = L.decode(boxes, offsets)
    assert points.shape == (50, 5, 2)
    np.testing.assert_allclose(L.encode(boxes, points), offsets, atol=1e-9)
    np.testing.assert_allclose(L.decode(boxes, L.encode(boxes, points)), points, atol=1e-9)
