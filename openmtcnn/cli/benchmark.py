"""`openmtcnn benchmark`: the speed benchmark (``benchmarks/speed.py`` of a source checkout), same options."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "speed.py"

EPILOG = """\
The benchmark compares openmtcnn with facenet-pytorch, the `mtcnn` package, OpenCV's Haar cascade and
dlib's HOG detector in one environment that holds them all; build it once from a source checkout:
  bash benchmarks/setup.sh
  nice -n 5 .bench-venv/bin/openmtcnn benchmark
Peers that are not installed are listed as such. Results go to benchmarks/results/speed.json and docs/speed.md.
"""


def load_speed_module(script: Path = SCRIPT) -> ModuleType:
    """Import ``benchmarks/speed.py`` (it ships with the source, not with the installed package)."""
    if not script.is_file():
        raise SystemExit(
            f"{script}: not found. `openmtcnn benchmark` runs the benchmark of a source checkout "
            "(git clone the project, then `bash benchmarks/setup.sh`)."
        )
    spec = importlib.util.spec_from_file_location("openmtcnn_benchmark_speed", script)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "benchmark",
        help="time openmtcnn against other face detectors (VGA, 1080p, WIDER sample; 1 and 2 threads)",
        description="Speed benchmark: openmtcnn against the MTCNNs and classic detectors a user could pick instead.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if SCRIPT.is_file():
        load_speed_module().build_parser(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    speed = load_speed_module()
    speed.run(args)
    return 0
