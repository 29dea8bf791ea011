"""Inference: pyramid, cascade stages, runtime backends and the result type."""

from .detector import Detector
from .result import DetectResult

__all__ = ["Detector", "DetectResult"]
