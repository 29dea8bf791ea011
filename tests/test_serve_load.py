"""`openmtcnn serve` under load: 16 concurrent clients on loopback get only 200 or 503, and the
server's memory stays flat after warm-up. The default run takes a few seconds; the minute-long run is `slow`."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from conftest import REPO  # noqa: E402

CLIENTS = 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.fixture(scope="module")
def server():
    """`openmtcnn serve` as its own process (2 request threads, room for 4 waiting requests)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "openmtcnn", "serve", "--host", "127.0.0.1", "--port", str(port), "--threads", "2", "--queue", "4"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"openmtcnn serve did not start: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        time.sleep(0.2)
    yield url, proc.pid
    proc.terminate()
    proc.wait(20)


@pytest.fixture(scope="module")
def photo() -> bytes:
    """The sample photo at 600 x 400 (JPEG)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.open(REPO / "openmtcnn" / "assets" / "sample.jpg").resize((600, 400)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def load(url: str, pid: int, photo: bytes, seconds: float, warmup: float) -> tuple[Counter, float, float]:
    """CLIENTS threads posting ``photo`` until ``seconds`` have passed; status counts and the server's
    RSS (MB) after ``warmup`` seconds and at the end (each the median of a few samples)."""
    codes: Counter = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            while time.monotonic() < stop:
                try:
                    r = c.post("/v1/detect", content=photo, headers={"content-type": "image/jpeg"})
                    code = r.status_code
                    if code == 200:
                        assert len(r.json()["faces"]) > 0
                except httpx.TransportError as e:
                    code = type(e).__name__
                with lock:
                    codes[code] += 1
                if code == 503:
                    time.sleep(0.05)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()

    def sampled() -> float:
        s = []
        for _ in range(5):
            s.append(rss_mb(pid))
            time.sleep(0.1)
        return sorted(s)[2]

    time.sleep(warmup)
    after_warmup = sampled()
    for t in threads:
        t.join(seconds + 60)
    return codes, after_warmup, sampled()


def check(server, photo, seconds: float, warmup: float, max_growth_mb: float) -> None:
    url, pid = server
    codes, warm, end = load(url, pid, photo, seconds, warmup)
    print(f"\n{dict(codes)}; server RSS {warm:.1f} MB after warm-up, {end:.1f} MB at the end")
    assert set(codes) <= {200, 503}, codes
    assert codes[200] >= CLIENTS, codes
    assert end - warm < max_growth_mb, (warm, end)
    m = httpx.get(url + "/metrics").text
    assert 'openmtcnn_requests_total{route="/v1/detect",status="200"}' in m
    assert "openmtcnn_queue_waiting 0.0" in m


def test_load_short(server, photo):
    check(server, photo, seconds=8, warmup=3, max_growth_mb=40)


@pytest.mark.slow
def test_load_minute(server, photo):
    check(server, photo, seconds=60, warmup=15, max_growth_mb=20)
