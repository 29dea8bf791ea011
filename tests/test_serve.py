"""`openmtcnn serve`: the HTTP API against a live server on loopback, with good and bad input."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import struct
import threading
import zlib

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from openmtcnn import Detector, align  # noqa: E402
from openmtcnn.imaging import load_image  # noqa: E402
from openmtcnn.serve import Settings, create_app  # noqa: E402
from openmtcnn.serve.settings import SERVE_CONFIG  # noqa: E402
from openmtcnn.serve.queue import ServerFull, WorkQueue  # noqa: E402
from serving import live_server  # noqa: E402

from conftest import REPO  # noqa: E402

SAMPLE = REPO / "openmtcnn" / "assets" / "sample.jpg"
MAX_BODY = 2 * 2**20


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(threads=1)


@pytest.fixture(scope="module")
def server(detector):
    app = create_app(Settings(config=SERVE_CONFIG.with_overrides(max_pixels=4_000_000), threads=2, queue=8, max_body=MAX_BODY, max_files=4), detector)
    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def sample() -> bytes:
    return SAMPLE.read_bytes()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """A well-formed PNG claiming ``width x height`` pixels, with no pixel data (an empty IDAT)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"") + png_chunk(b"IEND", b"")


def assert_error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and body["error"], body
    return body["error"]


def test_detect_raw_body_agrees_with_detector(client, sample, detector):
    r = client.post("/v1/detect", content=sample, headers={"content-type": "image/jpeg"})
    assert r.status_code == 200, r.text
    want = detector.detect(str(SAMPLE)).to_dict()
    del want["source"]  # a raw body has no name
    assert r.json() == want
    assert len(want["faces"]) > 0


def test_detect_multipart_settings_and_crops(client, sample, detector):
    q = {"min_face_size": 40, "pnet_threshold": 0.7, "rnet_threshold": 0.8, "onet_threshold": 0.9, "landmark_passes": 0,
         "crops": "true", "crop_size": 64}
    r = client.post("/v1/detect", params=q, files={"file": ("group.jpg", sample, "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    res = detector.detect_rgb(load_image(SAMPLE), source="group.jpg",
                              config=detector.config.with_overrides(min_face_size=40, thresholds=(0.7, 0.8, 0.9), landmark_passes=0))
    assert {k: v for k, v in body.items() if k != "faces"} == {"source": "group.jpg", "width": 1200, "height": 800}
    assert [{k: v for k, v in f.items() if k != "crop"} for f in body["faces"]] == res.to_dict()["faces"]
    crops = align(load_image(SAMPLE), res.landmarks, size=64)
    from PIL import Image

    for face, want in zip(body["faces"], crops):
        got = np.asarray(Image.open(io.BytesIO(base64.b64decode(face["crop"]))))
        assert got.shape == (64, 64, 3) and np.array_equal(got, want)


def test_batch_in_order_with_errors(client, sample):
    files = [("file", ("a.jpg", sample, "image/jpeg")), ("file", ("notes.txt", b"not an image", "text/plain")),
             ("file", ("big.png", png_header(5000, 5000), "image/png")), ("file", ("b.jpg", sample, "image/jpeg"))]
    r = client.post("/v1/detect/batch", files=files)
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["source"] for x in res] == ["a.jpg", "notes.txt", "big.png", "b.jpg"]
    assert len(res[0]["faces"]) > 0 and res[0]["faces"] == res[3]["faces"]
    assert res[1]["status"] == 400 and "notes.txt" in res[1]["error"]
    assert res[2]["status"] == 413 and "5000 x 5000" in res[2]["error"]


def test_batch_limits(client, sample):
    assert_error(client.post("/v1/detect/batch", files=[("file", (f"{i}.jpg", b"x")) for i in range(5)]), 400)
    assert_error(client.post("/v1/detect/batch", content=sample, headers={"content-type": "image/jpeg"}), 415)
    assert_error(client.post("/v1/detect/batch", files={"other": ("a.jpg", sample)}), 422)


TRUNCATED = SAMPLE.read_bytes()[:5000]
BROKEN = {
    "empty": b"",
    "truncated jpeg": TRUNCATED,
    "jpeg header only": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "random bytes": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
    "text": b"hello, I am not a picture\n" * 20,
    "png without pixels": png_header(64, 64),
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
}


@pytest.mark.parametrize("name", sorted(BROKEN))
@pytest.mark.parametrize("how", ["raw", "multipart"])
def test_broken_bodies_are_4xx_json(client, name, how):
    data = BROKEN[name]
    if how == "raw":
        r = client.post("/v1/detect", content=data, headers={"content-type": "image/jpeg"})
    else:
        r = client.post("/v1/detect", files={"file": ("broken.jpg", data, "image/jpeg")})
    msg = assert_error(r, 400)
    assert ("broken.jpg" if how == "multipart" else "request body") in msg


def test_huge_dimensions_are_413(client):
    msg = assert_error(client.post("/v1/detect", content=png_header(100_000, 100_000), headers={"content-type": "image/png"}), 413)
    assert "10000.0 megapixels, over the limit" in msg  # PIL's own guard refuses it from the header


def test_wrong_content_type_is_415(client, sample):
    assert_error(client.post("/v1/detect", content=sample, headers={"content-type": "application/octet-stream"}), 415)
    assert_error(client.post("/v1/detect", content=b'{"a": 1}', headers={"content-type": "application/json"}), 415)
    assert_error(client.post("/v1/detect", content=sample), 415)


@pytest.mark.parametrize("query", [
    "min_face_size=3", "min_face_size=abc", "scale_factor=0.99", "pnet_threshold=1.5", "onet_threshold=-0.1",
    "pyramid=sideways", "landmark_passes=9", "crop_size=4", "crop_margin=0.5", "unknown=1",
])
def test_bad_parameters_are_422(client, sample, query):
    msg = assert_error(client.post(f"/v1/detect?{query}", content=sample, headers={"content-type": "image/jpeg"}), 422)
    assert query.split("=")[0] in msg


def test_body_over_limit_with_length_is_refused_before_reading(server):
    """A declared Content-Length over the limit: 413 comes back while the client has sent only the headers."""
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode())
        # Nothing of the body is sent: a server that waited for it would time out here. Bytes sent and left
        # unread would make the server's close a reset, which can discard its answer before we read it.
        answer = b""
        while chunk := s.recv(65536):  # the server closes the connection after its answer
            answer += chunk
        answer = answer.decode(errors="replace")
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413"), head
    assert "too large" in json.loads(body)["error"]


