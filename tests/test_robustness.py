"""Broken and awkward inputs (tests/broken_corpus.py): every file answered exactly once, by the
library, the command line and the HTTP service, decodable ones with results, the rest with an error naming the
file and no traceback; one Detector shared by threads; decoding never raises anything but ImageError."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from broken_corpus import expected_readable, make_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openmtcnn import Detector, ImageError, detect_files
from openmtcnn.cli import main
from openmtcnn.imaging import load_image

SETTINGS = ["--threads", "1"]  # default settings: the files matter here, not the faces


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[Path]:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def check_answers(paths: list[Path], answers: dict[str, str | None]) -> None:
    """``answers``: path -> None (a result) or the error; each path once, errors naming their file."""
    assert sorted(answers) == sorted(str(p) for p in paths)
    for p in paths:
        err, want = answers[str(p)], expected_readable(p)
        if want is not None:
            assert (err is None) == want, (p.name, err)
        if err is not None:
            assert str(p) in err and "Traceback" not in err, err


def test_corpus_through_the_library(corpus, random_weights):
    got = list(detect_files(corpus, random_weights, jobs=2, ordered=False))
    assert len(got) == len(corpus)
    answers = {r.path: r.error for r in got}
    check_answers(corpus, answers)
    assert all((r.result is None) == (r.error is not None) for r in got)


def test_corpus_through_the_command_line(corpus, random_weights, tmp_path, capsys):
    out = tmp_path / "faces.jsonl"
    rc = main(["detect", str(corpus[0].parent), "--weights", str(random_weights), *SETTINGS, "--jobs", "2", "--output", str(out)])
    err = capsys.readouterr().err
    assert rc == 1, "some inputs failed"
    lines = [json.loads(s) for s in out.read_text().splitlines()]
    assert len(lines) == len(corpus), "one line per file, no more"
    check_answers(corpus, {d["source"]: d.get("error") for d in lines})
    assert "Traceback" not in err
    failed = sum("error" in d for d in lines)
    assert all(s.startswith("openmtcnn detect: ") for s in err.splitlines()), err[:2000]
    assert f"{failed} failed" in err and len(err.splitlines()) == failed + 1


def test_corpus_through_the_service(corpus, random_weights):
    """Each file posted once: a result (200) where the library decodes it, else a 4xx JSON error
    naming it (413 for the bomb); never a 5xx. Then all of them again through the batch endpoint."""
    pytest.importorskip("fastapi")
    import httpx
    from serving import live_server

    from openmtcnn.serve import Settings, create_app

    settings_ = Settings(threads=2, queue=64, max_files=16)
    limit = settings_.config.max_pixels

    def readable(p: Path) -> bool:
        try:
            load_image(p, limit)
        except ImageError:
            return False
        return True

    want = {p.name: readable(p) for p in corpus}
    with Detector(random_weights, threads=1) as det, live_server(create_app(settings_, det)) as url, httpx.Client(base_url=url, timeout=60) as c:
        answers = {}
        for p in corpus:
            r = c.post("/v1/detect", files={"file": (p.name, p.read_bytes(), "application/octet-stream")})
            assert r.status_code < 500 and r.headers["content-type"].startswith("application/json"), (p.name, r.status_code, r.text)
            assert p.name not in answers
            answers[p.name] = (r.status_code, r.json())
        batch = []
        for i in range(0, len(corpus), 16):
            part = corpus[i : i + 16]
            r = c.post("/v1/detect/batch", files=[("file", (p.name, p.read_bytes(), "application/octet-stream")) for p in part])
            assert r.status_code == 200, r.text
            batch += r.json()["results"]
    assert sorted(answers) == sorted(want)
    for name, (status, body) in answers.items():
        if want[name]:
            assert status == 200 and "faces" in body, (name, status, body)
        else:
            assert status == (413 if name.startswith("bomb_") else 400), (name, status, body)
            assert set(body) == {"error"} and name in body["error"] and "Traceback" not in body["error"], body
        assert expected_readable(name) in (None, want[name]), name
    assert len(batch) == len(corpus), "one answer per file"
    for p, b in zip(corpus, batch):  # in order, each as the single endpoint answered it
        status, single = answers[p.name]
        if want[p.name]:
            assert b == single, p.name
        else:
            assert (b["status"], b["error"]) == (status, single["error"]), (p.name, b)


def test_one_detector_shared_by_eight_threads(random_weights, rng):
    images = [rng.integers(0, 256, (int(rng.integers(40, 90)), int(rng.integers(40, 90)), 3), dtype=np.uint8) for _ in range(8)]
    for threads in (1, 2):  # the detector's own pool too
        det = Detector(random_weights, thresholds=(0.4, 0.4, 0.4), min_face_size=20, threads=threads)
        serial = [det.detect(im).to_dict() for im in images]
        assert sum(len(d["faces"]) for d in serial) > 0
        with ThreadPoolExecutor(8) as pool:
            shared = list(pool.map(lambda im: det.detect(im).to_dict(), images * 3))
        assert shared == serial * 3


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.sampled_from([".jpg", ".png", ".gif", ".bmp", ".webp", ".tiff", ".ppm"]))
def test_random_bytes_give_an_image_error_and_nothing_else(tmp_path, data, suffix):
    p = tmp_path / f"x{suffix}"
    p.write_bytes(data)
    try:
        rgb = load_image(p)
    except ImageError as e:
        assert str(p) in str(e)
    else:  # a few bytes can be a valid image (e.g. "P1 1 1 0"): then a proper one
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.size > 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_images_give_an_image_error_or_an_image(corpus, tmp_path, data):
    """Valid files cut short or with bytes changed anywhere (headers included)."""
    src = data.draw(st.sampled_from([p for p in corpus if p.name.startswith("mode_")]))
    raw = bytearray(src.read_bytes())
    cut = data.draw(st.integers(1, len(raw)))
    for _ in range(data.draw(st.integers(0, 6))):
        k = data.draw(st.integers(0, cut - 1))
        raw[k] = data.draw(st.integers(0, 255))
    p = tmp_path / ("damaged" + src.suffix)
    p.write_bytes(bytes(raw[:cut]))
    try:
        rgb = load_image(p)
    except ImageError as e:
        assert str(p) in str(e)
    else:
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
