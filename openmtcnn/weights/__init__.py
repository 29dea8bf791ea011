"""Shipped weight sets (ONNX files + model card) and how a weights argument is resolved."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..stages import STAGES as STAGE_NAMES  # noqa: F401  (the weight files' names)
BUNDLED_DIR = Path(__file__).resolve().parent
DEFAULT_NAME = "default"


class WeightsError(FileNotFoundError):
    """No usable weight set where one was asked for."""


def _complete(d: Path) -> bool:
    return all((d / f"{s}.onnx").is_file() for s in STAGE_NAMES)


def resolve_weights(weights: str | os.PathLike | None = None) -> Path:
    """Find a weight folder: ``None`` = the bundled default, a bundled name, or a folder path.

    A folder must hold ``pnet.onnx``, ``rnet.onnx`` and ``onet.onnx``.
    """
    if weights is None:
        weights = os.environ.get("OPENMTCNN_WEIGHTS") or DEFAULT_NAME
    p = Path(weights)
    candidates = [p] if (p.is_absolute() or p.exists()) else [BUNDLED_DIR / str(weights), p]
    for c in candidates:
        if c.is_dir() and _complete(c):
            return c
    if str(weights) == DEFAULT_NAME:
        raise WeightsError(
            "openmtcnn's own trained weights are not in this installation "
            f"({BUNDLED_DIR / DEFAULT_NAME} is missing or incomplete). Train them with "
            "`openmtcnn train all --data DATA_DIR --runs runs`, then put them there with `openmtcnn train export "
            f"--runs runs --out {BUNDLED_DIR / DEFAULT_NAME}`, or use the original MTCNN weights: "
            "`openmtcnn convert-weights --out weights/original` (needs `pip install facenet-pytorch==2.6.0 --no-deps` "
            "and torch), then `Detector(weights='weights/original')`."
        )
    if not any(c.exists() for c in candidates):
        hint = (
            "the original MTCNN weights are made once by `openmtcnn convert-weights --out weights/original` "
            "(see its --help), then given as --weights weights/original"
            if "original" in Path(weights).name
            else "a weight folder holds pnet.onnx, rnet.onnx and onet.onnx"
        )
        raise WeightsError(f"{weights}: no such weight folder, nor a bundled set ({', '.join(bundled_sets()) or 'none'}); {hint}")
    missing = [f"{s}.onnx" for s in STAGE_NAMES if not (candidates[0] / f"{s}.onnx").is_file()]
    raise WeightsError(f"{weights}: not a weight folder (missing {', '.join(missing)})")


def read_manifest(weights_dir: str | os.PathLike) -> dict:
    """A weight folder's ``manifest.json`` (variant, per-net architecture, source); ``{}`` when it has none."""
    manifest = Path(weights_dir) / "manifest.json"
    return json.loads(manifest.read_text()) if manifest.exists() else {}


def bundled_sets() -> list[str]:
    return sorted(d.name for d in BUNDLED_DIR.iterdir() if d.is_dir() and _complete(d))
