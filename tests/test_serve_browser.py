"""The web page in a real browser: Playwright drives headless Chromium (Debian's `chromium` package)
against a live server; it uploads the bundled sample and checks that the faces are drawn and listed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from conftest import REPO  # noqa: E402

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("OPENMTCNN_CHROMIUM", "/usr/bin/chromium")
SAMPLE = REPO / "openmtcnn" / "assets" / "sample.jpg"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run installs Debian's chromium package")
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set OPENMTCNN_CHROMIUM) to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server():
    from openmtcnn import Detector
    from openmtcnn.serve import Settings, create_app
    from serving import live_server

    with live_server(create_app(Settings(threads=2), Detector(threads=1))) as url:
        yield url


def test_upload_sample_draws_and_lists_faces(browser, server, tmp_path):
    from openmtcnn import Detector

    want = Detector(threads=1).detect(str(SAMPLE))
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/")
    assert page.title() == "openmtcnn"
    page.wait_for_function("document.getElementById('min_face_size').value === '20'")  # defaults from the server
    page.set_input_files("#file", str(SAMPLE))
    page.wait_for_function("Number(document.getElementById('canvas').dataset.facesDrawn) > 0", timeout=60_000)

    items = page.locator("#faces li")
    assert items.count() == len(want) == int(page.locator("#canvas").get_attribute("data-faces-drawn"))
    assert f"score {want.scores[0]:.3f}" in items.first.inner_text()
    assert page.locator("#faces li img").count() == len(want)  # aligned crops shown
    assert page.locator("#faces li a[download]").first.get_attribute("download") == "sample_1.png"
    assert f"{len(want)} faces in sample.jpg" in page.locator("#status").inner_text()

    # the first face's box is drawn: its top edge has the first box colour (#e53935), not the photo's pixels
    x1, y1, x2, _ = (float(v) for v in want.boxes[0])
    pixel = page.evaluate(
        "([x, y]) => Array.from(document.getElementById('canvas').getContext('2d').getImageData(x, y, 1, 1).data)",
        [int((x1 + x2) / 2), int(round(y1))],
    )
    assert pixel[:3] == [0xE5, 0x39, 0x35], pixel

    # a larger min face size from the slider reruns detection, which finds fewer faces
    strict = Detector(threads=1, min_face_size=150).detect(str(SAMPLE))
    assert 0 < len(strict) < len(want)
    page.locator("#min_face_size").fill("150")
    page.wait_for_function(f"Number(document.getElementById('canvas').dataset.facesDrawn) === {len(strict)}", timeout=60_000)
    assert page.locator("#faces li").count() == len(strict)

    shot = tmp_path / "web-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("OPENMTCNN_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
    assert not errors, errors
