"""`openmtcnn serve`: the HTTP service and its web page (FastAPI on uvicorn; the ``serve`` extra)."""

from __future__ import annotations

import argparse
import os
from typing import Any

EPILOG = """\
endpoints: POST /v1/detect (multipart field 'file', or a raw image/* body; detection settings as query
parameters), POST /v1/detect/batch (several files in field 'file'), GET /healthz, GET /metrics
(Prometheus), GET /docs (OpenAPI), GET / (web page).

examples:
  openmtcnn serve
  openmtcnn serve --host 0.0.0.0 --port 8080 --workers 2 --weights weights/original
  curl -F file=@photo.jpg 'http://127.0.0.1:8000/v1/detect?min_face_size=40&crops=true'
"""


def add_parser(subparsers: Any) -> None:
    from ..serve.settings import SERVE_CONFIG
    from .options import add_detection_options

    p = subparsers.add_parser(
        "serve", help="HTTP service and web page for face detection",
        description="Serve face detection over HTTP (JSON API, Prometheus metrics, a web page at /).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="server processes, each with its own detector (default 1)")
    add_detection_options(
        p, SERVE_CONFIG, "detection (the defaults of requests that do not set them; --max-pixels: the server's limit)", threads_default=None,
        threads_help="request threads per process sharing its detector, one image each (default: CPUs / workers)",
    )
    lim = p.add_argument_group("limits")
    lim.add_argument("--queue", type=int, default=64, metavar="N", help="requests that may wait for a thread; more get 503 (default 64)")
    lim.add_argument("--max-body-mb", type=float, default=20, metavar="MB", help="largest request body, MiB (default 20)")
    lim.add_argument("--max-files", type=int, default=16, metavar="N", help="images in one batch request (default 16)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn  # a missing serve extra: cli.main says how to install it

    from ..detect.parallel import default_jobs
    from ..serve.app import create_app
    from ..serve.settings import SETTINGS_ENV, Settings
    from .options import UsageError, check_minimums, detection_config

    check_minimums(args, {"workers": 1, "queue": 0, "max_files": 1})
    if args.max_body_mb <= 0:
        raise UsageError(f"--max-body-mb must be > 0, got {args.max_body_mb:g}")
    settings = Settings(
        weights=args.weights, config=detection_config(args),
        threads=args.threads or max(1, default_jobs() // args.workers), queue=args.queue,
        max_body=int(args.max_body_mb * 2**20), max_files=args.max_files,
    )
    if args.workers == 1:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    else:  # each process builds its own app (and detector) from the settings
        os.environ[SETTINGS_ENV] = settings.to_json()
        uvicorn.run("openmtcnn.serve.app:app_from_env", factory=True, workers=args.workers, host=args.host, port=args.port, log_level="info")
    return 0