def test_chunked_body_over_limit_is_413(client):
    sent = 0

    def chunks():
        nonlocal sent
        for _ in range(64):  # up to 4 MiB, twice the limit
            sent += 65536
            yield b"\0" * 65536

    r = client.post("/v1/detect", content=chunks(), headers={"content-type": "image/jpeg"})
    assert "too large" in assert_error(r, 413)


def test_healthz_metrics_docs(client, sample):
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["threads"] == 2 and h["queue_limit"] == 8 and h["config"]["min_face_size"] == 20
    assert (h["config"]["crop_method"], h["config"]["pnet_scale"]) == ("area", 1.0)  # the weight set's cascade settings filled in
    client.post("/v1/detect", content=sample, headers={"content-type": "image/jpeg"})
    client.post("/v1/detect?min_face_size=1", content=sample, headers={"content-type": "image/jpeg"})
    text = client.get("/metrics").text
    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line and not line.startswith("#")}
    assert lines['openmtcnn_requests_total{route="/v1/detect",status="200"}'] >= 1
    assert lines['openmtcnn_requests_total{route="/v1/detect",status="422"}'] >= 1
    assert lines['openmtcnn_request_seconds_count{route="/v1/detect"}'] >= 2
    assert lines["openmtcnn_faces_total"] >= 1 and "openmtcnn_queue_waiting" in lines
    spec = client.get("/openapi.json").json()
    assert {"/v1/detect", "/v1/detect/batch", "/healthz", "/metrics"} <= set(spec["paths"])
    params = {p["name"] for p in spec["paths"]["/v1/detect"]["post"]["parameters"]}
    assert {"min_face_size", "pnet_threshold", "crops"} <= params
    assert client.get("/docs").status_code == 200
    assert_error(client.get("/nowhere"), 404)
    assert_error(client.get("/v1/detect"), 405)


def test_index_and_static(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html") and "app.js" in page.text
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "v1/detect" in js.text


def test_work_queue_refuses_when_full():
    """Two threads busy and one request waiting: the next is refused with a Retry-After, then all finish."""

    async def scenario():
        release = threading.Event()
        seen = []
        q = WorkQueue(2, 1, on_change=lambda w, r: seen.append((w, r)))
        tasks = [asyncio.ensure_future(q.run(release.wait, 10)) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert (q.running, q.waiting) == (2, 1)
        with pytest.raises(ServerFull) as e:
            await q.run(release.wait, 10)
        assert e.value.retry_after >= 1
        release.set()
        assert await asyncio.gather(*tasks) == [True] * 3
        await asyncio.sleep(0.05)
        assert q.admitted == 0 and seen[-1] == (0, 0) and (0, 2) in seen and (1, 2) in seen
        q.close()

    asyncio.run(scenario())


def test_server_answers_503_when_full(detector, sample):
    """With one thread and no waiting room, concurrent requests get 200 or 503 (with Retry-After), never anything else."""
    app = create_app(Settings(threads=1, queue=0), detector)
    with live_server(app) as url:

        async def burst():
            async with httpx.AsyncClient(base_url=url, timeout=60) as c:
                return await asyncio.gather(*[c.post("/v1/detect", content=sample, headers={"content-type": "image/jpeg"}) for _ in range(6)])

        answers = asyncio.run(burst())
    codes = sorted(r.status_code for r in answers)
    assert set(codes) <= {200, 503} and 200 in codes and 503 in codes, codes
    busy = next(r for r in answers if r.status_code == 503)
    assert int(busy.headers["retry-after"]) >= 1 and "busy" in busy.json()["error"]


def test_cli_usage_errors_and_settings_round_trip(capsys):
    from openmtcnn.cli import main

    assert main(["serve", "--workers", "0"]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err
    assert main(["serve", "--weights", "no/such/folder"]) == 2
    assert main(["serve", "--thresholds", "0.5", "2", "0.5"]) == 2
    s = Settings(weights="x", config=Settings().config.with_overrides(min_face_size=33, thresholds=(0.1, 0.2, 0.3)), threads=3, queue=5)
    assert Settings.from_json(s.to_json()) == s
