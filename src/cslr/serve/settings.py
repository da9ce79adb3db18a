"""Server and inference settings, read from the environment or a ``.env`` file (names as in the spec).

Never built at import: the app receives a :class:`Settings` through :func:`get_settings` or
``create_app(settings)``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MEGABYTE = 1024 * 1024


class Settings(BaseSettings):
    """Every knob of the service. Environment variables use the upper-case field names."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    checkpoint: Path | None = Field(default=None, description="model checkpoint; None = the bundled model")
    device: Literal["cpu", "cuda", "auto"] = "auto"
    use_amp: bool = False
    batch_size: int = Field(default=8, ge=1)
    clip_length: int = Field(default=64, ge=1, description="frames per window in the sliding-window mode")
    window_stride: int = Field(default=32, ge=1, description="frames between windows in the window mode")
    target_fps: float = Field(default=25.0, gt=0)
    frame_skip: int = Field(default=0, ge=0, description="keep every (FRAME_SKIP+1)-th frame; 0 = all")
    motion_threshold: float = Field(default=0.0, ge=0, description="drop near-static frames; 0 = off")
    pose_workers: int = Field(default=2, ge=1, description="processes extracting pose from a video file")
    beam_width: int = Field(default=1, ge=1, description="1 = greedy decoding")
    sign_language: Literal["asl", "isl"] = "asl"
    max_upload_mb: float = Field(default=100.0, gt=0)
    max_video_seconds: float = Field(default=300.0, gt=0)
    log_level: str = "INFO"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once on first use."""
    return Settings()
