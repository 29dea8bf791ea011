"""`openmtcnn` command line: one subcommand module per concern, each thin over the library."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand modules; each defines add_parser(subparsers) and sets args.func
SUBCOMMANDS = ["detect", "weights", "train", "evaluate", "benchmark", "serve", "batch"]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="openmtcnn", description="MTCNN face detection, training and evaluation")
    parser.add_argument("--version", action="version", version=f"openmtcnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{name}":
                continue  # not built yet
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
