"""openmtcnn: MTCNN face detection and alignment on a plain CPU (numpy + OpenCV + ONNX Runtime)."""

from .align import align
from .config import DetectConfig
from .detect import DetectResult, Detector
from .imaging import ImageError
from .weights import WeightsError

__version__ = "0.1.0"

__all__ = ["Detector", "DetectResult", "DetectConfig", "ImageError", "WeightsError", "align", "__version__"]
