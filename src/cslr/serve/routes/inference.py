"""``POST /api/inference/predict``: a video (or keypoint file) upload in, glosses and a sentence out."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, UploadFile, status
from pydantic import BaseModel

from cslr.pose.io import KEYPOINT_SUFFIXES
from cslr.serve.deps import ServiceDep, SettingsDep
from cslr.serve.routes.speech import speak_wav_async, wav_base64  # issue 7
from cslr.serve.settings import MEGABYTE
from cslr.video import VIDEO_EXTENSIONS

router = APIRouter(prefix="/inference", tags=["inference"])
COPY_CHUNK = MEGABYTE


class SegmentOut(BaseModel):
    gloss: str
    start: float
    end: float
    confidence: float


class PredictionOut(BaseModel):
    gloss: list[str]
    sentence: str
    confidence: float
    frame_count: int
    fps: float
    segments: list[SegmentOut]
    timings_ms: dict[str, float]
    speech_wav_base64: str | None = None  # issue 7: with ?speech=true, the sentence spoken (WAV, base64)


ERRORS = {
    413: {"description": "upload larger than MAX_UPLOAD_MB"},
    415: {"description": "unsupported file type"},
    422: {"description": "unreadable, empty or corrupt video, or no person in it"},
    503: {"description": "model not loaded"},
}


@router.post("/predict", response_model=PredictionOut, responses=ERRORS)  # type: ignore[arg-type]
async def predict(
    file: UploadFile,
    service: ServiceDep,
    settings: SettingsDep,
    speech: bool = False,  # issue 7: speech
) -> PredictionOut:
    """Recognise a signing video (mp4, webm, avi, mov, mkv) or keypoint file (.pose, .npz, .parquet)."""
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in VIDEO_EXTENSIONS | KEYPOINT_SUFFIXES:
        allowed = ", ".join(sorted(VIDEO_EXTENSIONS | KEYPOINT_SUFFIXES))
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"unsupported file type {suffix!r}; use {allowed}"
        )
    with tempfile.TemporaryDirectory(prefix="cslr-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        size = await asyncio.to_thread(_copy_limited, file, path, int(settings.max_upload_mb * MEGABYTE))
        if size == 0:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the uploaded file is empty")
        try:
            result = await service.process_video(path)
        except (ValueError, FileNotFoundError) as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    out = PredictionOut.model_validate(result.to_dict())
    if speech and out.sentence.strip():  # issue 7: ?speech=true adds the spoken sentence
        out.speech_wav_base64 = wav_base64(await speak_wav_async(out.sentence))
    return out


def _copy_limited(upload: UploadFile, path: Path, limit: int) -> int:
    """Copy the upload to ``path``; 413 as soon as it exceeds ``limit`` bytes. Returns the size."""
    size = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(COPY_CHUNK):
            size += len(chunk)
            if size > limit:
                raise HTTPException(
                    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                    f"upload exceeds the limit of {limit / MEGABYTE:g} MB",
                )
            out.write(chunk)
    return size
