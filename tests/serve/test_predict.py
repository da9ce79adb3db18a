"""REST API against a real server on loopback: health, predict on real video, and every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from cslr.serve.settings import Settings
from cslr.video import write_video
from tests.serve.conftest import LiveServer

pytestmark = pytest.mark.slow


def test_health_reports_loaded_model(client: httpx.Client) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["model_loaded"] is True
    assert isinstance(body["gpu_available"], bool)
    assert set(body["vocabulary"]) >= {"hello", "thankyou"}


def test_swagger_and_openapi_are_served(client: httpx.Client) -> None:
    assert "swagger" in client.get("/docs").text.lower()
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/health", "/api/inference/predict"} <= set(paths)


def test_predict_real_video_returns_full_result(client: httpx.Client, real_video: Path) -> None:
    with real_video.open("rb") as fh:
        response = client.post("/api/inference/predict", files={"file": ("asl_house.mp4", fh, "video/mp4")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["fps"] == 25.0
    assert body["frame_count"] > 25
    assert {"gloss", "sentence", "confidence", "segments"} <= set(body)
    assert len(body["segments"]) == len(body["gloss"])
    for seg in body["segments"]:
        assert 0 <= seg["start"] < seg["end"] <= body["frame_count"] / body["fps"] + 1e-6
    assert body["timings_ms"]["pose"] > 0


def _post(client: httpx.Client, name: str, content: bytes) -> httpx.Response:
    return client.post("/api/inference/predict", files={"file": (name, content, "application/octet-stream")})


def _assert_error(response: httpx.Response, code: int, needle: str) -> None:
    assert response.status_code == code, response.text
    assert needle in response.json()["detail"].lower()


def test_empty_file_is_422(client: httpx.Client) -> None:
    _assert_error(_post(client, "empty.mp4", b""), 422, "empty")


def test_text_file_named_mp4_is_422(client: httpx.Client) -> None:
    _assert_error(_post(client, "notes.mp4", b"this is not a video\n" * 50), 422, "video")


def test_truncated_video_is_422(client: httpx.Client, real_video: Path) -> None:
    data = real_video.read_bytes()
    _assert_error(_post(client, "cut.mp4", data[: len(data) // 8]), 422, "video")


def test_unknown_extension_is_415(client: httpx.Client) -> None:
    _assert_error(_post(client, "clip.xyz", b"abc"), 415, "unsupported")


def test_upload_over_limit_is_413(client: httpx.Client) -> None:
    _assert_error(_post(client, "big.mp4", b"\0" * (3 * 1024 * 1024)), 413, "limit")


def test_video_without_a_person_is_422(client: httpx.Client, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = [np.full((240, 320, 3), 90 + i, np.uint8) for i in range(40)]
    for frame in frames:  # a moving box on a plain wall: motion, but nobody there
        x = int(rng.integers(0, 280))
        frame[100:140, x : x + 40] = 200
    path = tmp_path / "empty_room.mp4"
    write_video(path, frames, fps=25)
    response = _post(client, "empty_room.mp4", path.read_bytes())
    _assert_error(response, 422, "no person")


def test_server_still_answers_after_bad_input(client: httpx.Client) -> None:
    _post(client, "junk.webm", b"\x1a\x45\xdf\xa3" + b"\xff" * 1000)
    assert client.get("/api/health").json()["status"] == "ok"


def test_predict_without_model_is_503(tmp_path: Path) -> None:
    server = LiveServer(Settings(state_dir=tmp_path), load_model=False).start()
    try:
        with httpx.Client(base_url=server.url) as http:
            assert http.get("/api/health").json()["model_loaded"] is False
            response = http.post("/api/inference/predict", files={"file": ("a.mp4", b"x", "video/mp4")})
            assert response.status_code == 503
    finally:
        server.stop()
