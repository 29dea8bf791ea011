"""openmtcnn's speed against the MTCNNs (and classic detectors) a user could pick instead.

    bash benchmarks/setup.sh                       # once: .bench-venv with the peers
    nice -n 5 .bench-venv/bin/python benchmarks/speed.py          # or: openmtcnn benchmark
    .bench-venv/bin/python benchmarks/speed.py --report-only      # docs/speed.md from the JSON

For each thread count (1 and 2) one worker process loads every detector and runs
them on the same images with the same settings (min face 20, thresholds
0.6 / 0.7 / 0.7 for the MTCNNs), after warm-up: a VGA photo, a 1080p photo and a
fixed sample of WIDER FACE val images. The detectors take turns image by image
(interleaved passes), so that the machine's drifting speed falls on all alike. It reports median and p90 milliseconds per
image (wall and process CPU time), faces found, each peer's time over ours, where
our time goes stage by stage, and our time against the compute floor: the
multiply-adds the cascade performed on that image divided by this machine's
single-thread float32 matrix-multiply rate, measured between our timed passes. Then peak
memory (RSS) for a 1080p and a 4K image, each in a fresh process, and folder
throughput (decode + detect, 2 threads) on the WIDER sample. Peers that are not
installed are listed as such. The machine's load is recorded: on a busy machine
compare the ratios (same run) and the CPU times rather than absolute wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WIDER_VAL = REPO / "data" / "widerface" / "WIDER_val" / "images"
# fixed photos (several faces each), centre-cropped to the aspect ratio and resized
VGA_SOURCE = WIDER_VAL / "11--Meeting" / "11_Meeting_Meeting_11_Meeting_Meeting_11_807.jpg"
HD_SOURCE = WIDER_VAL / "10--People_Marching" / "10_People_Marching_People_Marching_2_256.jpg"
MIN_FACE = 20
THRESHOLDS = (0.6, 0.7, 0.7)
FACTOR = 0.709
MARK = "@@RESULT@@ "

PEERS = ["openmtcnn", "openmtcnn-original", "facenet-pytorch", "mtcnn-tf", "opencv-haar", "dlib-hog"]
PEER_NOTES = {
    "openmtcnn": "ONNX Runtime, openmtcnn's own trained weights",
    "openmtcnn-original": "ONNX Runtime, the original MTCNN weights (converted from facenet-pytorch's files)",
    "facenet-pytorch": "facenet-pytorch 2.6.0 MTCNN, PyTorch CPU",
    "mtcnn-tf": "`mtcnn` package 1.0.0, TensorFlow CPU",
    "opencv-haar": "OpenCV 4.x Haar cascade (frontalface_default, scaleFactor 1.1, minNeighbors 5, minSize 20)",
    "dlib-hog": "dlib HOG frontal face detector, upsample 1 (smallest face about 40 px)",
}


# ---------------------------------------------------------------------------------- images


def fit(rgb, width: int, height: int):
    """Centre-crop to the aspect ratio of ``width x height``, then resize (area when shrinking)."""
    import cv2

    h, w = rgb.shape[:2]
    if w * height > h * width:
        cw, ch = h * width // height, h
    else:
        cw, ch = w, w * height // width
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crop = rgb[y0 : y0 + ch, x0 : x0 + cw]
    interp = cv2.INTER_AREA if cw > width else cv2.INTER_LINEAR
    return cv2.resize(crop, (width, height), interpolation=interp)


def load_rgb(path):
    from openmtcnn.imaging import load_image

    return load_image(path)


def wider_sample(root: Path, n: int) -> list[Path]:
    """``n`` images spread evenly over the sorted list of WIDER val images (a fixed rule)."""
    files = sorted(p for p in root.rglob("*.jpg"))
    if not files:
        raise SystemExit(f"no WIDER val images under {root} (give --wider DIR)")
    n = min(n, len(files))
    return [files[(i * len(files)) // n] for i in range(n)]


# ---------------------------------------------------------------------------------- detectors


class Peer:
    """A detector under test: ``setup(threads)``, then ``detect(rgb) -> number of faces``."""

    name = ""

    def setup(self, threads: int) -> None: ...

    def detect(self, rgb) -> int: ...


class Ours(Peer):
    def __init__(self, name: str, weights: str):
        self.name, self.weights = name, weights

    def setup(self, threads):
        from openmtcnn import Detector

        self.det = Detector(self.weights, threads=threads, min_face_size=MIN_FACE, thresholds=THRESHOLDS, scale_factor=FACTOR)
        self.det.clock = time.process_time  # stage breakdown in CPU time: steadier on a busy machine

    def detect(self, rgb):
        self.last = self.det.detect_rgb(rgb)
        return len(self.last)


class Facenet(Peer):
    name = "facenet-pytorch"

    def setup(self, threads):
        import torch
        from facenet_pytorch import MTCNN

        torch.set_num_threads(threads)
        self.torch = torch
        self.m = MTCNN(keep_all=True, min_face_size=MIN_FACE, thresholds=list(THRESHOLDS), factor=FACTOR, device="cpu", post_process=False)

    def detect(self, rgb):
        with self.torch.inference_mode():
            boxes, _ = self.m.detect(rgb)
        return 0 if boxes is None else len(boxes)


class MtcnnTF(Peer):
    name = "mtcnn-tf"

    def setup(self, threads):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # already initialised: the worker sets this first thing, so only in odd setups
        from mtcnn import MTCNN

        self.m = MTCNN(device="CPU:0")

    def detect(self, rgb):
        faces = self.m.detect_faces(
            rgb, min_face_size=MIN_FACE, scale_factor=FACTOR,
            threshold_pnet=THRESHOLDS[0], threshold_rnet=THRESHOLDS[1], threshold_onet=THRESHOLDS[2],
        )
        return len(faces)


class Haar(Peer):
    name = "opencv-haar"

    def setup(self, threads):
        import cv2

        if not hasattr(cv2, "data") or not Path(cv2.data.haarcascades, "haarcascade_frontalface_default.xml").is_file():
            raise ImportError(f"OpenCV {cv2.__version__} has no Haar cascade files (they ship with opencv-python-headless 4.x)")
        cv2.setNumThreads(threads)
        self.cv2 = cv2
        self.c = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")))

    def detect(self, rgb):
        gray = self.cv2.cvtColor(rgb, self.cv2.COLOR_RGB2GRAY)
        return len(self.c.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(MIN_FACE, MIN_FACE)))


class DlibHog(Peer):
    name = "dlib-hog"

    def setup(self, threads):
        import dlib

        self.d = dlib.get_frontal_face_detector()  # single-threaded whatever `threads` says

    def detect(self, rgb):
        return len(self.d(rgb, 1))


def make_peer(name: str, spec: dict) -> Peer:
    if name == "openmtcnn":
        return Ours(name, spec["ours_weights"])
    if name == "openmtcnn-original":
        return Ours(name, spec["original_weights"])
    return {"facenet-pytorch": Facenet, "mtcnn-tf": MtcnnTF, "opencv-haar": Haar, "dlib-hog": DlibHog}[name]()


# ---------------------------------------------------------------------------------- measuring


def error_text(e: Exception) -> str:
    """How a peer's failure is recorded: exception type and message, cut to 300 characters."""
    return f"{type(e).__name__}: {e}"[:300]


