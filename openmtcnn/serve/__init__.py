"""The HTTP service (`openmtcnn serve`): FastAPI on uvicorn, a web page at ``/``; needs the ``serve`` extra.

:func:`~openmtcnn.serve.app.create_app` builds the app around one :class:`~openmtcnn.Detector`
shared by a pool of request threads (:mod:`.queue`), with the body limit and metrics of
:mod:`.limits` and :mod:`.metrics`.
"""

from .app import Settings, create_app

__all__ = ["Settings", "create_app"]
