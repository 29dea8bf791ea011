"""`openmtcnn` command line: one subcommand module per concern, each thin over the library.

Exit statuses, all subcommands: 0 all went well, 1 some inputs failed (each reported, the others
done), 2 usage error (bad flags or paths, missing weights, a missing extra), before any work.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand modules; each defines add_parser(subparsers) and sets args.func
SUBCOMMANDS = ["detect", "weights", "train", "evaluate", "benchmark", "serve", "batch"]

#: optional packages -> the extra of pyproject.toml that installs them (a missing one is a usage error)
EXTRAS = {
    "torch": "train", "yaml": "train", "scipy": "eval", "matplotlib": "eval",
    "fastapi": "serve", "uvicorn": "serve", "starlette": "serve", "multipart": "serve", "python_multipart": "serve", "prometheus_client": "serve",
    "pyarrow": "batch", "ray": "batch", "pandas": "batch",
}


def missing_extra(e: ModuleNotFoundError) -> str | None:
    """One line saying how to install the package ``e`` names, if it is one of an extra's; else None."""
    top = (e.name or "").split(".")[0]
    return f"needs {top}, not installed: pip install 'openmtcnn[{EXTRAS[top]}]'" if top in EXTRAS else None


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
    from ..weights import WeightsError
    from .options import UsageError

    args = build_parser().parse_args(argv)
    prog = f"openmtcnn {args.command}"
    try:
        return int(args.func(args) or 0)
    except (UsageError, WeightsError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:  # an input path that is not there: a usage error, named
        print(f"{prog}: error: {f'{e.filename}: {e.strerror}' if e.filename else e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        line = missing_extra(e)
        if line is None:
            raise
        print(f"{prog}: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
