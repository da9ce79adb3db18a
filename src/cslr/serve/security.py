"""API keys and the access checks every request passes (rate limits, then the key).

A key looks like ``cslr_<id>_<secret>``: the id (8 hex digits) finds the row, the secret is 32 random bytes.
Only the SHA-256 of the whole key is stored; the presented key's hash is compared with
:func:`hmac.compare_digest` (constant time), and an unknown id is compared against a dummy hash so both
paths take the same time. SHA-256 suits keys of 256 random bits; slow password hashes guard low-entropy
secrets and would cost every request milliseconds.

Keys are off by default (``API_KEYS_ENABLED=false``). When on, every path but ``PUBLIC_PATHS`` needs a key:
header ``X-API-Key`` (or ``Authorization: Bearer <key>``); for WebSockets, which browsers cannot give
headers, also the query parameter ``api_key``. The stream route does not need to check anything itself:
:class:`AccessMiddleware` refuses the handshake (close code 1008) before the route runs. Code that wants the
caller's key id reads :func:`api_key_id`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs

import anyio
from fastapi import Depends, HTTPException, Request, status
from fastapi.websockets import WebSocket
from starlette.types import ASGIApp, Receive, Scope, Send

from cslr.serve.middleware import header, send_json
from cslr.serve.ratelimit import RateLimiter, Verdict
from cslr.serve.settings import Settings
from cslr.serve.store import ApiKeyRecord, Store

log = logging.getLogger("cslr.serve.security")

KEY_PREFIX = "cslr"
KEY_ID_BYTES = 4
KEY_SECRET_BYTES = 32
KEY_PATTERN = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{{2 * KEY_ID_BYTES}}})_[A-Za-z0-9_-]{{20,100}}$")
API_KEY_HEADER = "x-api-key"
API_KEY_QUERY = "api_key"
BEARER = "bearer "
DUMMY_HASH = hashlib.sha256(b"cslr-no-such-key").hexdigest()
RATE_LIMIT_EXEMPT = frozenset({"/api/health"})
WS_POLICY_VIOLATION = 1008
WS_TRY_AGAIN_LATER = 1013
TIME_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class NewKey:
    """A freshly created key: ``secret`` is the full key, shown once and never stored."""

    record: ApiKeyRecord
    secret: str


def hash_key(key: str) -> str:
    """SHA-256 (hex) of a full key."""
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> tuple[str, str]:
    """A new ``(key_id, key)`` pair."""
    key_id = secrets.token_hex(KEY_ID_BYTES)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(KEY_SECRET_BYTES)}"


def create_key(store: Store, name: str) -> NewKey:
    """Make a key named ``name``, store its hash, and return it (the only time the key is visible)."""
    name = name.strip()
    if not name:
        raise ValueError("a key needs a name (who or what uses it)")
    key_id, key = generate_key()
    return NewKey(store.insert_key(key_id, name, hash_key(key)), key)


def verify_key(store: Store, presented: str | None) -> ApiKeyRecord | None:
    """The active key record matching ``presented``, else None; the comparison is constant-time."""
    match = KEY_PATTERN.match(presented or "")
    record = store.get_key(match.group(1)) if match else None
    expected = record.key_hash if record else DUMMY_HASH
    equal = hmac.compare_digest(hash_key(presented or ""), expected)
    if record is None or not equal or not record.active:
        return None
    store.touch_key(record)
    return record


def presented_key(scope: Scope) -> str | None:
    """The key a request carries: ``X-API-Key``, ``Authorization: Bearer``, or ``?api_key=`` (WebSocket)."""
    key = header(scope, API_KEY_HEADER)
    authorization = header(scope, "authorization") or ""
    if key is None and authorization.lower().startswith(BEARER):
        key = authorization[len(BEARER):].strip()
    if key is None and scope["type"] == "websocket":
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(API_KEY_QUERY)
        key = values[0] if values else None
    return key


def is_public(path: str, public_paths: list[str]) -> bool:
    """Whether ``path`` is open without a key (entries ending in ``*`` are prefixes)."""
    return any(path.startswith(p[:-1]) if p.endswith("*") else path == p for p in public_paths)


def client_address(scope: Scope) -> str:
    """The client's address (behind a proxy, run uvicorn with ``--proxy-headers`` to get the real one)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def api_key_id(connection: Request | WebSocket) -> str | None:
    """Id of the key the request was authenticated with (None when keys are off or the path is public)."""
    key_id: str | None = connection.scope.get("state", {}).get("api_key_id")
    return key_id


