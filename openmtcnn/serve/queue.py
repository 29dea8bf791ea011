"""A bounded wait queue in front of a thread pool: heavy work off the event loop, refused when full."""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable


class ServerFull(Exception):
    """Every worker thread is busy and ``max_waiting`` requests already wait; ``retry_after`` in seconds."""

    def __init__(self, waiting: int, retry_after: int):
        super().__init__(f"server busy: {waiting} requests already waiting; retry in {retry_after} s")
        self.retry_after = retry_after


class WorkQueue:
    """Run blocking jobs on ``workers`` threads with at most ``max_waiting`` jobs waiting for one.

    Called from the event loop only (its counters need no lock). A job beyond the limit raises
    :class:`ServerFull` at once instead of queueing without bound. ``on_change(waiting, running)``
    is told whenever the numbers change (the metrics' gauges).
    """

    def __init__(self, workers: int, max_waiting: int, on_change: Callable[[int, int], None] | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0, got {max_waiting}")
        self.workers, self.max_waiting = workers, max_waiting
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="openmtcnn-serve")
        self.admitted = 0  # running + waiting
        self.mean_seconds = 0.1  # moving average of a job's time, for Retry-After
        self.on_change = on_change or (lambda waiting, running: None)

    @property
    def waiting(self) -> int:
        return max(0, self.admitted - self.workers)

    @property
    def running(self) -> int:
        return min(self.admitted, self.workers)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on a worker thread; raises :class:`ServerFull` when the queue is full."""
        if self.admitted >= self.workers + self.max_waiting:
            waiting = self.waiting
            raise ServerFull(waiting, max(1, math.ceil((waiting + 1) * self.mean_seconds / self.workers)))
        loop = asyncio.get_running_loop()
        self.admitted += 1
        self.on_change(self.waiting, self.running)
        job = self.pool.submit(self._timed, fn, args)
        # released when the thread is done with it, not when the request goes (a client that hangs up
        # does not stop its job, which keeps its place until it ends)
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        return await asyncio.wrap_future(job)

    def _release(self) -> None:
        self.admitted -= 1
        self.on_change(self.waiting, self.running)

    def _timed(self, fn: Callable[..., Any], args: tuple) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.mean_seconds = 0.9 * self.mean_seconds + 0.1 * (time.perf_counter() - t0)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
