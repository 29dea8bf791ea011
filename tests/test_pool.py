"""The process pool: a worker that dies answers its item as an error and the rest goes on; failures
to start raise at once; detect_files works from a script without a __main__ guard."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openmtcnn.detect.pool import WorkerError, worker_map


def _state() -> str:
    return "ready"


def _work(state: str, item: int) -> tuple[int, int]:
    """Dies on chosen items: 3 exits at once, 5 is killed by SIGKILL (as the out-of-memory killer does)."""
    if item == 3:
        os._exit(7)
    if item == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    if item == 8:
        raise ValueError("item eight is bad")
    return item, os.getpid()


def _failed(item: int, message: str) -> str:
    return f"{item}: {message}"


def _bad_state() -> None:
    raise RuntimeError("weights do not load")


def _dies_once_while_starting(marker: str) -> str:
    """The first worker to start is killed by SIGKILL before it is ready (as by the OOM killer); later ones start."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return "ready"
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_while_starting_is_replaced(tmp_path):
    import functools

    factory = functools.partial(_dies_once_while_starting, str(tmp_path / "killed-once"))
    got = list(worker_map(factory, _work, [0, 1, 2, 4, 6], jobs=2))
    assert [g[0] for g in got] == [0, 1, 2, 4, 6]
    assert (tmp_path / "killed-once").exists()


def test_a_worker_that_exits_while_starting_raises(tmp_path):
    with pytest.raises(WorkerError, match="exited with status 3 while starting"):
        list(worker_map(_exits_while_starting, _work, range(5), jobs=2))


def _exits_while_starting() -> None:
    os._exit(3)


@pytest.mark.parametrize("ordered", [True, False])
def test_dead_workers_answer_their_item_and_the_rest_goes_on(ordered):
    got = list(worker_map(_state, _work, range(12), jobs=2, ordered=ordered, on_error=_failed))
    assert len(got) == 12
    if ordered:
        assert [g[0] if isinstance(g, tuple) else int(g.split(":")[0]) for g in got] == list(range(12))
    errors = sorted(g for g in got if isinstance(g, str))
    assert errors[0] == "3: worker process exited with status 7"
    assert errors[1].startswith("5: worker process was killed by SIGKILL")
    assert errors[2] == "8: ValueError: item eight is bad"
    assert len(errors) == 3
    assert len({g[1] for g in got if isinstance(g, tuple)}) >= 3, "dead workers were replaced"


def test_a_dead_worker_without_on_error_raises():
    with pytest.raises(WorkerError, match="exited with status 7"):
        list(worker_map(_state, _work, [1, 2, 3, 4], jobs=2))


def test_setup_failure_raises_at_once():
    t0 = time.monotonic()
    with pytest.raises(WorkerError, match="RuntimeError: weights do not load"):
        list(worker_map(_bad_state, _work, range(100), jobs=2))
    assert time.monotonic() - t0 < 60


def test_detect_files_survives_a_killed_worker(tmp_path, rng, random_weights):
    """SIGKILL one worker from outside in the middle of a run: its file is answered with the error."""
    from openmtcnn import detect_files

    paths = []
    for i in range(30):
        paths.append(tmp_path / f"{i:02d}.png")
        Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(paths[-1])
    results = detect_files(paths, random_weights, jobs=2)
    got = [next(results)]
    kids = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == os.getpid()]
    workers = [k for k in kids if b"worker_main" in Path(f"/proc/{k}/cmdline").read_bytes()]
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    got += list(results)
    assert [r.path for r in got] == [str(p) for p in paths], "every file once, in order"
    errors = [r for r in got if r.error is not None]
    # the worker was killed on a file (answered with the error) or, when it was still starting, replaced (none)
    assert len(errors) <= 1 and all("killed by SIGKILL" in r.error and r.path in r.error for r in errors)
    assert sum(r.result is not None for r in got) == 30 - len(errors)


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


SCRIPT = """\
import openmtcnn
paths = {paths!r}
for r in openmtcnn.detect_files(paths, {weights!r}, jobs=2):
    print(r.path, r.error is None, flush=True)
print("done")
"""


def _run_script(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    script = tmp_path / "pasted.py"
    script.write_text(text)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)


def test_detect_files_in_a_script_without_main_guard(tmp_path, rng, random_weights):
    """The README's snippet pasted as is: no `if __name__ == "__main__":` (it used to respawn workers forever)."""
    paths = []
    for i in range(4):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(paths[-1])
    paths.append(str(tmp_path / "missing.png"))
    done = _run_script(tmp_path, SCRIPT.format(paths=paths, weights=str(random_weights)))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines == [f"{p} True" for p in paths[:4]] + [f"{paths[4]} False", "done"]
    assert "Traceback" not in done.stderr

    bad = tmp_path / "bad_weights"
    bad.mkdir()
    for s in ("pnet", "rnet", "onet"):
        (bad / f"{s}.onnx").write_bytes(b"not onnx")
    failed = _run_script(tmp_path, SCRIPT.format(paths=paths, weights=str(bad)))
    assert failed.returncode == 1 and "WorkerError" in failed.stderr and "pnet.onnx" in failed.stderr


def test_functions_of_the_script_itself_are_refused_clearly(tmp_path):
    text = textwrap.dedent("""\
        from openmtcnn.detect.pool import worker_map
        def make():
            return 1
        def work(state, item):
            return item
        print(list(worker_map(make, work, range(4), jobs=2)))
    """)
    done = _run_script(tmp_path, text)
    assert done.returncode == 1 and "importable module" in done.stderr
