"""API keys, rate limits, CORS, request ids, body size limit and time-outs, against a real server."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from cslr.cli import main
from cslr.serve.middleware import RequestContextMiddleware, TimeoutMiddleware
from cslr.serve.security import (
    KEY_PATTERN,
    create_key,
    hash_key,
    is_public,
    presented_key,
    verify_key,
)
from cslr.serve.store import Store
from tests.serve.service_helpers import running_server, service_settings

PROTECTED = "/api/training/status"


@pytest.fixture()
def keyed(tmp_path: Path) -> tuple:
    """Settings with API keys on, and the store where keys go."""
    settings = service_settings(tmp_path, api_keys_enabled=True)
    store = Store.open(settings.resolved_database_url)
    yield settings, store
    store.close()


def test_key_format_and_hash_only_stored(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'k.db'}")
    new = create_key(store, "kiosk")
    assert KEY_PATTERN.match(new.secret)
    record = store.get_key(new.record.key_id)
    assert record is not None and record.key_hash == hash_key(new.secret)
    assert new.secret not in repr(store.list_keys())
    assert verify_key(store, new.secret) == record
    assert verify_key(store, new.secret[:-1] + ("A" if new.secret[-1] != "A" else "B")) is None
    assert verify_key(store, "") is None and verify_key(store, None) is None


def test_no_key_wrong_key_revoked_key_are_401_and_health_is_open(keyed: tuple) -> None:
    settings, store = keyed
    good = create_key(store, "client")
    revoked = create_key(store, "old")
    assert store.revoke_key(revoked.record.key_id)
    forged = f"cslr_{good.record.key_id}_{'x' * 43}"  # a real id with the wrong secret
    with running_server(settings) as client:
        assert client.get("/api/health").status_code == 200
        for headers in ({}, {"X-API-Key": "nonsense"}, {"X-API-Key": forged}, {"X-API-Key": revoked.secret}):
            response = client.get(PROTECTED, headers=headers)
            assert response.status_code == 401, headers
            assert "api key" in response.json()["detail"].lower()
            assert response.headers["www-authenticate"] == "X-API-Key"
        assert client.get(PROTECTED, headers={"X-API-Key": good.secret}).status_code == 200
        assert client.get(PROTECTED, headers={"Authorization": f"Bearer {good.secret}"}).status_code == 200
        assert client.get("/metrics").status_code == 401
        # a key revoked while the server runs is refused from the next request on
        store.revoke_key(good.record.key_id)
        assert client.get(PROTECTED, headers={"X-API-Key": good.secret}).status_code == 401


def test_keys_off_by_default(tmp_path: Path) -> None:
    with running_server(service_settings(tmp_path)) as client:
        assert client.get(PROTECTED).status_code == 200


def test_over_the_per_key_limit_is_429_with_retry_after(keyed: tuple) -> None:
    settings, store = keyed
    settings = settings.model_copy(update={"rate_limit_per_key": "3/minute"})
    first, second = create_key(store, "a"), create_key(store, "b")
    with running_server(settings) as client:
        codes = [client.get(PROTECTED, headers={"X-API-Key": first.secret}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = client.get(PROTECTED, headers={"X-API-Key": first.secret})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "rate limit" in refused.json()["detail"]
        assert client.get(PROTECTED, headers={"X-API-Key": second.secret}).status_code == 200  # per key
        assert client.get("/api/health").status_code == 200  # health is never limited


def test_over_the_per_address_limit_is_429(tmp_path: Path) -> None:
    with running_server(service_settings(tmp_path, rate_limit="2/minute")) as client:
        codes = [client.get(PROTECTED).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert int(client.get(PROTECTED).headers["retry-after"]) >= 1


def test_cli_keys_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["keys", "--database-url", url, "create", "front desk"]) == 0
    secret = capsys.readouterr().out.split()[0]
    match = KEY_PATTERN.match(secret)
    assert match
    key_id = match.group(1)
    assert main(["keys", "--database-url", url, "list"]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and "front desk" in listing and "active" in listing and secret not in listing
    assert main(["keys", "--database-url", url, "revoke", key_id]) == 0
    assert main(["keys", "--database-url", url, "revoke", key_id]) == 2  # already revoked
    store = Store.open(url)
    assert verify_key(store, secret) is None
    store.close()


def test_websocket_key_comes_from_query_but_http_needs_a_header() -> None:
    ws_scope = {"type": "websocket", "headers": [], "query_string": b"api_key=cslr_1&x=2"}
    http_scope = {"type": "http", "headers": [], "query_string": b"api_key=cslr_1"}
    assert presented_key(ws_scope) == "cslr_1"
    assert presented_key(http_scope) is None
    assert presented_key({"type": "http", "headers": [(b"x-api-key", b"k")], "query_string": b""}) == "k"


def test_public_paths() -> None:
    paths = ["/api/health", "/static/*"]
    assert is_public("/api/health", paths) and is_public("/static/app.js", paths)
    assert not is_public("/api/health/x", paths) and not is_public("/api/inference/predict", paths)


def test_websocket_handshake_needs_a_key(keyed: tuple) -> None:
    from websockets.sync.client import connect

    settings, store = keyed
    good = create_key(store, "camera")
    with running_server(settings) as client:
        url = str(client.base_url).replace("http", "ws", 1) + "/api/ws/stream"
        for bad in ("", "?api_key=nonsense", f"?api_key={good.secret[:-2]}xx"):
            with pytest.raises(Exception, match=r"403|rejected"):
                connect(url + bad, open_timeout=10).close()
        connect(f"{url}?api_key={good.secret}", open_timeout=10).close()  # browsers: the query parameter
        connect(url, open_timeout=10, additional_headers={"X-API-Key": good.secret}).close()


def test_cors_allows_configured_origin_only(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, cors_origins=["https://captions.example"], api_keys_enabled=True)
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}
    with running_server(settings) as client:
        ok = client.options(PROTECTED, headers={"Origin": "https://captions.example", **preflight})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://captions.example"
        bad = client.options(PROTECTED, headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in bad.headers
        refused = client.get(PROTECTED, headers={"Origin": "https://captions.example"})
        assert refused.status_code == 401  # the browser can read why
        assert refused.headers["access-control-allow-origin"] == "https://captions.example"


def test_request_id_is_echoed_or_made(tmp_path: Path) -> None:
    with running_server(service_settings(tmp_path)) as client:
        echoed = client.get("/api/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        assert echoed == "abc-123"
        made = client.get("/api/health", headers={"X-Request-ID": "bad id here"}).headers["x-request-id"]
        assert made != "bad id here" and len(made) == 32


def test_declared_body_over_the_limit_is_413_before_it_is_sent(tmp_path: Path) -> None:
    with running_server(service_settings(tmp_path, max_upload_mb=1.0)) as client:
        host, port = client.base_url.host, client.base_url.port
        request = (f"POST /api/inference/predict HTTP/1.1\r\nHost: {host}\r\n"
                   "Content-Type: multipart/form-data; boundary=x\r\n"
                   f"Content-Length: {50 * 1024 * 1024}\r\n\r\n").encode()
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(request)  # headers only: the server must answer without waiting for 50 MB
            answer = sock.recv(4096).decode(errors="replace")
        assert answer.startswith("HTTP/1.1 413"), answer
        assert "limit" in answer


def test_slow_request_times_out_with_504() -> None:
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(5)
        return {"never": "sent"}

    app.add_middleware(TimeoutMiddleware, timeout_s=0.2)
    app.add_middleware(RequestContextMiddleware)

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/slow")

    response = asyncio.run(call())
    assert response.status_code == 504
    assert "longer than" in response.json()["detail"]
    assert response.headers["x-request-id"]
