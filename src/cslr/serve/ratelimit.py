"""Rate limits per client address and per API key, on the ``limits`` library (the engine under slowapi).

Limits use its syntax, several joined by ``;`` (``"120/minute;2000/hour"``), counted in a moving window.
Storage is in memory by default; a URI such as ``redis://host:6379`` shares the counts across a fleet.
slowapi itself is decorator-centred with one key function per limiter; the service needs two keys (address
and API key) checked in one place that also covers WebSocket handshakes, so it calls ``limits`` directly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

ASYNC_SCHEME_PREFIX = "async+"
MIN_RETRY_AFTER_S = 1


@dataclass(frozen=True)
class Verdict:
    """Outcome of one check: allowed, or refused with the seconds to wait and the limit that refused."""

    allowed: bool
    retry_after_s: int = 0
    limit: str = ""


ALLOWED = Verdict(allowed=True)


class RateLimiter:
    """Moving-window limits for two kinds of identity: ``address`` and ``key``.

    Args:
        per_address: limits for each client address (``""`` = none).
        per_key: limits for each API key (``""`` = none).
        storage_uri: a ``limits`` storage URI (``memory://``, ``redis://...``).
    """

    def __init__(self, per_address: str, per_key: str, storage_uri: str = "memory://") -> None:
        self.limits: dict[str, list[RateLimitItem]] = {
            "address": parse_many(per_address) if per_address.strip() else [],
            "key": parse_many(per_key) if per_key.strip() else [],
        }
        self._storage: Storage | None = None
        self._storage_uri = storage_uri
        self._limiter: MovingWindowRateLimiter | None = None

    @property
    def enabled(self) -> bool:
        """True when any limit is configured."""
        return any(self.limits.values())

    def _strategy(self) -> MovingWindowRateLimiter:
        if self._limiter is None:
            uri = self._storage_uri
            uri = uri if uri.startswith(ASYNC_SCHEME_PREFIX) else ASYNC_SCHEME_PREFIX + uri
            storage = storage_from_string(uri)
            if not isinstance(storage, Storage):
                raise ValueError(f"rate limit storage {self._storage_uri!r} has no asyncio driver")
            self._storage = storage
            self._limiter = MovingWindowRateLimiter(storage)
        return self._limiter

    async def hit(self, kind: str, identity: str) -> Verdict:
        """Count one request by ``identity`` (an address or key id) against the ``kind`` limits."""
        limiter = self._strategy() if self.limits[kind] else None
        for item in self.limits[kind]:
            if limiter is not None and not await limiter.hit(item, kind, identity):
                stats = await limiter.get_window_stats(item, kind, identity)
                wait = max(MIN_RETRY_AFTER_S, math.ceil(stats.reset_time - time.time()))
                return Verdict(allowed=False, retry_after_s=wait, limit=str(item))
        return ALLOWED
