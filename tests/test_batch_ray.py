"""`openmtcnn batch --ray` on a local Ray with 2 CPUs: one row per image, agreeing with the Detector, and resuming."""

from __future__ import annotations

import csv

import pytest

pytest.importorskip("pyarrow")
ray = pytest.importorskip("ray")

from openmtcnn import Detector  # noqa: E402
from openmtcnn.batch import read_rows, run_batch  # noqa: E402
from openmtcnn.cli import main  # noqa: E402
from test_batch import check_rows, make_folder  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_run_agrees_and_resumes(local_ray, tmp_path, capsys):
    det = Detector(threads=1)
    sources = make_folder(tmp_path / "photos", 7)
    dst = tmp_path / "out"
    # a first, local run over part of the images (as a run killed part-way would leave)
    with open(tmp_path / "first.csv", "w", newline="") as f:
        csv.writer(f).writerows([["path"], *[[p] for p in sources[:3]]])
    first = run_batch(tmp_path / "first.csv", dst, jobs=1, rows_per_part=2)
    assert (first.written, first.skipped) == (3, 0)

    rc = main(["batch", str(tmp_path / "photos"), str(dst), "--ray", "--jobs", "2", "--rows-per-part", "2"])
    err = capsys.readouterr().err
    assert rc in (0, 1), err
    assert "8 images, 3 already" in err and "5 written" in err
    check_rows(dst, sources, det)

    # a missing file in a list becomes an error row; nothing else is redone
    with open(tmp_path / "more.csv", "w", newline="") as f:
        csv.writer(f).writerows([["path"], *[[p] for p in sources], [str(tmp_path / "gone.jpg")]])
    again = run_batch(tmp_path / "more.csv", dst, use_ray=True, jobs=2)
    assert (again.written, again.skipped, again.failed) == (1, len(sources), 1)
    rows = {r["source"]: r for r in read_rows(dst).to_pylist()}
    assert len(rows) == len(sources) + 1 and "no such file" in rows[str(tmp_path / "gone.jpg")]["error"]
