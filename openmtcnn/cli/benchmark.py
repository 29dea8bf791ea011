"""`openmtcnn benchmark`: the speed benchmark (:mod:`openmtcnn.benchmark`)."""

from __future__ import annotations

import argparse
from typing import Any

EPILOG = """\
The benchmark compares openmtcnn with facenet-pytorch, the `mtcnn` package, OpenCV's Haar cascade and
dlib's HOG detector in one environment that holds them all; build it once from a source checkout:
  bash benchmarks/setup.sh
  nice -n 5 .bench-venv/bin/openmtcnn benchmark
Run it from the checkout (it reads data/ and writes there). Peers that are not installed are listed as such.
Results go to benchmarks/results/MACHINE.json (the run it replaces: a row of benchmarks/results/history.md)
and docs/speed.md.
"""


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "benchmark",
        help="time openmtcnn against other face detectors (VGA, 1080p, WIDER sample; 1 and 2 threads)",
        description="Speed benchmark: openmtcnn against the MTCNNs and classic detectors a user could pick instead.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from ..benchmark import build_parser

    build_parser(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..benchmark import run as run_benchmark

    run_benchmark(args)
    return 0
