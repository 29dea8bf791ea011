"""Inference: pyramid, cascade stages, runtime backends, the result type and multi-process runs over files."""

from .cascade import StageTimer
from .detector import Detector
from .parallel import FileResult, detect_files
from .result import DetectResult

__all__ = ["Detector", "DetectResult", "FileResult", "StageTimer", "detect_files"]
