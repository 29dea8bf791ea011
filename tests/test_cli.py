"""`openmtcnn detect` end to end: JSON lines, drawings, crops, failures, exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openmtcnn import Detector, align
from openmtcnn.cli import main
from openmtcnn.draw import draw
from openmtcnn.imaging import load_image

SETTINGS = ["--thresholds", "0.3", "0.3", "0.3", "--min-face-size", "40", "--threads", "1"]


@pytest.fixture(scope="module")
def det(random_weights) -> Detector:
    return Detector(random_weights, thresholds=(0.3, 0.3, 0.3), min_face_size=40, threads=1)


def write_image(path: Path, rng: np.random.Generator, size=(72, 96)) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(img).save(path)
    return img


def detect(args: list[str], weights: Path, capsys) -> tuple[int, list[dict], str]:
    rc = main(["detect", "--weights", str(weights), *SETTINGS, *args])  # args last: they override
    out, err = capsys.readouterr()
    return rc, [json.loads(line) for line in out.splitlines()], err


def test_single_image(tmp_path, rng, random_weights, det, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_image(tmp_path / "one.png", rng)
    rc, lines, err = detect(["one.png"], random_weights, capsys)
    assert rc == 0
    assert lines == [det.detect("one.png").to_dict()]
    assert lines[0]["source"] == "one.png" and len(lines[0]["faces"]) > 0
    assert "img/s" not in err, "no progress bar for a single image"
    assert "1 image," in err and "0 failed" in err


@pytest.fixture()
def folder(tmp_path, rng) -> Path:
    """photos/: two images named a, one nested, a corrupt JPEG, a text file, a hidden file."""
    root = tmp_path / "photos"
    write_image(root / "a.png", rng)
    write_image(root / "a.jpg", rng)
    write_image(root / "nested" / "deeper" / "b.png", rng, size=(80, 64))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated rubbish")
    (root / "notes.txt").write_text("not an image")
    (root / ".thumb.jpg").write_bytes(b"junk")
    return root


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_folder_with_failures(folder, tmp_path, random_weights, det, capsys, monkeypatch, jobs):
    """One job (decoding thread) and two worker processes give the same lines, in input order."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "res" / "faces.jsonl"
    rc = main(
        ["detect", "photos", "--weights", str(random_weights), *SETTINGS, "--jobs", jobs,
         "--output", str(out), "--draw", "drawn", "--crops", "crops", "--crop-size", "48", "--crop-margin", "0.1"]
    )  # fmt: skip
    stdout, err = capsys.readouterr()
    assert rc == 1, "one input failed"
    assert stdout == ""
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["source"] for d in lines] == [
        "photos/a.jpg", "photos/a.png", "photos/broken.jpg", "photos/nested/deeper/b.png"
    ]  # fmt: skip
    assert set(lines[2]) == {"source", "error"} and "photos/broken.jpg" in lines[2]["error"]
    assert "photos/broken.jpg" in err and "notes.txt" not in stdout
    assert "3 images, " in err and "1 failed" in err and "ignored 1 non-image file" in err
    assert "img/s" not in err, "no progress bar when stderr is not a terminal"

    for rel in ["a.jpg", "a.png", "nested/deeper/b.png"]:
        src = f"photos/{rel}"
        res = det.detect(src)
        (line,) = [d for d in lines if d["source"] == src]
        assert line == res.to_dict()
        rgb = load_image(src)
        drawn = load_image(tmp_path / "drawn" / rel)
        assert drawn.shape == rgb.shape
        if rel.endswith(".png"):  # lossless: exactly the library's drawing
            np.testing.assert_array_equal(drawn, draw(rgb, res))
        stem = {"a.jpg": "a_jpg", "a.png": "a_png"}.get(rel, "nested/deeper/b")
        crops = sorted((tmp_path / "crops").glob(f"{stem}_*.png"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
        assert len(crops) == len(res) > 0
        expected = align(rgb, res.landmarks, size=48, margin=0.1)
        for c, e in zip(crops, expected):
            np.testing.assert_array_equal(load_image(c), e)
    assert not (tmp_path / "drawn" / "broken.jpg").exists()
    assert not list((tmp_path / "drawn").rglob(".thumb*"))


def test_same_names_in_different_folders_do_not_collide(tmp_path, rng, random_weights, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = write_image(tmp_path / "x" / "face.png", rng)
    b = write_image(tmp_path / "y" / "face.png", rng)
    rc, lines, _ = detect(["x/face.png", "y/face.png", "--draw", "out", "-q"], random_weights, capsys)
    assert rc == 0 and [d["source"] for d in lines] == ["x/face.png", "y/face.png"]
    assert not np.array_equal(a, b)
    assert load_image(tmp_path / "out" / "x" / "face.png").shape == a.shape
    assert load_image(tmp_path / "out" / "y" / "face.png").shape == b.shape


def test_settings_flags_reach_the_detector(tmp_path, rng, random_weights, capsys):
    p = tmp_path / "img.png"
    write_image(p, rng)
    rc = main(["detect", str(p), "--weights", str(random_weights), "--min-face-size", "36", "--scale-factor", "0.8",
               "--thresholds", "0.35", "0.3", "0.4"])  # fmt: skip
    (line,) = [json.loads(s) for s in capsys.readouterr().out.splitlines()]
    ref = Detector(random_weights, min_face_size=36, scale_factor=0.8, thresholds=(0.35, 0.3, 0.4)).detect(p)
    assert rc == 0 and line == ref.to_dict() and len(ref) > 0
    rc, (line,), _ = detect([str(p), "--thresholds", "0.99", "0.99", "0.99"], random_weights, capsys)
    assert rc == 0 and line["faces"] == []
    big = tmp_path / "big.png"
    write_image(big, rng, size=(150, 200))
    for mode in ("direct", "chained"):
        rc, (line,), _ = detect([str(big), "--pyramid", mode, "--min-face", "14"], random_weights, capsys)  # --min-face: alias
        ref = Detector(random_weights, pyramid=mode, min_face_size=14, thresholds=(0.3, 0.3, 0.3), threads=1).detect(big)
        assert rc == 0 and line == ref.to_dict()
    first_look = Detector(random_weights, min_face_size=14, thresholds=(0.3, 0.3, 0.3), landmark_passes=0, threads=1).detect(big)
    for flag in ("--landmark-passes", "--landmark-refine"):  # the old name stays as a deprecated alias
        rc, (line,), _ = detect([str(big), "--min-face", "14", flag, "0"], random_weights, capsys)
        assert rc == 0 and line == first_look.to_dict()


def test_missing_path_is_a_usage_error(tmp_path, rng, random_weights, capsys):
    write_image(tmp_path / "ok.png", rng)
    rc, lines, err = detect([str(tmp_path / "ok.png"), str(tmp_path / "nope.jpg")], random_weights, capsys)
    assert rc == 2 and lines == []
    assert "nope.jpg: no such file or folder" in err


def test_usage_errors(tmp_path, rng, random_weights, capsys):
    write_image(tmp_path / "ok.png", rng)
    ok = str(tmp_path / "ok.png")
    for args, msg in [
        ([], "give at least one PATH"),
        ([ok, "--every", "0"], "--every"),
        ([ok, "--threads", "0"], "--threads"),
        ([ok, "--crop-margin", "0.6"], "--crop-margin"),
        ([ok, "--scale-factor", "1.2"], "--scale-factor must be in (0, 1)"),
        ([ok, "--min-face-size", "0.5"], "--min-face-size must be >= 1"),
        ([ok, "--landmark-refine", "-1"], "--landmark-passes must be >= 0"),  # the deprecated alias, reported by the new name
        ([ok, "--max-pixels", "-1"], "--max-pixels must be >= 0"),
        ([ok, "--resume"], "--resume needs --output"),
    ]:
        rc = main(["detect", *args, "--weights", str(random_weights)])
        assert rc == 2, args
        assert msg in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["detect", ok, "--thresholds", "0.5"])
    assert e.value.code == 2


def test_missing_default_weights_message(tmp_path, rng, capsys, monkeypatch):
    import openmtcnn.weights as W

    monkeypatch.setattr(W, "BUNDLED_DIR", tmp_path / "no_bundled_weights")
    monkeypatch.delenv("OPENMTCNN_WEIGHTS", raising=False)
    write_image(tmp_path / "ok.png", rng)
    rc = main(["detect", str(tmp_path / "ok.png")])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert "trained weights are not in this installation" in err and "convert-weights" in err


def test_bad_weights_folder(tmp_path, rng, capsys):
    write_image(tmp_path / "ok.png", rng)
    (tmp_path / "w").mkdir()
    rc = main(["detect", str(tmp_path / "ok.png"), "--weights", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert rc == 2 and str(tmp_path / "w") in err and "pnet.onnx" in err


def test_quiet(tmp_path, rng, random_weights, capsys):
    for i in range(2):
        write_image(tmp_path / f"{i}.png", rng)
    rc, lines, err = detect([str(tmp_path), "-q"], random_weights, capsys)
    assert rc == 0 and len(lines) == 2 and err == ""


def test_console_entry_exit_status(tmp_path, rng, random_weights):
    """Through a real process: stdout carries only JSON, the status comes back from sys.exit."""
    write_image(tmp_path / "ok.png", rng)
    cmd = [sys.executable, "-m", "openmtcnn", "detect", "--weights", str(random_weights), *SETTINGS]
    ok = subprocess.run([*cmd, str(tmp_path / "ok.png")], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert len(json.loads(ok.stdout)["faces"]) > 0
    missing = subprocess.run([*cmd, str(tmp_path / "missing.png")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "missing.png" in missing.stderr and missing.stdout == ""


def test_detect_files_api_matches_detector(folder, random_weights, det):
    """The library's multi-process run over files: same results as the detector, errors per file."""
    from openmtcnn import detect_files

    paths = sorted(str(p) for p in folder.rglob("*") if p.suffix in (".png", ".jpg") and not p.name.startswith("."))
    got = list(detect_files(paths, random_weights, det.config, jobs=2, keep_images=True))
    assert [r.path for r in got] == paths
    for r in got:
        if r.path.endswith("broken.jpg"):
            assert r.result is None and r.rgb is None and "broken.jpg" in r.error
        else:
            assert r.error is None and r.result.to_dict() == det.detect(r.path).to_dict()
            np.testing.assert_array_equal(r.rgb, load_image(r.path))


def test_worker_setup_failure_stops_the_run(tmp_path, rng):
    from openmtcnn.detect.parallel import WorkerError, detect_files

    write_image(tmp_path / "a.png", rng)
    write_image(tmp_path / "b.png", rng)
    (tmp_path / "w").mkdir()
    for s in ("pnet", "rnet", "onet"):
        (tmp_path / "w" / f"{s}.onnx").write_bytes(b"not onnx")
    with pytest.raises(WorkerError, match="pnet.onnx"):
        list(detect_files([tmp_path / "a.png", tmp_path / "b.png"], tmp_path / "w", jobs=2))


def test_empty_folders_and_folders_without_images_fail(tmp_path, rng, random_weights, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("no image here")
    for folder, what in [("empty", "no images in this folder (looked for"), ("docs", "no images in this folder (1 other file,")]:
        rc, lines, err = detect([str(tmp_path / folder)], random_weights, capsys)
        assert rc == 1 and lines == [{"source": str(tmp_path / folder), "error": lines[0]["error"]}], lines
        assert what in lines[0]["error"] and str(tmp_path / folder) in err
    write_image(tmp_path / "ok.png", rng)
    rc, lines, _ = detect([str(tmp_path / "empty"), str(tmp_path / "ok.png")], random_weights, capsys)
    assert rc == 1 and [("error" in d) for d in lines] == [True, False], "the other inputs are still done"


@pytest.mark.parametrize("flag", ["--draw", "--crops"])
def test_output_folder_that_is_a_file_is_a_usage_error(tmp_path, rng, random_weights, capsys, flag, monkeypatch):
    import openmtcnn.io.runner as runner

    write_image(tmp_path / "ok.png", rng)
    (tmp_path / "taken").write_text("a file")
    monkeypatch.setattr(runner.DetectRun, "run", lambda *a: pytest.fail("detection started"))
    rc, lines, err = detect([str(tmp_path / "ok.png"), flag, str(tmp_path / "taken")], random_weights, capsys)
    assert rc == 2 and lines == [] and f"{flag} {tmp_path / 'taken'}: is a file, not a folder" in err


def test_output_that_is_a_folder_is_a_usage_error(tmp_path, rng, random_weights, capsys):
    write_image(tmp_path / "ok.png", rng)
    rc, _, err = detect([str(tmp_path / "ok.png"), "--output", str(tmp_path)], random_weights, capsys)
    assert rc == 2 and "is a folder" in err


def test_max_pixels_flag(tmp_path, rng, random_weights, capsys):
    write_image(tmp_path / "big.png", rng, size=(200, 300))
    write_image(tmp_path / "small.png", rng, size=(50, 60))
    rc, lines, err = detect([str(tmp_path), "--max-pixels", "0.01"], random_weights, capsys)  # 10000 pixels
    assert rc == 1 and "error" in lines[0] and "faces" in lines[1]
    assert "big.png: 300 x 200 = 0.1 megapixels, over the limit of 0.0" in lines[0]["error"] and "--max-pixels" in lines[0]["error"]
    rc, lines, _ = detect([str(tmp_path), "--max-pixels", "0"], random_weights, capsys)  # no limit
    assert rc == 0 and all("faces" in d for d in lines)


def test_original_weights_before_conversion_say_how(tmp_path, rng, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_image(tmp_path / "ok.png", rng)
    for name in ("original", "weights/original"):
        rc = main(["detect", "ok.png", "--weights", name])
        err = capsys.readouterr().err
        assert rc == 2 and "openmtcnn convert-weights --out weights/original" in err and "Traceback" not in err


def test_progress_bar_only_on_a_terminal_without_the_json(monkeypatch):
    from openmtcnn.cli.detect import show_progress

    for out_tty, err_tty, want in [(False, True, True), (True, True, False), (False, False, False), (True, False, False)]:
        monkeypatch.setattr(sys.stdout, "isatty", lambda v=out_tty: v, raising=False)
        monkeypatch.setattr(sys.stderr, "isatty", lambda v=err_tty: v, raising=False)
        assert show_progress(False) is want
        assert show_progress(True) is False


@pytest.mark.parametrize(
    "argv,module,extra",
    [
        (["export", "--state-dict-dir", "x", "--out", "y"], "torch", "train"),
        (["train", "pnet", "--data", "."], "torch", "train"),
        (["evaluate", "widerface", "--pred", "p", "--gt", "g"], "scipy", "eval"),
        (["serve"], "uvicorn", "serve"),
        (["batch", "x", "out"], "pyarrow", "batch"),
    ],
)
def test_missing_extra_is_one_line_and_status_2(argv, module, extra, capsys, monkeypatch, tmp_path):
    """As without the extra installed: importing it fails (a None entry in sys.modules does that)."""
    monkeypatch.chdir(tmp_path)
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)
    for name in [m for m in sys.modules if m.startswith(("openmtcnn.nets", "openmtcnn.train", "openmtcnn.evaluate", "openmtcnn.compat"))]:
        monkeypatch.delitem(sys.modules, name)  # re-imported, meeting the missing module
    (tmp_path / "x").mkdir()
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.strip().splitlines() == [f"openmtcnn {argv[0]}: needs {module}, not installed: pip install 'openmtcnn[{extra}]'"]


def test_broken_videos_leave_no_backend_noise(tmp_path, rng, random_weights):
    """A corrupt video is reported once by openmtcnn, without FFmpeg's or OpenCV's own warnings."""
    (tmp_path / "random.mp4").write_bytes(rng.bytes(5000))
    (tmp_path / "empty.avi").write_bytes(b"")
    cmd = [sys.executable, "-m", "openmtcnn", "detect", "--weights", str(random_weights), *SETTINGS,
           str(tmp_path / "random.mp4"), str(tmp_path / "empty.avi")]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    err = done.stderr.splitlines()
    assert len(err) == 3 and all(s.startswith("openmtcnn detect: ") for s in err), err
    assert "random.mp4: cannot open as a video" in err[0] and "empty.avi" in err[1]
