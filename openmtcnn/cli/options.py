"""Command-line options shared by subcommands: the detection settings (one definition)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from ..config import WEIGHT_BOUND, DetectConfig
from ..ops.crops import CROP_METHODS


def add_detection_options(
    p: argparse.ArgumentParser,
    defaults: DetectConfig,
    title: str,
    *,
    threads_help: str = "CPU threads per process: P-Net levels and R-/O-Net chunks of one image in parallel (default 1)",
    threads_default: int | None = 1,
) -> argparse._ArgumentGroup:
    """``--weights --min-face-size --scale-factor --thresholds --pyramid --landmark-passes --pnet-scale --crop-method
    --threads`` in a group
    called ``title``, defaulting to ``defaults``; read them back with :func:`detection_settings`."""
    g = p.add_argument_group(title)
    g.add_argument("--weights", metavar="NAME|DIR", help="weight set: a bundled name or a folder with pnet/rnet/onet.onnx (default: $OPENMTCNN_WEIGHTS, else openmtcnn's own)")
    g.add_argument("--min-face-size", "--min-face", dest="min_face_size", type=float, default=defaults.min_face_size, metavar="PX",
                   help=f"smallest face looked for, in pixels (default {defaults.min_face_size:g})")
    g.add_argument("--scale-factor", type=float, default=defaults.scale_factor, metavar="F", help=f"pyramid scale step (default {defaults.scale_factor:g})")
    g.add_argument("--thresholds", type=float, nargs=3, metavar=("P", "R", "O"), default=list(defaults.thresholds),
                   help="P-Net, R-Net, O-Net face-probability thresholds (default %s)" % " ".join(f"{t:g}" for t in defaults.thresholds))
    g.add_argument("--pyramid", choices=("chained", "direct"), default=defaults.pyramid,
                   help=f"resize pyramid levels from earlier levels (chained, faster) or each from the full image (direct, as the original code) (default {defaults.pyramid})")
    g.add_argument("--landmark-passes", "--landmark-refine", dest="landmark_passes", type=int, default=defaults.landmark_passes, metavar="N",
                   help="extra O-Net passes for the landmarks, on crops placed on the points; 0 = as the original MTCNN "
                   f"(default {defaults.landmark_passes}; --landmark-refine: its old name, deprecated)")
    g.add_argument("--pnet-scale", type=float, default=defaults.pnet_scale, metavar="S",
                   help="scale of the pyramid's first level relative to 12 / min face: P-Net's resolution multiplier "
                   "(default: the weight set's, else 1)")
    g.add_argument("--crop-method", choices=CROP_METHODS, default=defaults.crop_method,
                   help="how R-Net / O-Net crops are resized (default: the weight set's, else area)")
    g.add_argument("--threads", type=int, default=threads_default, metavar="N", help=threads_help)
    return g


def detection_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`DetectConfig` fields given by :func:`add_detection_options`; the weight-bound ones
    (``--pnet-scale``, ``--crop-method``) only when given, else the weight set's apply."""
    settings = {
        "min_face_size": args.min_face_size,
        "scale_factor": args.scale_factor,
        "thresholds": tuple(args.thresholds),
        "pyramid": args.pyramid,
        "landmark_passes": args.landmark_passes,
        "pnet_scale": args.pnet_scale,
        "crop_method": args.crop_method,
    }
    return {k: v for k, v in settings.items() if v is not None or k not in WEIGHT_BOUND}


def detection_config(args: argparse.Namespace) -> DetectConfig:
    """The settings of :func:`add_detection_options` as a :class:`DetectConfig`, once the weight set is
    known to exist; raises :class:`~openmtcnn.WeightsError` or ``ValueError`` (a setting out of range)."""
    from ..weights import resolve_weights

    resolve_weights(args.weights)
    return DetectConfig().with_overrides(**detection_settings(args))


def below_minimum(args: argparse.Namespace, minimums: dict[str, int]) -> str | None:
    """The usage error of the first option (attribute name) set below its minimum, if any."""
    for name, low in minimums.items():
        v = getattr(args, name)
        if v is not None and v < low:
            return f"--{name.replace('_', '-')} must be >= {low}, got {v}"
    return None


def usage_error(command: str) -> Callable[[str], int]:
    """A function that prints ``openmtcnn COMMAND: error: MESSAGE`` to stderr and returns exit status 2."""

    def usage(message: str) -> int:
        print(f"openmtcnn {command}: error: {message}", file=sys.stderr)
        return 2

    return usage
