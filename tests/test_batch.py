"""`openmtcnn batch` on the local worker processes: sources, rows, errors, and resuming a killed run."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from openmtcnn import Detector  # noqa: E402
from openmtcnn.batch import SourceError, list_sources, read_rows, write_part  # noqa: E402
from openmtcnn.batch.store import result_row  # noqa: E402
from openmtcnn.cli import main  # noqa: E402

from conftest import REPO  # noqa: E402

SAMPLE = REPO / "openmtcnn" / "assets" / "sample.jpg"


def make_folder(root: Path, n: int, size=(300, 200)) -> list[str]:
    """``n`` copies of the sample at ``size`` (JPEG and PNG, some nested), a corrupt JPEG, a text file, a hidden image."""
    photo = Image.open(SAMPLE).resize(size)
    made = []
    for i in range(n):
        p = root / ("nested" if i % 3 == 0 else "") / f"img{i:03d}.{'png' if i % 2 else 'jpg'}"
        p.parent.mkdir(parents=True, exist_ok=True)
        photo.rotate(i * 7).save(p)
        made.append(str(p.resolve()))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated rubbish")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    photo.save(root / ".hidden" / "skip.jpg")
    return sorted(made + [str((root / "broken.jpg").resolve())])


def check_rows(dst: Path, sources: list[str], det: Detector) -> None:
    """Exactly one row per source; each agrees with the Detector, the corrupt file has an error."""
    rows = read_rows(dst).to_pylist()
    assert sorted(r["source"] for r in rows) == sorted(sources)
    for r in rows:
        if r["source"].endswith("broken.jpg"):
            assert r["error"] and "broken.jpg" in r["error"] and r["faces"] is None and r["width"] is None
            continue
        assert r["error"] is None
        want = det.detect(r["source"])
        assert (r["width"], r["height"]) == want.image_size
        assert len(r["faces"]) == len(want)
        if len(want):
            np.testing.assert_array_equal(np.array([f["box"] for f in r["faces"]], np.float32), want.boxes)
            np.testing.assert_array_equal(np.array([f["score"] for f in r["faces"]], np.float32), want.scores)
            np.testing.assert_array_equal(np.array([f["landmarks"] for f in r["faces"]], np.float32), want.landmarks)


@pytest.fixture(scope="module")
def det() -> Detector:
    return Detector(threads=1)


def test_sources_folder_csv_parquet(tmp_path):
    made = make_folder(tmp_path / "photos", 4)
    assert list_sources(tmp_path / "photos") == made
    rel = [os.path.relpath(p, tmp_path) for p in made[:3]]
    with open(tmp_path / "list.csv", "w", newline="") as f:
        csv.writer(f).writerows([["id", "path"], *[[i, p] for i, p in enumerate(rel)]])
    assert list_sources(tmp_path / "list.csv") == made[:3]
    (tmp_path / "bare.csv").write_text("\n".join(made[:2]) + "\n")
    assert list_sources(tmp_path / "bare.csv") == made[:2]
    pq.write_table(pa.table({"source": rel}), tmp_path / "list.parquet")
    assert list_sources(tmp_path / "list.parquet") == made[:3]
    for bad, said in [("nowhere", "no such"), ("photos/notes.txt", ".parquet or .csv")]:
        with pytest.raises(SourceError, match=said):
            list_sources(tmp_path / bad)
    (tmp_path / "wide.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SourceError, match="'path'"):
        list_sources(tmp_path / "wide.csv")


def test_local_run_rows_errors_and_rerun(tmp_path, det, capsys):
    sources = make_folder(tmp_path / "photos", 5)
    dst = tmp_path / "out"
    rc = main(["batch", str(tmp_path / "photos"), str(dst), "--jobs", "2", "--rows-per-part", "2"])
    err = capsys.readouterr().err
    assert rc == 1 and "6 images, 0 already" in err and "1 failed" in err
    assert len(list(dst.glob("part-*.parquet"))) == 3
    assert pq.read_schema(next(dst.glob("part-*.parquet"))).names == ["source", "width", "height", "faces", "error"]
    check_rows(dst, sources, det)
    # a rerun writes nothing new, and drops a killed run's temporary file
    (dst / ".part-deadbeef.123.tmp").write_bytes(b"half a part")
    rc = main(["batch", str(tmp_path / "photos"), str(dst), "--rows-per-part", "2"])
    assert rc == 0 and "6 already" in capsys.readouterr().err
    assert not list(dst.glob("*.tmp"))
    check_rows(dst, sources, det)


def test_usage_errors(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 2
    assert "no such folder or file" in capsys.readouterr().err
    assert main(["batch", str(tmp_path), str(tmp_path / "out"), "--jobs", "0"]) == 2


def test_write_part_is_idempotent(tmp_path):
    rows = [result_row("/a.jpg", error="/a.jpg: bad"), result_row("/b.jpg", error="/b.jpg: bad")]
    first = write_part(tmp_path, rows)
    assert write_part(tmp_path, rows[::-1]) == first  # the same sources: the same part, replaced
    assert read_rows(tmp_path).num_rows == 2


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path, det):
    """SIGKILL a run once its first parts are written; the rerun completes with one row per image."""
    sources = make_folder(tmp_path / "photos", 40, size=(600, 400))
    dst = tmp_path / "out"
    cmd = [sys.executable, "-m", "openmtcnn", "batch", str(tmp_path / "photos"), str(dst), "--jobs", "1", "--rows-per-part", "3", "-q"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(dst.glob("part-*.parquet"))) < 2:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no part written in 2 minutes"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    before = read_rows(dst).num_rows
    assert 0 < before < len(sources), before  # killed part-way
    done = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr.decode()  # 1 if the corrupt file is among this run's rows
    check_rows(dst, sources, det)
