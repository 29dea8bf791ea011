"""Timing the peers: interleaved passes in one worker process per thread count, the GEMM rate the
compute floor divides by, folder throughput, and peak memory in fresh processes."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from ..imaging import load_image
from .peers import OURS, PEER_NOTES, Ours, Peer, fit, make_peer

#: how a worker process marks its result line on stdout
MARK = "@@RESULT@@ "


def error_text(e: Exception) -> str:
    """How a peer's failure is recorded: exception type and message, cut to 300 characters."""
    return f"{type(e).__name__}: {e}"[:300]


def stats(values: list[float]) -> dict:
    import numpy as np

    a = np.asarray(values, float) * 1000
    return {"median_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)), "n": len(a)}


def weights_record(folder) -> dict:
    """Which weight set a timing is of: its folder, variant and the SHA-256 of its three ONNX files (first 16 hex)."""
    import hashlib

    from ..weights import STAGE_NAMES, read_manifest

    digest = hashlib.sha256(b"".join((Path(folder) / f"{s}.onnx").read_bytes() for s in STAGE_NAMES)).hexdigest()[:16]
    rel = os.path.relpath(folder)  # the checkout the benchmark runs from: a path that means the same on another machine
    return {"folder": str(folder) if rel.startswith("..") else rel, "variant": read_manifest(folder).get("variant", "mtcnn"),
            "onnx_sha256": digest}


def time_peers(peers: dict, images: list, repeat: int, warmup: int, macs: dict, gemm=None, log=None) -> dict:
    """Time every peer on ``images``, interleaved: each of ``repeat`` passes runs each peer once per image,
    in an order that rotates from pass to pass, so that a drift in the machine's speed (tens of percent over
    minutes on a shared host) falls on all of them alike. Warm-up: ``warmup`` calls per peer on the first image.

    ``macs``: peer name -> :class:`macs.CascadeMacs` for ours (multiply-adds per image, for the floor).
    ``gemm``: a :func:`gemm_sampler`, run once after each image of a pass (outside every timing), so that the
    compute floor's GEMM rate comes from the same minutes as the times it is compared with.
    A peer that raises is reported as failed (``{"status": "failed", "error": ...}``) and timed no further.
    Returns peer name -> median and p90 wall / CPU ms, faces, and for ours the stage breakdown and MACs.
    """
    import numpy as np

    live, failed = dict(peers), {}

    def call(name: str, im) -> int | None:
        try:
            return live[name].detect(im)
        except Exception as e:  # one peer's failure must not lose the others' figures
            failed[name] = {"status": "failed", "error": error_text(e)}
            del live[name]
            if log:
                log(f"{name}: failed ({failed[name]['error']})")
            return None

    for name in list(live):
        for _ in range(warmup):
            if call(name, images[0]) is None:
                break
    rec = {name: {"wall": [], "cpu": [], "faces": [], "parts": {}, "macs": []} for name in peers}
    rates: list[float] = []
    for k in range(repeat):
        for im in images:
            names = list(live)
            for name in names[k % max(len(names), 1):] + names[: k % max(len(names), 1)]:
                peer, r = live[name], rec[name]
                t, c = time.perf_counter(), time.process_time()
                n = call(name, im)
                if n is None:
                    continue
                r["wall"].append(time.perf_counter() - t)
                r["cpu"].append(time.process_time() - c)
                r["faces"].append(n)
                if isinstance(peer, Ours):
                    for part, v in peer.last.timings.items():
                        r["parts"].setdefault(part, []).append(v)
                    if name in macs:
                        tm = peer.timer
                        r["macs"].append(macs[name].count(tm.pnet_inputs, tm.batch))
            if gemm is not None:
                rates.append(gemm())
    out: dict = dict(failed)
    for name, r in rec.items():
        if name in failed:
            continue
        x = {"wall": stats(r["wall"]), "cpu": stats(r["cpu"]), "faces": int(round(sum(r["faces"]) / max(repeat, 1)))}
        if r["parts"]:
            x["stages_ms"] = {part: float(np.median(v) * 1000) for part, v in r["parts"].items()}
        if r["macs"]:
            x["macs"] = {m: int(sum(d[m] for d in r["macs"]) / len(r["macs"])) for m in r["macs"][0]}
            if rates:
                x["gemm"] = {"median_macs_per_s": float(np.median(rates)), "best_macs_per_s": float(max(rates)), "n": len(rates)}
        out[name] = x
    return out


def folder_throughput(peer: Peer, paths: list[Path], batched: bool = False, processes: int = 0) -> dict:
    """Decode + detect every file once; images per second. ``batched``: ours with a decoding thread
    and R-/O-Net batched over 8 images at a time. ``processes``: ours as ``openmtcnn detect DIR``
    runs a folder, :func:`openmtcnn.detect_files` on that many single-threaded worker processes
    (their start and weight loading included in the time)."""
    t = time.perf_counter()
    n_faces = 0
    if processes:
        from openmtcnn import detect_files

        for r in detect_files(paths, peer.weights, peer.det.config, jobs=processes):
            n_faces += len(r.result) if r.result is not None else 0
    elif batched:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            decoded = pool.map(load_image, paths)
            batch = []
            for im in decoded:
                batch.append(im)
                if len(batch) == 8:
                    n_faces += sum(len(r) for r in peer.det.detect_rgb_batch(batch))
                    batch = []
            if batch:
                n_faces += sum(len(r) for r in peer.det.detect_rgb_batch(batch))
    else:
        for p in paths:
            n_faces += peer.detect(load_image(p))
    dt = time.perf_counter() - t
    return {"images": len(paths), "seconds": dt, "images_per_s": len(paths) / dt, "faces": n_faces}


def folder_modes(peer: Peer, threads: int) -> list[tuple[str, dict]]:
    """(result key, :func:`folder_throughput` arguments) of the folder figures measured for a peer."""
    if not isinstance(peer, Ours):
        return [("folder", {})]
    return [("folder", {}), ("folder_batched", {"batched": True}), ("folder_processes", {"processes": threads})]


def worker(spec: dict) -> dict:
    """One process, one thread count: every peer on the same images, timed interleaved (:func:`time_peers`)."""
    threads = spec["threads"]
    import cv2

    cv2.setNumThreads(threads)
    from .macs import CascadeMacs

    def log(msg: str) -> None:
        print(f"[{threads} thr] {msg}", file=sys.stderr, flush=True)

    vga = fit(load_image(spec["vga"]), 640, 480)
    hd = fit(load_image(spec["hd"]), 1920, 1080)
    wider_paths = [Path(p) for p in spec["wider"]]
    wider = [load_image(p) for p in wider_paths]
    result = {"threads": threads, "peers": {}, "stage_clock": "cpu", "interleaved": True}
    peers: dict[str, Peer] = {}
    macs: dict = {}
    for name in spec["peers"]:
        entry: dict = {"note": PEER_NOTES[name]}
        result["peers"][name] = entry
        try:
            if name in OURS and not spec.get(OURS[name]):
                raise ImportError(spec.get("why_no_" + name, "weights not available"))
            peer = make_peer(name, spec)
            t = time.perf_counter()
            peer.setup(threads)
            entry["load_s"] = time.perf_counter() - t
        except Exception as e:  # a missing package or weights: listed, not dropped
            entry["status"] = "not available"
            entry["error"] = error_text(e)
            log(f"{name}: not available ({entry['error']})")
            continue
        entry["status"] = "ok"
        peers[name] = peer
        if isinstance(peer, Ours):
            entry["weights"] = weights_record(peer.det.backend.weights_dir)
            macs[name] = CascadeMacs(peer.det.backend.weights_dir, peer.det.backend.input_sizes)
            entry["graph_optimized"] = bool(getattr(peer.det.backend, "graph_optimized", False))
    gemm = gemm_sampler() if threads == 1 and macs else None  # the floor is a 1-thread figure (BLAS pinned to 1 thread)

    def measure(key: str, names: list[str], images: list, repeat: int, warmup: int) -> None:
        live = {n: peers[n] for n in names if n in peers and result["peers"][n]["status"] == "ok"}
        log(f"{key}: {', '.join(live)}")
        for name, x in time_peers(live, images, repeat, warmup, macs, gemm, log).items():
            if x.get("status") == "failed":
                result["peers"][name].update(x)
            else:
                result["peers"][name][key] = x

    measure("vga", list(peers), [vga], spec["repeat"], spec["warmup"])
    measure("hd", list(peers), [hd], max(3, spec["repeat"] // 3), 1)
    measure("wider", [n for n in peers if n in spec["wider_peers"]], wider, 1, 1)
    if threads == max(spec["all_threads"]):
        # two rounds, the second in reverse order, so that neither end of the run favours a peer
        runs = [(n, key, kw) for n in peers if n in spec["folder_peers"] for key, kw in folder_modes(peers[n], threads)]
        totals: dict = {}
        for order in (runs, runs[::-1]):
            for name, key, kw in order:
                if result["peers"][name]["status"] != "ok":
                    continue
                log(f"folder: {name} {key}")
                try:
                    f = folder_throughput(peers[name], wider_paths, **kw)
                except Exception as e:
                    result["peers"][name].update(status="failed", error=error_text(e))
                    continue
                acc = totals.setdefault((name, key), {"images": 0, "seconds": 0.0, "faces": f["faces"], "rounds": 0})
                acc["images"] += f["images"]
                acc["seconds"] += f["seconds"]
                acc["rounds"] += 1
        for (name, key), acc in totals.items():
            if result["peers"][name]["status"] == "ok":
                result["peers"][name][key] = {**acc, "images_per_s": acc["images"] / acc["seconds"]}
    log("done")
    return result


def gemm_sampler(n: int = 512):
    """A function that times one float32 ``n^3`` matrix product (numpy's BLAS) and returns its rate in multiply-adds/s.

    Each call first runs one untimed product, so the timed one finds its matrices in the cache whatever ran before."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)

    def sample() -> float:
        a @ b
        t = time.perf_counter()
        a @ b
        return n**3 / (time.perf_counter() - t)

    return sample


def gemm_rate(seconds: float = 2.0) -> dict:
    """Single-thread float32 GEMM rate (multiply-adds per second), best of repeated 512^3 products.

    Run in a child process with every BLAS pinned to one thread."""
    code = (
        "import sys, json, time; import numpy as np; from openmtcnn.benchmark.measure import gemm_sampler\n"
        "sample=gemm_sampler(); best=0.0; t0=time.perf_counter()\n"
        f"while time.perf_counter()-t0<{seconds}:\n"
        "    best=max(best, sample())\n"
        "cfg=np.show_config(mode='dicts') if hasattr(np,'show_config') else {}\n"
        "blas=cfg.get('Build Dependencies',{}).get('blas',{}).get('name','?') if isinstance(cfg,dict) else '?'\n"
        "print(json.dumps({'macs_per_s': best, 'blas': blas}))\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss(peer: str, spec: dict, width: int, height: int) -> dict:
    """Peak RSS of a fresh process that loads ``peer`` and detects once on a ``width x height`` image.

    Read from ``VmHWM`` (the process's own memory's high-water mark): ``getrusage``'s ``ru_maxrss``
    keeps the parent's resident size across fork and exec, so a parent that had loaded torch (to
    convert the original weights) showed up as every child's peak.
    """
    code = (
        "import sys, json; from openmtcnn.benchmark import peers; from openmtcnn.imaging import load_image\n"
        "hwm=lambda: next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
        "spec=json.loads(sys.argv[1]); w,h=int(sys.argv[3]),int(sys.argv[4])\n"
        "p=peers.make_peer(sys.argv[2], spec); p.setup(1)\n"
        "im=peers.fit(load_image(spec['hd']), w, h)\n"
        "base=hwm()\n"
        "n=p.detect(im)\n"
        "peak=hwm()\n"
        "print(json.dumps({'peak_mb': peak/1024, 'before_detect_mb': base/1024, 'faces': n}))\n"
    )
    args = [sys.executable, "-c", code, json.dumps(spec), peer, str(width), str(height)]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_worker_process(spec: dict) -> dict:
    env = dict(os.environ)
    n = str(spec["threads"])
    env.update(OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n, TF_NUM_INTRAOP_THREADS=n, TF_NUM_INTEROP_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-m", "openmtcnn.benchmark", "--worker", json.dumps(spec)], env=env, stdout=subprocess.PIPE, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"benchmark worker ({spec['threads']} threads) failed with status {proc.returncode}")
    return json.loads(lines[-1][len(MARK) :])


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    import onnxruntime

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "onnxruntime": onnxruntime.__version__,
        "platform": platform.platform(),
    }
