"""Inputs and outputs of detection runs: sources (files, folders, videos, streams) and sinks
(JSON Lines with resume, drawings, crops), shared by the command line and other front ends."""

from .sinks import JsonlWriter, OutputError, OutputFolders, read_complete_lines, record_key, save_image
from .sources import Input, InputError, Inputs, collect_inputs, crop_stems

__all__ = [
    "Input",
    "InputError",
    "Inputs",
    "JsonlWriter",
    "OutputError",
    "OutputFolders",
    "collect_inputs",
    "crop_stems",
    "read_complete_lines",
    "record_key",
    "save_image",
]
