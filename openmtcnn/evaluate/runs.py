"""What every evaluation summary records about the run: detector, settings, machine, time."""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any


SUMMARY_FILES = {"widerface": "widerface.json", "landmarks": "landmarks.json", "fddb": "fddb.json"}


def build_detector(weights: str | None, threads: int | None, **settings: Any):
    """A :class:`~openmtcnn.detect.Detector` and a JSON-ready description of it."""
    from ..detect import Detector

    det = Detector(weights, threads=threads, **settings)
    backend = det.backend
    wdir = getattr(backend, "weights_dir", None)
    manifest = getattr(backend, "manifest", {}) or {}
    info = {
        "weights": str(weights) if weights is not None else "default",
        "weights_dir": str(wdir) if wdir is not None else None,
        "weights_name": manifest.get("name") or (Path(wdir).name if wdir is not None else None),
        "weights_source": manifest.get("source"),
        "settings": det.config.to_dict(),
        "threads": threads,
    }
    return det, info


def run_label(label: str | None, info: dict[str, Any] | None) -> str:
    """A run's name in tables and plots: the one given, else the weight set's name."""
    return label or (info or {}).get("weights_name") or "openmtcnn"


def detector_factory(detector: Any, weights: str | None, threads: int | None, jobs: int):
    """What each detection process of a run uses: ``detector`` itself when it is this one process
    (``jobs`` <= 1), else a picklable spec of its weights and settings that each worker builds its own from."""
    if jobs <= 1:
        return lambda: detector
    from ..detect.parallel import DetectorSpec

    return DetectorSpec(weights, detector.config, threads)


def default_out(benchmark: str, label: str) -> Path:
    """A run's folder when none is given: ``runs/BENCHMARK/LABEL`` (the label made safe as a folder name)."""
    return Path("runs") / benchmark / (re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "run")


def log_stderr(message: str) -> None:
    """Where a run's progress messages go by default (its results go to the caller)."""
    print(message, file=sys.stderr)


def machine_info() -> dict[str, Any]:
    """CPU count, load at the start, platform: context for any time figure."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {"cpus": os.cpu_count(), "load_avg_at_start": load, "platform": platform.platform(), "python": platform.python_version()}


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return p


def read_summary(path: str | os.PathLike) -> dict[str, Any]:
    """Load one summary JSON; a clear error names a missing or broken file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: summary not found") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: not valid JSON ({e})") from e
    if not isinstance(data, dict) or "benchmark" not in data:
        raise ValueError(f"{p}: not an openmtcnn evaluation summary (no 'benchmark' field)")
    data.setdefault("_path", str(p))
    return data


def find_summaries(paths: list[str | os.PathLike]) -> list[dict[str, Any]]:
    """Summaries from run folders (any of the known summary files inside) or summary files themselves."""
    out = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = [p / f for f in SUMMARY_FILES.values() if (p / f).is_file()]
            if not found:
                raise FileNotFoundError(f"{p}: no evaluation summary ({', '.join(SUMMARY_FILES.values())}) in this folder")
            out.extend(read_summary(f) for f in found)
        else:
            out.append(read_summary(p))
    return out
