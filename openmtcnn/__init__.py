"""openmtcnn: MTCNN face detection and alignment on a plain CPU (numpy + OpenCV + ONNX Runtime)."""

from .align import align
from .config import DetectConfig
from .detect import DetectResult, Detector, FileResult, detect_files
from .draw import draw
from .imaging import ImageError, ImageTooLarge
from .video import FrameResult, VideoError, detect_video
from .weights import WeightsError

__version__ = "0.1.0"

__all__ = [
    "Detector",
    "DetectResult",
    "DetectConfig",
    "FileResult",
    "FrameResult",
    "ImageError",
    "ImageTooLarge",
    "VideoError",
    "WeightsError",
    "align",
    "detect_files",
    "detect_video",
    "draw",
    "__version__",
]
