"""A real server on loopback: uvicorn in a thread, serving the real app and the bundled model."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from cslr.serve.app import create_app
from cslr.serve.settings import Settings

STARTUP_TIMEOUT_S = 60.0
HTTP_TIMEOUT_S = 120.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """Runs ``create_app(settings)`` under uvicorn on 127.0.0.1 until :meth:`stop`."""

    def __init__(self, settings: Settings, load_model: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings, load_model=load_model),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ws="websockets-sansio",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.server.started:
                return self
            time.sleep(0.05)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def server_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the shared test server: a small upload limit so the 413 path is cheap to test, and
    its database and state in a temporary folder."""
    return Settings(max_upload_mb=2.0, pose_workers=2, state_dir=tmp_path_factory.mktemp("state"))


@pytest.fixture(scope="session")
def live_server(server_settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(server_settings).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own for one test module, with :func:`tests.serve.ops.ops_settings`."""
    from tests.serve.ops import start_server  # ops imports LiveServer from here

    live = start_server(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))
    yield live
    live.stop()


def http_client(server: LiveServer) -> Iterator[httpx.Client]:
    """The body of a ``client`` fixture: an HTTP client for ``server``."""
    with httpx.Client(base_url=server.url, timeout=HTTP_TIMEOUT_S) as http:
        yield http


@pytest.fixture()
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    yield from http_client(live_server)
