"""``POST /api/tts`` and ``predict?speech=true``: offline speech as WAV."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest

from tests.serve.service_helpers import running_server, service_settings

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng is not installed (apt-get install espeak-ng)")


def _is_wav(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) > 1000


def test_tts_returns_a_wav(tmp_path: Path) -> None:
    with running_server(service_settings(tmp_path)) as client:
        response = client.post("/api/tts", json={"text": "Hello, thank you!"})
        slow = client.post("/api/tts", json={"text": "Hello, thank you!", "rate_wpm": 100})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert _is_wav(response.content)
    assert len(slow.content) > len(response.content)  # slower speech, longer audio


def test_tts_refuses_empty_and_overlong_text(tmp_path: Path) -> None:
    with running_server(service_settings(tmp_path, max_tts_chars=50)) as client:
        assert client.post("/api/tts", json={"text": ""}).status_code == 422
        assert client.post("/api/tts", json={"text": "   "}).status_code == 422
        assert client.post("/api/tts", json={"text": "word " * 20}).status_code == 413
        assert client.post("/api/tts", json={"words": "hi"}).status_code == 422


@pytest.mark.slow
def test_predict_can_return_speech(tmp_path: Path, real_video: Path) -> None:
    with running_server(service_settings(tmp_path), load_model=True) as client, real_video.open("rb") as fh:
        video = fh.read()
        files = {"file": ("asl_house.mp4", video, "video/mp4")}
        plain = client.post("/api/inference/predict", files=files)
        spoken = client.post("/api/inference/predict", params={"speech": "true"}, files=files)
    assert plain.status_code == 200 and spoken.status_code == 200, spoken.text
    assert plain.json().get("speech_wav_base64") is None
    body = spoken.json()
    if body["sentence"].strip():
        assert _is_wav(base64.b64decode(body["speech_wav_base64"]))
    else:
        assert body["speech_wav_base64"] is None
