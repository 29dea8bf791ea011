"""The FastAPI app: POST /v1/detect and /v1/detect/batch, /healthz, /metrics, the web page at /.

One :class:`~openmtcnn.Detector` per process, shared by the worker threads of a bounded
:class:`~.queue.WorkQueue`; decoding and detection run there, off the event loop. Every error
is JSON ``{"error": "..."}``: 400 undecodable, 413 body or image too large, 415 not an image
type, 422 bad parameters, 503 (with ``Retry-After``) when the queue is full.
"""

from __future__ import annotations

import base64
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from ..align import align
from ..config import DetectConfig
from ..imaging import ImageError, ImageTooLarge, decode_image
from .limits import BodyLimit, BodyTooLarge
from .metrics import Metrics, Observe
from .queue import ServerFull, WorkQueue
from .settings import SETTINGS_ENV, Settings

STATIC = Path(__file__).resolve().parent / "static"


class DetectParams(BaseModel):
    """Detection settings of one request (query parameters); left out: the server's."""

    model_config = ConfigDict(extra="forbid")

    min_face_size: float | None = Field(None, ge=10, le=10000, description="smallest face looked for, in pixels")
    scale_factor: float | None = Field(None, ge=0.5, le=0.9, description="pyramid scale step")
    pnet_threshold: float | None = Field(None, ge=0, le=1, description="P-Net face-probability threshold")
    rnet_threshold: float | None = Field(None, ge=0, le=1, description="R-Net face-probability threshold")
    onet_threshold: float | None = Field(None, ge=0, le=1, description="O-Net face-probability threshold")
    pyramid: Literal["chained", "direct"] | None = Field(None, description="how pyramid levels are resized")
    landmark_passes: int | None = Field(None, ge=0, le=4, description="extra O-Net passes for the landmarks")
    crops: bool = Field(False, description="add each face's aligned crop, base64 PNG, as `crop`")
    crop_size: int = Field(112, ge=16, le=512, description="side of the aligned crops, pixels")
    crop_margin: float = Field(0.0, ge=0, lt=0.5, description="context around the face, fraction of the crop on each side")

    def detect_config(self, base: DetectConfig) -> DetectConfig:
        t = [self.pnet_threshold, self.rnet_threshold, self.onet_threshold]
        thresholds = tuple(b if v is None else v for v, b in zip(t, base.thresholds))
        given = {"min_face_size": self.min_face_size, "scale_factor": self.scale_factor, "pyramid": self.pyramid,
                 "landmark_passes": self.landmark_passes}
        return base.with_overrides(thresholds=thresholds, **{k: v for k, v in given.items() if v is not None})


