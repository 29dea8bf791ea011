"""Request body limit: a body over the limit is refused (413) without being read to its end."""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BodyTooLarge(Exception):
    """The request body is larger than the server takes."""

    def __init__(self, limit: int, size: int | None = None):
        said = f"{size} bytes" if size is not None else "more bytes"
        super().__init__(f"request body too large: {said}, the limit is {limit} bytes")


async def send_json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    """A complete JSON response from plain ASGI (for middleware that answers before the app)."""
    data = json.dumps(body).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), (b"connection", b"close")]
    hdrs += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """ASGI middleware: a declared ``Content-Length`` over ``max_bytes`` gets 413 before any of the
    body is read; a body that runs past it without one (chunked) raises :class:`BodyTooLarge` from
    ``receive`` as soon as it does, which the app answers with 413."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return await send_json(send, 400, {"error": f"bad Content-Length header: {length.decode(errors='replace')!r}"})
            if size > self.max_bytes:
                return await send_json(send, 413, {"error": str(BodyTooLarge(self.max_bytes, size))})
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)
