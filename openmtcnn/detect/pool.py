"""The one process pool: ``fn(state, item)`` over items on worker processes that survive bad items.

Why a pool of its own rather than ``multiprocessing.Pool`` or ``concurrent.futures``:

- **A worker that dies never hangs the run.** ``multiprocessing.Pool`` replaces a killed worker
  but loses its task, so ``imap`` waits forever; ``ProcessPoolExecutor`` fails every pending task
  at once without saying which item killed the worker. Here each worker holds one item at a
  time, so when one dies (SIGKILL, the out-of-memory killer, a crash in a native library) the
  parent knows the item: it is answered through ``on_error`` (by default :class:`WorkerError`
  is raised), a fresh worker takes the next item, and the rest goes on.
- **No re-run of the user's script.** ``spawn`` and ``forkserver`` both re-import the
  ``__main__`` script in every worker (forkserver in its server, or in each child when
  ``__main__`` is not preloaded), so a script without an ``if __name__ == "__main__":`` guard
  starts pools inside its workers: with ``multiprocessing.Pool`` that respawned without end
  (45 s, 232 tracebacks, no result). ``fork`` re-runs nothing but copies the parent as it is:
  its threads' locks (a progress bar's monitor, a detector's thread pool, a decoding thread) and
  ONNX Runtime's process-wide state once a session exists, which ONNX Runtime does not support
  across ``fork``; a library cannot know what its caller's process holds. So workers are fresh
  interpreters started as ``python -c "...worker_main()"`` (the way ``spawn`` starts them, less
  the ``__main__`` fix-up), and ``factory``/``fn`` arrive pickled by reference: functions of
  an importable module (a function defined in the script itself cannot be loaded there: that
  is reported as a :class:`WorkerError` at once). Start-up costs what ``spawn`` costs, once
  per run: until 2 workers had built their detector, 2.4 / 3.2 s against ``spawn`` 3.4 / 3.3 s
  and ``fork`` 1.8 / 2.7 s (``benchmarks/pool_startup.py``, two rounds, 2 cores shared with
  other jobs at load average 10); importing openmtcnn alone takes 0.3 s.
- **Failures while starting raise at once.** A worker that cannot build its state (weights that
  do not load) or exits by itself before it is ready raises :class:`WorkerError` in the parent;
  one killed by a signal while starting (the out-of-memory killer) is replaced, up to
  :data:`MAX_START_DEATHS` times in a run.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterable, Iterator


#: workers killed by a signal while starting that a run replaces before it gives up
MAX_START_DEATHS = 3


class WorkerError(RuntimeError):
    """A worker could not set itself up, or died and no ``on_error`` was given; the run cannot go on."""


def default_jobs() -> int:
    """Worker processes to use by default: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def death_message(returncode: int | None) -> str:
    """How a worker process ended, in words (``-9`` -> killed by SIGKILL)."""
    if returncode is None:
        return "worker process stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " (out of memory?)" if -returncode == signal.SIGKILL else ""
        return f"worker process was killed by {name}{hint}"
    return f"worker process exited with status {returncode}"


