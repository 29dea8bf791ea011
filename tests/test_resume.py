"""`openmtcnn detect DIR --output FILE --resume`: killed with SIGKILL at random moments and restarted,
the run ends with every image answered exactly once (no loss, no duplicate, no torn line)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openmtcnn.cli import main
from openmtcnn.io import JsonlWriter, OutputError

SETTINGS = ["--thresholds", "0.5", "0.5", "0.5", "--min-face-size", "20", "--threads", "1", "-q"]


def test_writer_keeps_complete_lines_and_drops_a_torn_one(tmp_path):
    f = tmp_path / "out.jsonl"
    f.write_text('{"source": "a.jpg", "faces": []}\n{"source": "b.jpg", "error": "b.jpg: bad"}\n{"source": "c.jp')
    with JsonlWriter(f, resume=True) as w:
        assert w.answered() == {"a.jpg", "b.jpg"} and w.dropped_bytes == len('{"source": "c.jp')
        w.write({"source": "c.jpg", "faces": []})
    assert f.read_text().splitlines()[2] == '{"source": "c.jpg", "faces": []}'
    with JsonlWriter(f) as w:  # without resume: afresh
        assert w.answered() == set()
    assert f.read_text() == ""
    f.write_text('{"source": "v.mp4", "frame": 3, "faces": []}\n')
    assert JsonlWriter(f, resume=True).answered() == {("v.mp4", 3)}
    f.write_text("some other file\n")
    with pytest.raises(OutputError, match="line 1 is not a JSON record"):
        JsonlWriter(f, resume=True)


def _folder(tmp_path: Path, n: int) -> Path:
    rng = np.random.default_rng(1)
    d = tmp_path / "photos"
    for i in range(n):
        (d / f"g{i % 3}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(d / f"g{i % 3}" / f"{i:03d}.png")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    return d


def _lines(f: Path) -> list[str]:
    return f.read_text().split("\n") if f.exists() else []


def test_killed_runs_resume_to_every_image_once(tmp_path, random_weights):
    folder = _folder(tmp_path, 90)  # more than 3 runs get through between their first lines and the kill
    out = tmp_path / "faces.jsonl"
    cmd = [sys.executable, "-m", "openmtcnn", "detect", str(folder), "--weights", str(random_weights), *SETTINGS,
           "--jobs", "2", "--output", str(out), "--resume"]  # fmt: skip
    rng = np.random.default_rng(7)
    kills = 0
    for _ in range(3):  # let each run write a few lines, then kill it at a random moment
        before = len(_lines(out))
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(_lines(out)) < before + 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(float(rng.uniform(0, 0.05)))  # short: on an idle machine a run writes hundreds of lines a second
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        proc.stderr.close()
    assert kills >= 2, "the runs were killed while working"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr  # broken.jpg failed
    text = out.read_text()
    assert text.endswith("\n"), "no torn last line"
    records = [json.loads(s) for s in text.splitlines()]
    sources = [r["source"] for r in records]
    expected = sorted(str(p) for p in folder.rglob("*") if p.is_file())
    assert sorted(sources) == expected, "none lost, none duplicated"
    # the results equal an uninterrupted run's
    fresh = tmp_path / "fresh.jsonl"
    assert main(["detect", str(folder), "--weights", str(random_weights), *SETTINGS, "--jobs", "1", "--output", str(fresh)]) == 1
    want = {r["source"]: r for r in map(json.loads, fresh.read_text().splitlines())}
    assert {r["source"]: r for r in records} == want


def test_resume_of_a_finished_run_does_nothing(tmp_path, random_weights, capsys):
    folder = _folder(tmp_path, 3)
    out = tmp_path / "faces.jsonl"
    args = ["detect", str(folder), "--weights", str(random_weights), *SETTINGS[:-1], "--output", str(out), "--resume"]
    assert main(args) == 1
    first = out.read_text()
    capsys.readouterr()
    assert main(args) == 1, "the earlier failure is answered (not redone) and still sets the status"
    assert out.read_text() == first
    assert "4 inputs answered before (--resume), 1 of them failed" in capsys.readouterr().err
