"""Helpers for the production-service tests: a live server with its own state folder, and polling."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from cslr.serve.settings import Settings
from tests.serve.conftest import LiveServer

T = TypeVar("T")
POLL_S = 0.2


def service_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings whose database and jobs live under ``tmp_path`` (never in the working tree)."""
    values: dict[str, Any] = {"state_dir": tmp_path / "state", "data_root": tmp_path / "data",
                              "training_poll_s": 0.5, "log_format": "text"}
    values.update(overrides)
    return Settings(**values)


@contextmanager
def running_server(settings: Settings, load_model: bool = False) -> Iterator[httpx.Client]:
    """A real uvicorn server on loopback for ``settings``, and a client for it."""
    server = LiveServer(settings, load_model=load_model).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60.0) as client:
            yield client
    finally:
        server.stop()


def wait_for(check: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """Call ``check`` until it returns something truthy; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(POLL_S)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