def stats(values: list[float]) -> dict:
    import numpy as np

    a = np.asarray(values, float) * 1000
    return {"median_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)), "n": len(a)}


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
                        tm = peer.det.last_timer
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
            decoded = pool.map(load_rgb, paths)
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
            n_faces += peer.detect(load_rgb(p))
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
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from macs import CascadeMacs

    def log(msg: str) -> None:
        print(f"[{threads} thr] {msg}", file=sys.stderr, flush=True)

    vga = fit(load_rgb(spec["vga"]), 640, 480)
    hd = fit(load_rgb(spec["hd"]), 1920, 1080)
    wider_paths = [Path(p) for p in spec["wider"]]
    wider = [load_rgb(p) for p in wider_paths]
    result = {"threads": threads, "peers": {}, "stage_clock": "cpu", "interleaved": True}
    peers: dict[str, Peer] = {}
    macs: dict = {}
    for name in spec["peers"]:
        entry: dict = {"note": PEER_NOTES[name]}
        result["peers"][name] = entry
        try:
            if name.startswith("openmtcnn") and not spec.get("ours_weights" if name == "openmtcnn" else "original_weights"):
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
        "import sys, json, time; sys.path.insert(0, sys.argv[1]); import speed, numpy as np\n"
        "sample=speed.gemm_sampler(); best=0.0; t0=time.perf_counter()\n"
        f"while time.perf_counter()-t0<{seconds}:\n"
        "    best=max(best, sample())\n"
        "cfg=np.show_config(mode='dicts') if hasattr(np,'show_config') else {}\n"
        "blas=cfg.get('Build Dependencies',{}).get('blas',{}).get('name','?') if isinstance(cfg,dict) else '?'\n"
        "print(json.dumps({'macs_per_s': best, 'blas': blas}))\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).resolve().parent)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss(peer: str, spec: dict, width: int, height: int) -> dict:
    """Peak RSS of a fresh process that loads ``peer`` and detects once on a ``width x height`` image.

    Read from ``VmHWM`` (the process's own memory's high-water mark): ``getrusage``'s ``ru_maxrss``
    keeps the parent's resident size across fork and exec, so a parent that had loaded torch (to
    convert the original weights) showed up as every child's peak.
    """
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); import speed\n"
        "hwm=lambda: next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
        "spec=json.loads(sys.argv[2]); w,h=int(sys.argv[4]),int(sys.argv[5])\n"
        "p=speed.make_peer(sys.argv[3], spec); p.setup(1)\n"
        "im=speed.fit(speed.load_rgb(spec['hd']), w, h)\n"
        "base=hwm()\n"
        "n=p.detect(im)\n"
        "peak=hwm()\n"
        "print(json.dumps({'peak_mb': peak/1024, 'before_detect_mb': base/1024, 'faces': n}))\n"
    )
    args = [sys.executable, "-c", code, str(Path(__file__).resolve().parent), json.dumps(spec), peer, str(width), str(height)]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_worker_process(spec: dict) -> dict:
    env = dict(os.environ)
    n = str(spec["threads"])
    env.update(OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n, TF_NUM_INTRAOP_THREADS=n, TF_NUM_INTEROP_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], env=env, stdout=subprocess.PIPE, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"benchmark worker ({spec['threads']} threads) failed with status {proc.returncode}")
    return json.loads(lines[-1][len(MARK) :])


