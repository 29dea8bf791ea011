"""Command-line conventions shared by subcommands: the detection settings (one definition), usage errors."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import DetectConfig
from ..ops.crops import CROP_METHODS


class UsageError(Exception):
    """Bad arguments: :func:`openmtcnn.cli.main` prints the message (naming the flag) and exits with status 2.

    The exit statuses of every subcommand: 0 all went well, 1 some inputs failed (each reported,
    the others done), 2 usage error (bad flags or paths, missing weights or extras), before any work.
    """


def add_detection_options(
    p: argparse.ArgumentParser,
    defaults: DetectConfig,
    title: str,
    *,
    threads_help: str = "CPU threads per process: P-Net levels and R-/O-Net chunks of one image in parallel (default 1)",
    threads_default: int | None = 1,
) -> argparse._ArgumentGroup:
    """``--weights --min-face-size --scale-factor --thresholds --pyramid --landmark-passes --pnet-scale --crop-method
    --max-pixels --threads`` in a group
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
    g.add_argument("--max-pixels", type=float, default=(defaults.max_pixels or 0) / 1e6, metavar="MP",
                   help="refuse images over MP megapixels, judged from the image header before decoding; 0 = no limit "
                   f"(default {(defaults.max_pixels or 0) / 1e6:g})")
    g.add_argument("--threads", type=int, default=threads_default, metavar="N", help=threads_help)
    return g


#: the :class:`DetectConfig` fields :func:`add_detection_options` sets, each by the flag of its name
#: (``min_face_size``: ``--min-face-size``; ``max_pixels`` in megapixels, 0 for ``None``; the weight-bound
#: ``pnet_scale``, ``crop_method``: ``None`` when not given)
SETTING_FIELDS = ("min_face_size", "scale_factor", "thresholds", "pyramid", "landmark_passes", "max_pixels", "pnet_scale", "crop_method")


def detection_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`DetectConfig` fields given by :func:`add_detection_options` (a flag below its
    minimum raises :class:`UsageError`; ranges of the settings themselves are the config's to check);
    the weight-bound ones (``--pnet-scale``, ``--crop-method``) are ``None`` when not given: the weight set's."""
    check_minimums(args, {"threads": 1, "max_pixels": 0})
    d = {f: getattr(args, f) for f in SETTING_FIELDS}
    d["thresholds"] = tuple(d["thresholds"])
    d["max_pixels"] = int(d["max_pixels"] * 1e6) or None
    return d


def flag_message(message: str) -> str:
    """A settings error as the command-line user knows it: ``min_face_size`` -> ``--min-face-size``."""
    for name in SETTING_FIELDS:
        message = message.replace(name, "--" + name.replace("_", "-"))
    return message


def detection_config(args: argparse.Namespace) -> DetectConfig:
    """The :class:`DetectConfig` of the flags of :func:`add_detection_options`, once the weight set is
    known to exist (else :class:`~openmtcnn.WeightsError`); a bad value raises :class:`UsageError`
    naming its flag."""
    from ..weights import resolve_weights

    resolve_weights(args.weights)
    try:
        return DetectConfig().with_overrides(**detection_settings(args))
    except ValueError as e:
        raise UsageError(flag_message(str(e))) from None


def check_minimums(args: argparse.Namespace, minimums: dict[str, float]) -> None:
    """Raise :class:`UsageError` for the first option (attribute name) set below its minimum."""
    for name, low in minimums.items():
        v = getattr(args, name)
        if v is not None and v < low:
            raise UsageError(f"--{name.replace('_', '-')} must be >= {low:g}, got {v:g}")
