"""ASGI middleware for operations: request ids and access logs with metrics, body size limit, time-outs.

Pure ASGI (no ``BaseHTTPMiddleware``), so uploads stream through untouched and WebSockets pass.
:func:`install_middleware` puts them, with CORS and the access checks of :mod:`cslr.serve.security`, in
this order (outermost first)::

    RequestContext ─► CORS ─► Access (rate limits, API key) ─► BodySizeLimit ─► Timeout ─► routes
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from typing import Any

from fastapi import FastAPI, HTTPException, status
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cslr.monitoring import REQUEST_ID, observe_request
from cslr.serve.settings import MEGABYTE, Settings

log = logging.getLogger("cslr.serve.access")

REQUEST_ID_HEADER = "x-request-id"
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
UNROUTED = "<unrouted>"
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and part headers around an upload
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
CORS_MAX_AGE_S = 600


async def send_json(send: Send, status_code: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """Answer an HTTP request with ``{"detail": ...}`` (the shape FastAPI uses for errors)."""
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status_code, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: str) -> str | None:
    """The first value of a request header (``name`` lower-case), decoded as latin-1."""
    wanted = name.encode()
    for key, value in scope.get("headers", []):
        if key == wanted:
            return str(value.decode("latin-1"))
    return None


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/training/status/{job_id}``), never the raw path.

    Requests answered before routing (refused, unknown paths) are labelled :data:`UNROUTED`.
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    if route is None or template is None:
        return UNROUTED
    path = str(scope.get("path", ""))
    try:  # an included router's route knows its path without the include prefix: put the prefix back
        concrete = route.url_path_for(route.name, **scope.get("path_params", {}))
    except Exception:  # a route that cannot rebuild its path: keep the template as it is
        return str(template)
    prefix = path[: len(path) - len(concrete)] if path.endswith(concrete) else ""
    return prefix + str(template)


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID``, taken from the client when well-formed), logs one
    structured access line per request and WebSocket, and feeds the request metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = header(scope, REQUEST_ID_HEADER)
        request_id = incoming if incoming and VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        status_code = status.HTTP_500_INTERNAL_SERVER_ERROR

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                id_header = (REQUEST_ID_HEADER.encode(), request_id.encode())
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                self._finish(scope, status_code, time.perf_counter() - start)
            except Exception:  # bookkeeping must never break an answered request
                log.exception("access log / metrics failed")
            REQUEST_ID.reset(token)

    @staticmethod
    def _finish(scope: Scope, status_code: int, seconds: float) -> None:
        route = route_template(scope)
        method = scope.get("method", "WS")
        if scope["type"] == "http":
            observe_request(method, route, status_code, seconds)
        client = scope.get("client") or ("", 0)
        shown = status_code if scope["type"] == "http" else "closed"
        log.info(
            "%s %s %s %.1f ms", method, scope.get("path", ""), shown, seconds * 1000.0,
            extra={"method": method, "path": scope.get("path", ""), "route": route, "status": status_code,
                   "duration_ms": round(seconds * 1000.0, 2), "client": client[0],
                   "api_key_id": scope.get("state", {}).get("api_key_id"), "kind": scope["type"]},
        )


class BodySizeLimitMiddleware:
    """413 before reading a body whose ``Content-Length`` is over the limit; also counts chunked bodies."""

    def __init__(self, app: ASGIApp, max_bytes: int, limit_mb: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limit_mb = limit_mb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = header(scope, "content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            too_large = status.HTTP_413_CONTENT_TOO_LARGE
            await send_json(send, too_large, self._message(), {"connection": "close"})
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return f"request body exceeds the upload limit of {self.limit_mb:g} MB"


class TimeoutMiddleware:
    """504 when an HTTP request takes longer than ``timeout_s`` (WebSockets are not limited)."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.timeout_s <= 0:
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await asyncio.wait_for(self.app(scope, receive, tracking_send), self.timeout_s)
        except TimeoutError:
            log.warning("request timed out after %.0f s", self.timeout_s)
            if started:
                raise
            await send_json(send, status.HTTP_504_GATEWAY_TIMEOUT,
                            f"the request took longer than {self.timeout_s:g} s")


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Add the operational middleware (and the access checks) to ``app`` in the documented order."""
    from cslr.serve.security import AccessMiddleware

    max_body = int(settings.max_upload_mb * MEGABYTE) + MULTIPART_OVERHEAD_BYTES
    # add_middleware puts each new one outside the previous: add innermost first.
    app.add_middleware(TimeoutMiddleware, timeout_s=settings.request_timeout_s)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body, limit_mb=settings.max_upload_mb)
    app.add_middleware(AccessMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, **cors_options(settings))
    app.add_middleware(RequestContextMiddleware)


def cors_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of Starlette's CORS middleware for ``CORS_ORIGINS`` (``*`` = any origin)."""
    any_origin = "*" in settings.cors_origins
    return {
        "allow_origins": ["*"] if any_origin else settings.cors_origins,
        "allow_methods": ["GET", "POST", "DELETE", "OPTIONS"],
        "allow_headers": ["X-API-Key", "Authorization", "Content-Type", "X-Request-ID"],
        "expose_headers": ["X-Request-ID", "Retry-After"],
        "allow_credentials": not any_origin,
        "max_age": CORS_MAX_AGE_S,
    }
