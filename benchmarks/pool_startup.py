"""Start-up cost of worker processes for openmtcnn.detect_files: openmtcnn's pool (fresh interpreters,
no re-run of __main__) against multiprocessing.Pool with fork and spawn, each until 2 workers have
built their Detector (default weights). Run: python benchmarks/pool_startup.py [repeats]."""

import multiprocessing as mp
import sys
import time

from openmtcnn.config import DetectConfig
from openmtcnn.detect.parallel import DetectorSpec, _detect_file
from openmtcnn.detect.pool import worker_map


def build(spec: DetectorSpec) -> int:
    spec()
    return 0


if __name__ == "__main__":
    spec = DetectorSpec(None, DetectConfig())
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 2):
        t = time.perf_counter()
        list(worker_map(spec, _detect_file, [("missing.png", False)] * 2, jobs=2))  # each worker answers once
        own = time.perf_counter() - t
        res = {}
        for method in ("fork", "spawn"):
            t = time.perf_counter()
            with mp.get_context(method).Pool(2) as p:
                p.map(build, [spec, spec])
            res[method] = time.perf_counter() - t
        print(f"2 workers with a Detector: openmtcnn pool {own:.2f} s, fork Pool {res['fork']:.2f} s, spawn Pool {res['spawn']:.2f} s")
