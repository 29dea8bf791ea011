"""Videos: detect_video over a small MJPEG file the test writes, the prefetch thread, and the CLI on videos."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from openmtcnn import Detector, ImageError
from openmtcnn.cli import main
from openmtcnn.video import VideoError, detect_video, prefetch

FPS, N_FRAMES, H, W = 10.0, 9, 72, 96
SETTINGS = ["--thresholds", "0.3", "0.3", "0.3", "--min-face-size", "40", "--threads", "1"]


@pytest.fixture(scope="module")
def det(random_weights) -> Detector:
    return Detector(random_weights, thresholds=(0.3, 0.3, 0.3), min_face_size=40, threads=1)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 9-frame 96x72 MJPEG .avi at 10 fps; each frame different."""
    p = tmp_path_factory.mktemp("video") / "clip.avi"
    rng = np.random.default_rng(3)
    w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    assert w.isOpened(), "this OpenCV build cannot write MJPEG .avi"
    for _ in range(N_FRAMES):
        w.write(rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
    w.release()
    return p


def decoded_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def test_detect_video_every_frame(det, clip):
    frames = decoded_frames(clip)
    assert len(frames) == N_FRAMES
    out = list(detect_video(det, clip))
    assert [f.index for f in out] == list(range(N_FRAMES))
    np.testing.assert_allclose([f.time for f in out], np.arange(N_FRAMES) / FPS, atol=1e-3)
    for f, rgb in zip(out, frames):
        np.testing.assert_array_equal(f.frame, rgb)
        ref = det.detect(rgb)
        np.testing.assert_allclose(f.result.boxes, ref.boxes, atol=1e-3)
        np.testing.assert_allclose(f.result.scores, ref.scores, atol=1e-5)
        assert f.result.source == str(clip)
    assert sum(len(f.result) for f in out) > 0
    d = out[1].to_dict()
    assert list(d)[:3] == ["source", "frame", "time"] and d["frame"] == 1 and d["time"] == pytest.approx(0.1)
    assert d["faces"] == out[1].result.to_dict()["faces"]


def test_detect_video_every_and_max_frames(det, clip):
    frames = decoded_frames(clip)
    out = list(detect_video(det, str(clip), every=3))
    assert [f.index for f in out] == [0, 3, 6]
    for f in out:
        np.testing.assert_array_equal(f.frame, frames[f.index])
        assert f.time == pytest.approx(f.index / FPS, abs=1e-3)
    assert [f.index for f in detect_video(det, clip, every=2, max_frames=2)] == [0, 2]
    with pytest.raises(ValueError, match="every"):
        next(detect_video(det, clip, every=0))


def test_detect_video_on_open_capture_is_left_open(det, clip):
    cap = cv2.VideoCapture(str(clip))
    out = list(detect_video(det, cap, max_frames=2, name="mine"))
    assert [f.result.source for f in out] == ["mine", "mine"]
    assert cap.isOpened()
    ok, _ = cap.read()  # the third frame is still there for the caller
    assert ok
    cap.release()


class FakeCapture:
    """Frames with chosen timestamps (ms, or None for a capture that gives none) and fps."""

    def __init__(self, stamps: list[float | None], fps: float):
        self.stamps, self.fps, self.i = stamps, fps, -1

    def grab(self) -> bool:
        self.i += 1
        return self.i < len(self.stamps)

    def read(self):
        ok = self.grab()
        return ok, (np.full((4, 4, 3), self.i, np.uint8) if ok else None)

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_POS_MSEC:
            s = self.stamps[self.i]
            return 0.0 if s is None else s
        return {cv2.CAP_PROP_FPS: self.fps, cv2.CAP_PROP_FRAME_COUNT: len(self.stamps)}.get(prop, 0.0)


def test_frame_times():
    from openmtcnn.video import read_frames

    def times(stamps, fps, every=1, live=False):
        return [(i, round(t, 3)) for i, t, _ in read_frames(FakeCapture(stamps, fps), every, live=live)]

    # timestamps that start anywhere (cameras: since boot) count from the first frame
    assert times([5000.0, 5040.0, 5080.0, 5120.0], 25, every=2) == [(0, 0.0), (2, 0.08)]
    # no timestamps: index / fps for files, the clock (about 0 here) for live sources
    assert times([None] * 4, 20) == [(0, 0.0), (1, 0.05), (2, 0.1), (3, 0.15)]
    assert all(t < 0.5 for _, t in times([None] * 4, 20, live=True))
    frames = [f for _, _, f in read_frames(FakeCapture([None] * 5, 10), every=2)]
    assert [int(f[0, 0, 0]) for f in frames] == [0, 2, 4]  # the frames themselves, not neighbours


def test_video_errors_name_the_source(det, tmp_path):
    with pytest.raises(VideoError, match="nothere.mp4: no such file"):
        next(detect_video(det, tmp_path / "nothere.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"definitely not a video" * 10)
    with pytest.raises(ImageError, match="junk.mp4"):  # VideoError is an ImageError
        next(detect_video(det, junk))


def test_prefetch_keeps_order_and_reraises():
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))

    def failing():
        yield 1
        yield 2
        raise RuntimeError("decode failed")

    got = []
    with pytest.raises(RuntimeError, match="decode failed"):
        for x in prefetch(failing()):
            got.append(x)
    assert got == [1, 2]


def test_prefetch_runs_ahead_and_stops_when_abandoned():
    produced = []

    def slow_source():
        for i in range(1000):
            produced.append(i)
            yield i

    it = prefetch(slow_source(), depth=2)
    assert next(it) == 0
    deadline = time.monotonic() + 2
    while len(produced) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(produced) >= 3, "the thread reads ahead while the consumer works"
    it.close()
    time.sleep(0.3)
    n = len(produced)
    time.sleep(0.2)
    assert len(produced) == n < 1000, "the thread stops once the consumer has gone"
    assert not any(t.name == "openmtcnn-prefetch" for t in threading.enumerate())


def test_cli_video(clip, tmp_path, random_weights, det, capsys):
    rc = main(["detect", "--weights", str(random_weights), *SETTINGS, str(clip), "--every", "2",
               "--draw", str(tmp_path / "drawn"), "--crops", str(tmp_path / "crops")])  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 0, err
    lines = [json.loads(s) for s in out.splitlines()]
    assert [d["frame"] for d in lines] == [0, 2, 4, 6, 8]
    assert all(d["source"] == str(clip) for d in lines)
    frames = decoded_frames(clip)
    for d in lines:
        ref = det.detect(frames[d["frame"]])
        assert d["faces"] == ref.to_dict()["faces"]
        assert d["time"] == pytest.approx(d["frame"] / FPS, abs=1e-3)
        assert len(list((tmp_path / "crops" / "clip.avi").glob(f"{d['frame']:06d}_*.png"))) == len(ref)
    drawn = decoded_frames(tmp_path / "drawn" / "clip.avi")
    assert len(drawn) == len(lines) and drawn[0].shape == (H, W, 3)
    assert "5 video frames" in err


def test_cli_video_failure_and_stream_url(clip, tmp_path, random_weights, capsys):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 500)
    url = f"file://{clip}"
    rc = main(["detect", "--weights", str(random_weights), *SETTINGS, str(junk), url, "--max-frames", "2"])
    out, err = capsys.readouterr()
    lines = [json.loads(s) for s in out.splitlines()]
    assert rc == 1
    assert lines[0]["source"] == str(junk) and "junk.mp4" in lines[0]["error"] and "junk.mp4" in err
    assert [(d["source"], d["frame"]) for d in lines[1:]] == [(url, 0), (url, 1)]
