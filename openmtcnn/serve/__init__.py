"""The HTTP service (`openmtcnn serve`): FastAPI on uvicorn, a web page at ``/``; needs the ``serve`` extra.

:func:`~openmtcnn.serve.app.create_app` builds the app around one :class:`~openmtcnn.Detector`
shared by a pool of request threads (:mod:`.queue`), with the body limit and metrics of
:mod:`.limits` and :mod:`.metrics`; :class:`~.settings.Settings` configure it.
"""

from typing import Any

from .settings import Settings

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:  # the app (and FastAPI) only when asked for: Settings need no extra
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