# ---------------------------------------------------------------------------------- weights


def find_weights(args) -> tuple[dict, dict]:
    """Weight folders for ours and for the original weights (converted here when needed)."""
    from openmtcnn.weights import WeightsError, resolve_weights

    found, why = {}, {}
    try:
        found["ours_weights"] = str(resolve_weights(args.weights))
    except WeightsError as e:
        why["why_no_openmtcnn"] = str(e).split(". ")[0]
    if args.original:
        found["original_weights"] = str(resolve_weights(args.original))
    else:
        try:
            from openmtcnn.compat import export_original

            out = Path(tempfile.mkdtemp(prefix="openmtcnn-original-"))
            found["original_weights"] = str(export_original(out))
        except Exception as e:
            why["why_no_openmtcnn-original"] = f"cannot convert the original weights here ({type(e).__name__}: {e}); give --original DIR"
    return found, why


# ---------------------------------------------------------------------------------- report


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


def floor_rate(res: dict, timing: dict) -> float:
    """The GEMM rate a timing's floor uses: the median of the products run between its passes where
    there are some (the same minutes of a machine whose speed drifts), else the best-of rate measured
    before the run."""
    return timing.get("gemm", {}).get("median_macs_per_s") or res["gemm"]["macs_per_s"]


def derive(res: dict) -> None:
    """Ratios to ours, and our time against the compute floor (in place).

    ``floor_ms`` uses :func:`floor_rate`; ``peak_floor_ms`` the fastest product seen in the run (before it,
    or between the passes): the stricter reading."""
    for run in res["runs"]:
        ours = run["peers"].get("openmtcnn")
        base = ours if ours and ours.get("status") == "ok" else run["peers"].get("openmtcnn-original")
        base_name = "openmtcnn" if base is ours else "openmtcnn-original"
        run["ratio_base"] = base_name
        for name, e in run["peers"].items():
            if e.get("status") != "ok" or not base or base.get("status") != "ok":
                continue
            for key in ("vga", "hd", "wider"):
                if key in e and key in base:
                    e[key]["ratio_to_ours"] = e[key]["wall"]["median_ms"] / base[key]["wall"]["median_ms"]
                    e[key]["cpu_ratio_to_ours"] = e[key]["cpu"]["median_ms"] / base[key]["cpu"]["median_ms"]
            for key in ("vga", "hd", "wider"):
                m = e.get(key, {}).get("macs")
                if m:
                    x = e[key]
                    floor = m["total"] / floor_rate(res, x) * 1000
                    x["floor_ms"] = floor
                    x["wall_over_floor"] = x["wall"]["median_ms"] / floor
                    x["cpu_over_floor"] = x["cpu"]["median_ms"] / floor
                    x["peak_macs_per_s"] = max(res["gemm"]["macs_per_s"], x.get("gemm", {}).get("best_macs_per_s", 0.0))
                    x["peak_floor_ms"] = m["total"] / x["peak_macs_per_s"] * 1000
                    x["wall_over_peak_floor"] = x["wall"]["median_ms"] / x["peak_floor_ms"]