class _Worker:
    """One worker process and the two pipe ends the parent keeps."""

    def __init__(self, payload: bytes):
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        code = f"import sys; sys.path[:] = {list(sys.path)!r}; from openmtcnn.detect.pool import worker_main; worker_main({to_child_r}, {from_child_w})"
        try:
            # stdout goes to stderr: the parent's stdout may carry results (`openmtcnn detect` writes JSON there)
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code], pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, stdout=2
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.send = Connection(to_child_w, readable=False)
        self.recv = Connection(from_child_r, writable=False)
        self.ready = False
        self.job: tuple[int, Any] | None = None  # (index, item) being worked on
        try:
            self.send.send_bytes(payload)
        except OSError:  # died at once: its pipe tells the pool
            pass

    def stop(self) -> None:
        for c in (self.send, self.recv):
            c.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def worker_main(rfd: int, wfd: int) -> None:
    """A worker's life: read ``(factory, fn)``, build ``state = factory()``, say ready,
    then answer ``(index, item)`` jobs with ``(index, ok, value)`` until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops the workers
    recv, send = Connection(rfd, writable=False), Connection(wfd, readable=False)
    blob = recv.recv_bytes()
    try:
        factory, fn = pickle.loads(blob)
    except Exception as e:
        send.send(("setup", f"cannot load the work in a worker process ({type(e).__name__}: {e}); "
                   "give functions of an importable module, not of the script run as __main__"))
        return
    try:
        import cv2

        cv2.setNumThreads(1)  # one core per worker: OpenCV's own threads would compete with the other workers
        state = factory()
    except BaseException as e:  # reported to the parent, which stops the run
        send.send(("setup", f"{type(e).__name__}: {e}"))
        return
    send.send(("ready", None))
    while True:
        try:
            index, item = recv.recv()
        except EOFError:
            return
        try:
            send.send((index, True, fn(state, item)))
        except Exception as e:  # fn should catch its own; anything else answers this item only
            send.send((index, False, f"{type(e).__name__}: {e}"))


def worker_map(
    factory: Callable[[], Any],
    fn: Callable[[Any, Any], Any],
    items: Iterable[Any],
    jobs: int = 1,
    *,
    ordered: bool = True,
    on_error: Callable[[Any, str], Any] | None = None,
) -> Iterator[Any]:
    """``fn(state, item)`` for every item, with ``state = factory()`` made once per process.

    ``jobs`` <= 1 runs in this process. Otherwise ``jobs`` worker processes (``factory`` and
    ``fn`` must pickle: functions or objects of an importable module); results come in item order
    (``ordered``) or as they finish. ``fn`` should catch its own per-item errors and return them.
    An item whose worker died, or whose ``fn`` raised, is answered by ``on_error(item, message)``
    (``None``: :class:`WorkerError` is raised); a failure to start raises :class:`WorkerError`.
    Items are drawn lazily, a few ahead. Abandoning the iterator stops the workers.
    """
    if jobs <= 1:
        state = None
        for item in items:
            if state is None:
                state = factory()
            try:
                yield fn(state, item)
            except Exception as e:
                if on_error is None:
                    raise
                yield on_error(item, f"{type(e).__name__}: {e}")
        return
    yield from _run_pool(factory, fn, iter(items), jobs, ordered, on_error)


def _run_pool(factory, fn, items: Iterator[Any], jobs: int, ordered: bool, on_error) -> Iterator[Any]:
    try:
        payload = pickle.dumps((factory, fn))
    except (pickle.PicklingError, AttributeError, TypeError) as e:
        raise WorkerError(f"cannot send the work to worker processes ({e}); define it in an importable module") from e
    queue: deque[tuple[int, Any]] = deque()
    exhausted = False
    count = 0

    def next_job() -> tuple[int, Any] | None:
        nonlocal exhausted, count
        if not queue and not exhausted:
            try:
                queue.append((count, next(items)))
                count += 1
            except StopIteration:
                exhausted = True
        return queue.popleft() if queue else None

    workers: list[_Worker] = []
    done: dict[int, Any] = {}  # finished results waiting for their turn (ordered)
    emit = 0
    start_deaths = 0

    def assign(w: _Worker) -> None:
        w.job = next_job()
        if w.job is not None:
            try:
                w.send.send(w.job)
            except OSError:  # died meanwhile: its pipe tells the loop below
                pass

    def answer(index: int, item: Any, message: str) -> Any:
        if on_error is None:
            raise WorkerError(f"item {index}: {message}")
        return on_error(item, message)

    try:
        first = next_job()
        if first is None:
            return
        queue.appendleft(first)
        workers = [_Worker(payload) for _ in range(jobs)]
        while True:
            busy = [w for w in workers if not w.ready or w.job is not None]
            if not busy:
                break
            for conn in wait([w.recv for w in busy]):
                w = next(x for x in workers if x.recv is conn)
                try:
                    msg = w.recv.recv()
                except (EOFError, OSError):
                    w.proc.wait()
                    reason = death_message(w.proc.returncode)
                    if not w.ready:
                        # killed by a signal from outside (OOM killer, kill) while starting: start another, a few
                        # times; a worker that exits by itself while starting would only do it again
                        start_deaths += 1
                        if w.proc.returncode >= 0 or start_deaths > MAX_START_DEATHS:
                            raise WorkerError(f"{reason} while starting (see its messages above)") from None
                        workers.remove(w)
                        w.stop()
                        workers.append(_Worker(payload))
                        continue
                    index, item = w.job
                    done[index] = answer(index, item, reason)
                    workers.remove(w)
                    w.stop()
                    if queue or not exhausted:
                        nw = _Worker(payload)
                        workers.append(nw)
                    continue
                if msg[0] == "setup":
                    raise WorkerError(msg[1])
                if msg[0] == "ready":
                    w.ready = True
                else:
                    index, ok, value = msg
                    done[index] = value if ok else answer(index, w.job[1], value)
                assign(w)
            if ordered:
                while emit in done:
                    yield done.pop(emit)
                    emit += 1
            else:
                for k in list(done):
                    yield done.pop(k)
        for k in sorted(done):
            yield done.pop(k)
    finally:
        for w in workers:
            w.stop()
