"""``POST /api/tts``: English text in, a WAV file out, spoken offline (espeak-ng)."""

from __future__ import annotations

import base64
import tempfile
import threading
from pathlib import Path

import anyio
from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field

from cslr.language.speech import DEFAULT_RATE_WPM, Engine, SpeechUnavailableError, synthesize
from cslr.serve.deps import SettingsDep

router = APIRouter(tags=["speech"])

WAV_MEDIA_TYPE = "audio/wav"
MIN_RATE_WPM, MAX_RATE_WPM = 80, 450
SERVER_ENGINE: Engine = "espeak-ng"  # a subprocess per call: thread-safe, unlike pyttsx3's shared driver
_speech_lock = threading.Lock()


class SpeechIn(BaseModel):
    text: str = Field(min_length=1, examples=["Hello, thank you!"])
    rate_wpm: int = Field(default=DEFAULT_RATE_WPM, ge=MIN_RATE_WPM, le=MAX_RATE_WPM)


ERRORS = {
    200: {"content": {WAV_MEDIA_TYPE: {}}, "description": "the speech, a WAV file"},
    413: {"description": "text longer than MAX_TTS_CHARS"},
    422: {"description": "empty text"},
    503: {"description": "no offline speech engine installed"},
}


def speak_wav(text: str, rate_wpm: int = DEFAULT_RATE_WPM) -> bytes:
    """``text`` spoken as WAV bytes (blocking); ``ValueError`` when empty, ``SpeechUnavailableError``."""
    with tempfile.TemporaryDirectory(prefix="cslr-tts-") as tmp, _speech_lock:
        path = synthesize(text, Path(tmp) / "speech.wav", engine=SERVER_ENGINE, rate_wpm=rate_wpm)
        return path.read_bytes()


async def speak_wav_async(text: str, rate_wpm: int = DEFAULT_RATE_WPM) -> bytes:
    """:func:`speak_wav` in a worker thread, errors mapped to HTTP (422 empty, 503 no engine)."""
    try:
        return await anyio.to_thread.run_sync(speak_wav, text, rate_wpm)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except (SpeechUnavailableError, ImportError) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc


def wav_base64(wav: bytes) -> str:
    """WAV bytes as base64 text, for JSON answers."""
    return base64.b64encode(wav).decode("ascii")


@router.post("/tts", response_class=Response, responses=ERRORS)  # type: ignore[arg-type]
async def tts(body: SpeechIn, settings: SettingsDep) -> Response:
    """Speak ``text`` (offline, espeak-ng) and return a WAV file."""
    if len(body.text) > settings.max_tts_chars:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"text longer than the limit of {settings.max_tts_chars} characters")
    if not body.text.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "nothing to speak: the text is empty")
    wav = await speak_wav_async(body.text, body.rate_wpm)
    return Response(content=wav, media_type=WAV_MEDIA_TYPE,
                    headers={"Content-Disposition": 'inline; filename="speech.wav"'})