def require_api_key(request: Request) -> str | None:
    """Dependency: 401 unless the request passed the key check (a second line behind the middleware)."""
    settings: Settings = request.app.state.settings
    if settings.api_keys_enabled and api_key_id(request) is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid API key is required",
                            headers={"WWW-Authenticate": "X-API-Key"})
    return api_key_id(request)


ApiKeyDep = Annotated[str | None, Depends(require_api_key)]


class AccessMiddleware:
    """Per-address rate limit, then the API key (when enabled), then the per-key rate limit.

    HTTP refusals are JSON: 401 (no, unknown or revoked key), 429 with ``Retry-After``. A refused
    WebSocket handshake is closed before it is accepted (1008 for the key, 1013 over the limit).
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.limiter = RateLimiter(
            settings.rate_limit, settings.rate_limit_per_key, settings.rate_limit_storage
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limited = self.limiter.enabled and path not in RATE_LIMIT_EXEMPT
        if limited and not await self._allowed(scope, send, "address", client_address(scope)):
            return
        if self.settings.api_keys_enabled and not is_public(path, self.settings.public_paths):
            record = await self._authenticate(scope)
            if record is None:
                await self._refuse_key(scope, send)
                return
            scope.setdefault("state", {})["api_key_id"] = record.key_id
            if limited and not await self._allowed(scope, send, "key", record.key_id):
                return
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> ApiKeyRecord | None:
        store: Store | None = getattr(scope["app"].state, "store", None)
        if store is None:  # the database is not open: refuse rather than let anyone in
            log.error("API keys are enabled but the database is not open")
            return None
        return await anyio.to_thread.run_sync(verify_key, store, presented_key(scope))

    async def _allowed(self, scope: Scope, send: Send, kind: str, identity: str) -> bool:
        verdict = await self.limiter.hit(kind, identity)
        if not verdict.allowed:
            log.warning("rate limit %s exceeded by %s %s", verdict.limit, kind, identity)
            await _refuse_rate(scope, send, verdict)
        return verdict.allowed

    @staticmethod
    async def _refuse_key(scope: Scope, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": "API key required"})
            return
        await send_json(send, status.HTTP_401_UNAUTHORIZED,
                        "a valid API key is required (header X-API-Key)", {"WWW-Authenticate": "X-API-Key"})


async def _refuse_rate(scope: Scope, send: Send, verdict: Verdict) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": WS_TRY_AGAIN_LATER, "reason": "rate limit exceeded"})
        return
    await send_json(send, status.HTTP_429_TOO_MANY_REQUESTS,
                    f"rate limit exceeded ({verdict.limit}); retry in {verdict.retry_after_s} s",
                    {"Retry-After": str(verdict.retry_after_s), "X-RateLimit-Limit": verdict.limit})


def run_keys_command(action: str, argument: str | None, database_url: str | None = None) -> str:
    """``cslr keys create NAME | list | revoke KEY_ID``: the text to print. ``LookupError``: unknown id."""
    store = Store.open(database_url or Settings().resolved_database_url)
    try:
        if action == "create":
            new = create_key(store, argument or "")
            return f"{new.secret}\n(key id {new.record.key_id}, name {new.record.name!r}: store it now, " \
                   "it is not shown again)"
        if action == "list":
            return "\n".join(_describe(k) for k in store.list_keys()) or "(no keys)"
        if action == "revoke":
            if not store.revoke_key(argument or ""):
                raise LookupError(f"no active key with id {argument!r}")
            return f"revoked {argument}"
        raise ValueError(f"unknown keys action {action!r}")
    finally:
        store.close()


def _describe(record: ApiKeyRecord) -> str:
    state = "active" if record.active else "revoked"
    used = _when(record.last_used_at) if record.last_used_at else "never"
    return f"{record.key_id}  {state:7}  created {_when(record.created_at)}  last used {used}  {record.name}"


def _when(timestamp: float) -> str:
    return time.strftime(TIME_FORMAT, time.localtime(timestamp))