def fmt(v, spec=".1f"):
    return "—" if v is None else format(v, spec)


def table(res: dict) -> str:
    n = res.get("n_wider", 100)
    lines = []
    for run in res["runs"]:
        t = run["threads"]
        lines.append(f"\n### {t} thread{'s' if t > 1 else ''}\n")
        lines.append(
            f"| detector | VGA ms median / p90 | CPU ms | faces | × ours (wall / CPU) | 1080p ms median / p90 | CPU ms | faces "
            f"| × ours (wall / CPU) | WIDER-{n} ms median / p90 | CPU ms | × ours (wall / CPU) |"
        )
        lines.append("|---" * 12 + "|")
        for name, e in run["peers"].items():
            if e.get("status") != "ok":
                lines.append(f"| {name} | {e.get('status', '?')}: {e.get('error', '')} |" + " |" * 10)
                continue
            cells = [name]
            for key in ("vga", "hd", "wider"):
                x = e.get(key)
                if x is None:
                    cells += ["not run", "—", "—"] if key == "wider" else ["not run", "—", "—", "—"]
                    continue
                cells.append(f"{fmt(x['wall']['median_ms'])} / {fmt(x['wall']['p90_ms'])}")
                cells.append(fmt(x["cpu"]["median_ms"]))
                if key != "wider":
                    cells.append(str(x["faces"]))
                cells.append(f"{fmt(x.get('ratio_to_ours'), '.2f')} / {fmt(x.get('cpu_ratio_to_ours'), '.2f')}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(res: dict) -> str:
    """The issue's targets, checked against this run."""
    out = []
    one = next((r for r in res["runs"] if r["threads"] == 1), None)
    two = next((r for r in res["runs"] if r["threads"] == 2), None)
    base = one.get("ratio_base", "openmtcnn") if one else "openmtcnn"
    if one and one["peers"].get(base, {}).get("status") == "ok":
        ours = one["peers"][base]["vga"]
        fn = one["peers"].get("facenet-pytorch", {})
        if fn.get("status") == "ok":
            w, c = 1 / fn["vga"]["ratio_to_ours"], 1 / fn["vga"]["cpu_ratio_to_ours"]
            ok = "met" if w <= 1 / 3 else "not met"
            out.append(f"- VGA, 1 thread: ours / facenet-pytorch = {w:.2f} wall, {c:.2f} CPU (target <= 0.33: {ok} on wall time)")
        if "floor_ms" in ours:
            ok = "met" if ours["wall_over_floor"] <= 2 else "not met"
            rate = floor_rate(res, ours) / 1e9
            out.append(
                f"- VGA, 1 thread: ours / compute floor = {ours['wall_over_floor']:.2f} wall, {ours['cpu_over_floor']:.2f} CPU "
                f"(floor {ours['floor_ms']:.1f} ms at {rate:.1f} G multiply-adds/s; target <= 2: {ok} on wall time)"
            )
            if "gemm" in ours:  # rates sampled between the passes: the fastest of them may be faster than the one before
                out.append(
                    f"- the same against the fastest GEMM seen in the run ({ours['peak_floor_ms']:.1f} ms): "
                    f"{ours['wall_over_peak_floor']:.2f} wall"
                )
    if two:
        modes = [two["peers"].get(base, {}).get(k) for k in ("folder_processes", "folder_batched", "folder")]
        ours = max((m for m in modes if m), key=lambda m: m["images_per_s"], default=None)
        fn = two["peers"].get("facenet-pytorch", {}).get("folder")
        if ours and fn:
            r = ours["images_per_s"] / fn["images_per_s"]
            out.append(f"- WIDER-{res.get('n_wider', 100)} folder, 2 threads: ours / facenet-pytorch throughput = {r:.2f} (target >= 3: {'met' if r >= 3 else 'not met'})")
    return "\n".join(out)


def ours_single_thread(res: dict) -> list[tuple[str, dict]]:
    """(name, entry) of openmtcnn's weight sets that ran in the 1-thread run."""
    run = next((r for r in res["runs"] if r["threads"] == 1), None)
    if run is None:
        return []
    return [(n, run["peers"][n]) for n in ("openmtcnn", "openmtcnn-original") if run["peers"].get(n, {}).get("status") == "ok"]


def floor_table(res: dict) -> str:
    lines = [
        "| weights | image | MACs (P / R / O-Net) | GEMM G/s | floor ms | median ms | × floor | CPU ms | CPU × floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in ours_single_thread(res):
        for key, label in (("vga", "VGA"), ("hd", "1080p"), ("wider", f"WIDER-{res.get('n_wider', 100)} (mean MACs)")):
            x = e.get(key, {})
            if "macs" not in x:
                continue
            m = x["macs"]
            lines.append(
                f"| {name} | {label} | {m['pnet']/1e6:.0f}M / {m['rnet']/1e6:.0f}M / {m['onet']/1e6:.0f}M | "
                f"{floor_rate(res, x) / 1e9:.1f} / {x['peak_macs_per_s'] / 1e9:.1f} | {x['floor_ms']:.1f} | "
                f"{x['wall']['median_ms']:.1f} | {x['wall_over_floor']:.2f} | {x['cpu']['median_ms']:.1f} | {x['cpu_over_floor']:.2f} |"
            )
    return "\n".join(lines)


def net_floor_table(res: dict) -> str:
    """Each network's time (median of the stage breakdown) against its own floor, and the time no floor covers."""
    lines = [
        "| weights | image | P-Net ms / floor / × | R-Net ms / floor / × | O-Net ms / floor / × | nets × floor | "
        "pyramid + crops + NMS + other ms | share of the time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in ours_single_thread(res):
        for key, label in (("vga", "VGA"), ("hd", "1080p")):
            x = e.get(key, {})
            st, m = x.get("stages_ms"), x.get("macs")
            if not st or not m:
                continue
            cells, nets, floors, rate = [], 0.0, 0.0, floor_rate(res, x)
            for stage in ("pnet", "rnet", "onet"):
                floor = m[stage] / rate * 1000
                cells.append(f"{st[stage]:.1f} / {floor:.1f} / {st[stage] / floor:.2f}")
                nets, floors = nets + st[stage], floors + floor
            rest = sum(st.get(k, 0.0) for k in ("pyramid", "crops", "nms", "other"))
            lines.append(f"| {name} | {label} | " + " | ".join(cells) + f" | {nets / floors:.2f} | {rest:.1f} | {rest / (rest + nets):.0%} |")
    return "\n".join(lines)


def stage_table(res: dict) -> str:
    """Median per stage; CPU time where the run recorded it so (``stage_clock``), else wall time."""
    keys = ["pyramid", "pnet", "nms", "crops", "rnet", "onet", "other", "total"]
    lines = ["| run | weights | image | " + " | ".join(keys) + " |", "|---" * (len(keys) + 3) + "|"]
    for run in res["runs"]:
        for name in ("openmtcnn", "openmtcnn-original"):
            e = run["peers"].get(name, {})
            if e.get("status") != "ok":
                continue
            for key, label in (("vga", "VGA"), ("hd", "1080p")):
                s = e.get(key, {}).get("stages_ms", {})
                clock = "CPU" if run.get("stage_clock") == "cpu" else "wall"
                lines.append(f"| {run['threads']} thr | {name} | {label} ({clock}) | " + " | ".join(fmt(s.get(k), ".2f") for k in keys) + " |")
    return "\n".join(lines)


def memory_table(res: dict) -> str:
    lines = ["| detector | 1080p peak RSS MB | 4K peak RSS MB |", "|---|---|---|"]
    for name, m in res.get("memory", {}).items():
        cells = [f"{m[k]['peak_mb']:.0f}" if "peak_mb" in m.get(k, {}) else m.get(k, {}).get("error", "—") for k in ("hd", "4k")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def folder_table(res: dict) -> str:
    lines = ["| detector | mode | images/s | seconds | faces |", "|---|---|---|---|---|"]
    for run in res["runs"]:
        for name, e in run["peers"].items():
            for key, mode in (("folder", "decode, then detect, one by one"), ("folder_batched", "decoding thread + R/O-Net batched over 8 images"),
                              ("folder_processes", f"{run['threads']} worker processes, 1 thread each (`openmtcnn detect DIR`)")):
                f = e.get(key)
                if f:
                    lines.append(f"| {name} | {mode} | {f['images_per_s']:.2f} | {f['seconds']:.1f} | {f['faces']} |")
    return "\n".join(lines)


def markdown(res: dict) -> str:
    m = res["machine"]
    interleaved = any(r.get("interleaved") for r in res["runs"])
    same_window = any("gemm" in e.get("vga", {}) for _, e in ours_single_thread(res))  # floor rate taken between our passes
    load = res["load"]
    text = [
        "# Speed",
        "",
        f"Generated by `benchmarks/speed.py` from `benchmarks/results/{Path(res.get('json_path', 'speed.json')).name}` (run of {res['date']}).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} logical cores; Python {m['python']}, ONNX Runtime {m['onnxruntime']}, numpy {m['numpy']}.",
        f"Load average before / after the run: {' / '.join(', '.join(f'{x:.1f}' for x in l) for l in (load['before'], load['after']))} "
        "(1-, 5- and 15-minute averages, which lag; the run itself keeps one or two cores busy. Where other work "
        "shares the machine, wall times are inflated; the ratios within a run and the CPU times are steadier).",
        f"Single-thread float32 GEMM rate before the run: {res['gemm']['macs_per_s']/1e9:.1f} G multiply-adds/s, best of 2 s of "
        f"512^3 products ({res['gemm'].get('blas', '?')})"
        + ("; the compute floor uses the rate measured between our timed passes (below)." if same_window else "."),
        "",
        f"Settings: min face {MIN_FACE} px, scale factor {FACTOR}, thresholds {THRESHOLDS} for every MTCNN; VGA = a WIDER val photo "
        f"with several faces resized to 640x480, 1080p = another resized to 1920x1080, WIDER-100 = {res['n_wider']} WIDER val images "
        "spread evenly over the sorted file list. Times are per image, after warm-up, one process per thread count"
        + ("; the detectors take turns image by image, in a rotating order, so that a drift in the machine's speed falls on "
           "all of them alike." if interleaved else "."),
        "",
        "## Detectors",
        "",
        *[f"- **{k}**: {v}" for k, v in PEER_NOTES.items()],
        "",
        "## Targets",
        "",
        targets(res),
        "",
        "## Time per image",
        table(res),
        "",
        "`× ours` is the detector's median wall time over openmtcnn's "
        f"(`{res['runs'][0].get('ratio_base', 'openmtcnn')}`) in the same run.",
        "",
        "## Against the compute floor (1 thread)",
        "",
        "The floor is the multiply-adds the cascade actually performed on the image (P-Net per pyramid level from its input "
        "size, R-Net and O-Net per candidate) divided by the measured GEMM rate."
        + (" The rate is the median of one 512^3 float32 product run after each timed image (not timed with it): this "
           "machine's speed drifts by tens of percent over minutes, and a rate measured at another moment would compare two "
           "different machines. The GEMM column gives that median and, after the slash, the fastest product of the run."
           if same_window else " This run's rate was measured before it; the GEMM column shows it twice."),
        "",
        floor_table(res),
        "",
        "Each network against its own floor (its multiply-adds over the GEMM rate; times from the stage breakdown below), "
        "and the work no floor counts: resizing the pyramid, cropping and resizing candidates, NMS.",
        "",
        net_floor_table(res),
        "",
        "## Where the time goes (median ms per image; CPU time of the process where marked)",
        "",
        stage_table(res),
        "",
        f"## Folder throughput (WIDER-{res.get('n_wider', 100)}, 2 threads, decoding included)",
        "",
        "Each figure is two runs over the folder, the second round in reverse order of detectors and modes; "
        "`seconds` is their sum." if interleaved else "",
        "",
        folder_table(res),
        "",
        "## Peak memory (fresh process per figure, 1 thread)",
        "",
        memory_table(res),
        "",
        res.get("memory_note", ""),
        "",
        "## What the detector does to be fast",
        "",
        "- The ONNX graphs are rewritten at load time (`openmtcnn.detect.backends.optimize_graph`; same results up to "
        "float rounding, about 1e-6): ONNX Runtime's PReLU is slow and breaks its blocked (NCHWc) convolution layout, so each "
        "per-channel PReLU becomes `x + (1 - a) relu(-x)` in two depthwise 1x1 convolutions it fuses; where a max-pool follows, "
        "the pool runs first and the PReLU after it on a quarter of the pixels (exact for slopes >= 0; negative slopes through "
        "negated channels in the block padding); convolution outputs are padded to multiples of 16 channels so that nothing "
        "leaves the blocked layout (P-Net's 10, R-Net's 28); the face softmax becomes a sigmoid of the folded logit difference; "
        "P-Net's face and box heads are one convolution; P-Net's and R-Net's landmark heads are cut (ONNX Runtime runs every "
        "node whichever outputs are asked for). Per call, against the PReLU split alone: P-Net 1.67 -> 1.02 ms on a 58 x 384 "
        "strip, R-Net 2.05 -> 1.13 ms on 32 crops, O-Net 4.92 -> 4.64 ms on 16 crops.",
        "- R-Net and O-Net run once over all candidates of an image, and of several images (`Detector.detect(list)`, "
        "`batch_size`), in cache-sized chunks (32 crops for R-Net, 16 for O-Net); P-Net runs tall levels in strips of 24 "
        "output rows.",
        "- `Detector(threads=N)`: P-Net on each pyramid level and each chunk of R-Net / O-Net crops run on N threads, one "
        "ONNX Runtime thread per call, while the pyramid is resized on the calling thread (identical results; ONNX Runtime's "
        "own intra-op threads made one image slower). `openmtcnn detect` uses all CPUs for one image, a video or a stream.",
        "- NMS computes overlaps only for boxes whose x-ranges meet (same kept set as the greedy loop).",
        "- The pyramid is resized in float32 (OpenCV's area resize runs the same arithmetic as for uint8: rounded, the "
        "levels are bit-identical, about 2 ms less on the VGA photo) and chained: each level is an area resize of the smallest "
        "earlier level at least twice its size (within about 2 grey levels of resizing from the full image; `--pyramid direct` for that).",
        "- Input scaling is exact float arithmetic on the levels; crops are resized straight into the batch.",
        "- ONNX Runtime: full graph optimisation, sequential execution, one inter-op thread, arena and memory-pattern reuse.",
        "- GPU: `Detector(backend=\"torch\", device=\"cuda\")` runs the same weight folder in PyTorch (the ONNX "
        "initializers are loaded back into the nets; same results as ONNX Runtime within float tolerance, tested on the CPU). "
        "It has not been timed on a GPU: none was available where these figures were made.",
        "- Left as is: the per-box crop resize (one OpenCV call per box). An exact area resize of all boxes at once "
        "(bilinear samples of a float64 integral image, numpy) measured 10x slower: 34.0 ms against 3.5 ms for the "
        "278 R-Net crops of the VGA photo (within 1 grey level of OpenCV's). Several small pyramid levels in one P-Net call "
        "do not pay: the six smallest VGA levels took 0.69 ms in six calls and 1.60 ms packed side by side on one canvas "
        "(the canvas is twice their area, and a small level costs no more per pixel than a large one).",
        "",
    ]
    return "\n".join(text)


# ---------------------------------------------------------------------------------- main


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", help="openmtcnn's weights (default: the bundled default set)")
    p.add_argument("--original", help="a folder with the original MTCNN weights as ONNX (default: converted here)")
    p.add_argument("--vga", default=str(VGA_SOURCE), help="photo for the VGA figure (resized to 640x480)")
    p.add_argument("--hd", default=str(HD_SOURCE), help="photo for the 1080p and 4K figures")
    p.add_argument("--wider", default=str(WIDER_VAL), help="WIDER FACE val images folder")
    p.add_argument("--n-wider", type=int, default=100, help="WIDER images in the sample (default 100)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    p.add_argument("--repeat", type=int, default=15, help="timed passes on the VGA image (1080p: a third)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--peers", nargs="+", default=PEERS, choices=PEERS, help="detectors to run (default all)")
    p.add_argument(
        "--wider-peers", nargs="+", default=PEERS, choices=PEERS,
        help="detectors timed on the WIDER sample (default all; fewer on a busy machine)",
    )
    p.add_argument(
        "--folder-peers", nargs="+", default=["openmtcnn", "openmtcnn-original", "facenet-pytorch"], choices=PEERS,
        help="detectors whose folder throughput is measured (at the largest thread count)",
    )
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument(
        "--memory-peers", nargs="+", default=["openmtcnn", "openmtcnn-original", "facenet-pytorch"], choices=PEERS,
        help="detectors whose peak memory is measured (default: ours and facenet-pytorch)",
    )
    p.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "speed.json"))
    p.add_argument("--markdown", default=str(REPO / "docs" / "speed.md"), help="write the report here ('' to skip)")
    p.add_argument("--report-only", action="store_true", help="only regenerate the markdown from --json")
    return p


def run(args) -> dict:
    if args.report_only:
        res = json.loads(Path(args.json).read_text())
        derive(res)  # ratios and floors from the measured figures, as the code now reads them
    else:
        for p in (args.vga, args.hd):
            if not Path(p).is_file():
                raise SystemExit(f"{p}: no such image (give --vga / --hd, or stage WIDER val under data/)")
        res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(), "load": {"before": list(os.getloadavg())}}
        found, why = find_weights(args)
        wider = [str(p) for p in wider_sample(Path(args.wider), args.n_wider)]
        res["n_wider"] = len(wider)
        print("measuring the single-thread GEMM rate...", file=sys.stderr, flush=True)
        res["gemm"] = gemm_rate()
        spec = {
            "vga": args.vga, "hd": args.hd, "wider": wider, "peers": args.peers, "repeat": args.repeat, "warmup": args.warmup,
            "wider_peers": args.wider_peers, "folder_peers": args.folder_peers, "all_threads": args.threads, **found, **why,
        }
        res["runs"] = [run_worker_process({**spec, "threads": t}) for t in args.threads]
        if not args.no_memory:
            res["memory"] = {}
            for name in args.memory_peers:
                if name.startswith("openmtcnn") and (name == "openmtcnn" and "ours_weights" not in found or name == "openmtcnn-original" and "original_weights" not in found):
                    continue
                print(f"peak memory: {name}", file=sys.stderr, flush=True)
                res["memory"][name] = {"hd": peak_rss(name, spec, 1920, 1080), "4k": peak_rss(name, spec, 3840, 2160)}
        res["load"]["after"] = list(os.getloadavg())
        derive(res)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        res["json_path"] = os.path.relpath(args.json, REPO) if Path(args.json).is_absolute() else args.json
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    print(table(res))
    print("\nTargets:\n" + targets(res))
    print("\nCompute floor (1 thread):\n" + floor_table(res))
    print("\nStages (median ms):\n" + stage_table(res))
    print("\nFolder throughput:\n" + folder_table(res))
    if res.get("memory"):
        print("\nPeak memory:\n" + memory_table(res))
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        notes = REPO / "docs" / "speed-notes.md"  # the analysis, by hand, kept across regenerations
        extra = f"\n## Analysis of this run\n\n{notes.read_text()}" if notes.is_file() else ""
        Path(args.markdown).write_text(markdown(res) + extra)
        print(f"\nwrote {args.markdown} and {args.json}", file=sys.stderr)
    return res


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        out = worker(json.loads(argv[1]))
        print(MARK + json.dumps(out), flush=True)
        return 0
    run(build_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
