"""`openmtcnn batch`: every image of a folder or list -> Parquet rows under DST, resumable, locally or on Ray."""

from __future__ import annotations

import argparse
import sys
from typing import Any

EPILOG = """\
output: Parquet files DST/part-*.parquet, one row per image: source (absolute path), width, height,
faces (list of {box [x1, y1, x2, y2], score, landmarks [[x, y] x 5]}), error (null when fine).
A rerun with the same DST skips the sources already there (a killed run resumes; nothing is duplicated).
exit status: 0 all images processed, 1 some failed (rows with error), 2 usage error.

examples:
  openmtcnn batch photos/ faces.parquet/
  openmtcnn batch paths.csv out/ --ray --jobs 8                 # a local Ray (or $RAY_ADDRESS)
  openmtcnn batch paths.parquet /shared/out --ray ray://head:10001
"""


def add_parser(subparsers: Any) -> None:
    from ..config import DetectConfig
    from .options import add_detection_options

    p = subparsers.add_parser(
        "batch", help="detect faces in many images into Parquet files (local processes or Ray)",
        description="Detect faces in every image of SRC (a folder, or a .parquet / .csv list of paths) and write one row per image to Parquet files under DST.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", metavar="SRC", help="folder (searched recursively) or a .parquet / .csv file with a 'path' column")
    p.add_argument("dst", metavar="DST", help="output folder of Parquet part files")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on Ray Data: the cluster at ADDRESS, or without one a running/local Ray")
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="worker processes, or Ray actors (default: one per CPU here / in the cluster)")
    p.add_argument("--rows-per-part", type=int, default=256, metavar="N", help="rows per Parquet part; what a killed run can lose (default 256)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    add_detection_options(p, DetectConfig(), "detection", threads_help="CPU threads per worker process or actor (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pyarrow  # noqa: F401  (the rows' format, needed before any work: a missing batch extra is a usage error)
    from tqdm import tqdm

    from ..batch import SourceError, list_sources, run_batch
    from ..detect.parallel import WorkerError
    from .options import UsageError, check_minimums, detection_config

    check_minimums(args, {"jobs": 1, "rows_per_part": 1})
    config = detection_config(args)
    try:
        total = len(list_sources(args.src))
    except SourceError as e:
        raise UsageError(str(e)) from None
    with tqdm(total=total, unit="img", file=sys.stderr, disable=args.quiet, dynamic_ncols=True) as bar:
        try:
            s = run_batch(
                args.src, args.dst, weights=args.weights, config=config, jobs=args.jobs, threads=args.threads or 1,
                use_ray=args.ray is not None, ray_address=args.ray or None, rows_per_part=args.rows_per_part,
                progress=bar.update,
            )
        except WorkerError as e:
            raise UsageError(f"cannot start the detector in the worker processes: {e}") from None
        except SourceError as e:
            raise UsageError(str(e)) from None
    if not args.quiet:
        print(
            f"openmtcnn batch: {s.found} images, {s.skipped} already in {args.dst}, {s.written} written "
            f"({s.failed} failed, {s.faces} faces); {s.seconds:.1f} s, {s.rate:.2f} images/s",
            file=sys.stderr,
        )
    return 1 if s.failed else 0
