"""The settings of one server process (no web framework needed: the command line reads them too)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ..config import DetectConfig
from ..detect.parallel import default_jobs

SETTINGS_ENV = "OPENMTCNN_SERVE_SETTINGS"  # how `openmtcnn serve --workers N` hands the settings to each process

#: the service's detection defaults: the library's, with a lower pixel limit (an image decodes
#: on one of several request threads at once: 40 MP is 120 MB each)
SERVE_CONFIG = DetectConfig(max_pixels=40_000_000)


@dataclass(frozen=True)
class Settings:
    """One server process: weights and default detection settings, worker threads, limits."""

    weights: str | None = None
    config: DetectConfig = SERVE_CONFIG  # the defaults of requests; its max_pixels: the largest image
    threads: int = field(default_factory=default_jobs)  # request threads sharing the detector
    queue: int = 64  # requests that may wait for a thread; more get 503
    max_body: int = 20 * 2**20  # bytes of one request body
    max_files: int = 16  # images in one batch request

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "config": self.config.to_dict()})

    @classmethod
    def from_json(cls, text: str) -> "Settings":
        d = json.loads(text)
        return cls(**{**d, "config": DetectConfig(**d["config"])})