# the request body as OpenAPI shows it (the endpoints read it themselves, to enforce the limits)
IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}},
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"], "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}
            }
        },
    }
}
ERRORS = {code: {"description": what, "content": {"application/json": {"example": {"error": "..."}}}} for code, what in [
    (400, "not a decodable image"), (413, "body or image too large"), (415, "not an image content type"),
    (422, "bad parameters"), (503, "queue full; see Retry-After"),
]}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def png_base64(rgb: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


class Service:
    """The shared state of one process: detector, queue, metrics, settings."""

    def __init__(self, settings: Settings, detector: Any = None):
        from ..detect import Detector
        from ..detect.cascade import weight_bound

        self.settings = settings
        self.own_detector = detector is None  # closed with the app
        self.detector = detector if detector is not None else Detector(settings.weights, settings.config, threads=1)
        # the server's default settings with the weight set's cascade settings filled in (requests start from them)
        self.config = weight_bound(settings.config, self.detector.backend)
        self.metrics = Metrics()
        self.queue = WorkQueue(settings.threads, settings.queue, self.metrics.queue_changed)

    def detect_one(self, name: str, source: str | None, data: bytes, config: DetectConfig, params: DetectParams) -> dict[str, Any]:
        """Decode and detect one image (on a worker thread); :class:`ImageError` for a bad one."""
        rgb = decode_image(data, name, self.settings.config.max_pixels)
        result = self.detector.detect_rgb(rgb, source=source, config=config)
        out = result.to_dict()
        if params.crops and len(result):
            for face, crop in zip(out["faces"], align(rgb, result.landmarks, size=params.crop_size, margin=params.crop_margin)):
                face["crop"] = png_base64(crop)
        self.metrics.images.inc()
        self.metrics.faces.inc(len(result))
        return out

    def detect_many(self, items: list[tuple[str, str | None, bytes]], config: DetectConfig, params: DetectParams) -> list[dict[str, Any]]:
        """Each image in order; one that fails gives ``{"source", "error", "status"}`` and the others go on."""
        out = []
        for name, source, data in items:
            try:
                out.append(self.detect_one(name, source, data, config, params))
            except ImageError as e:
                out.append({"source": source or name, "error": str(e), "status": 413 if isinstance(e, ImageTooLarge) else 400})
        return out

    async def read_images(self, request: Request, many: bool) -> list[tuple[str, str | None, bytes]]:
        """``(name for errors, source, bytes)`` of the image(s) in the body: multipart field ``file``
        (several for ``many``) or, for one image, a raw body with an ``image/*`` content type."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "multipart/form-data":
            form = await request.form(max_files=self.settings.max_files if many else 1, max_fields=16)
            try:
                files = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
                if not files:
                    raise HTTPException(422, "multipart form data without a file in field 'file'")
                return [(f.filename or f"file {i + 1}", f.filename or None, await f.read()) for i, f in enumerate(files)]
            finally:
                await form.close()
        if media.startswith("image/") and not many:
            return [("the request body", None, await request.body())]
        wanted = "multipart/form-data with files in field 'file'" if many else "an image/* body or multipart/form-data with field 'file'"
        raise HTTPException(415, f"content type {media or '(none)'!r} is not accepted: send {wanted}")


def create_app(settings: Settings | None = None, detector: Any = None) -> FastAPI:
    """The app of one server process (``detector``: an existing one to share, else one is loaded)."""
    settings = settings or Settings()
    svc = Service(settings, detector)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        svc.queue.close()
        if svc.own_detector:
            svc.detector.close()

    app = FastAPI(
        title="openmtcnn", version=_version(), lifespan=lifespan,
        description="MTCNN face detection: boxes, scores and five landmarks per face; aligned crops on request.",
    )
    app.state.service = svc

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> JSONResponse:
        return error(e.status_code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def bad_params(request: Request, e: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in err['loc'][1:]) or err['loc'][0]}: {err['msg']}" for err in e.errors()]
        return error(422, "bad parameters: " + "; ".join(parts))

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, e: BodyTooLarge) -> JSONResponse:
        return error(413, str(e), {"connection": "close"})

    @app.exception_handler(ImageError)
    async def bad_image(request: Request, e: ImageError) -> JSONResponse:
        return error(413 if isinstance(e, ImageTooLarge) else 400, str(e))

    @app.exception_handler(ServerFull)
    async def full(request: Request, e: ServerFull) -> JSONResponse:
        return error(503, str(e), {"Retry-After": str(e.retry_after)})

    @app.exception_handler(Exception)
    async def internal(request: Request, e: Exception) -> JSONResponse:
        return error(500, f"internal error: {type(e).__name__}")

    @app.post("/v1/detect", openapi_extra=IMAGE_BODY, responses=ERRORS)
    async def detect(request: Request, params: Annotated[DetectParams, Query()]) -> dict[str, Any]:
        """Faces in one image: `width`, `height`, `faces` (`box` x1 y1 x2 y2, `score`, `landmarks`), as `openmtcnn detect` writes."""
        config = params.detect_config(svc.config)
        [(name, source, data)] = await svc.read_images(request, many=False)
        return await svc.queue.run(svc.detect_one, name, source, data, config, params)

    @app.post("/v1/detect/batch", openapi_extra=BATCH_BODY, responses=ERRORS)
    async def detect_batch(request: Request, params: Annotated[DetectParams, Query()]) -> dict[str, Any]:
        """Faces in several images: `results` in the order sent; one that fails has `error` (and `status`) instead."""
        config = params.detect_config(svc.config)
        items = await svc.read_images(request, many=True)
        return {"results": await svc.queue.run(svc.detect_many, items, config, params)}

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness, the queue's state and the server's default detection settings."""
        q = svc.queue
        return {
            "status": "ok", "threads": q.workers, "running": q.running, "waiting": q.waiting, "queue_limit": q.max_waiting,
            "config": svc.config.to_dict(),
        }

    @app.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        """Prometheus text format."""
        return Response(svc.metrics.render(), media_type=svc.metrics.content_type)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, max_bytes=settings.max_body)
    app.add_middleware(Observe, metrics=svc.metrics)
    return app


def app_from_env() -> FastAPI:
    """The app factory uvicorn calls in each worker process (settings from ``$OPENMTCNN_SERVE_SETTINGS``)."""
    return create_app(Settings.from_json(os.environ[SETTINGS_ENV]))


def _version() -> str:
    from .. import __version__

    return __version__
