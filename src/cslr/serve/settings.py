"""Server and inference settings, read from the environment or a ``.env`` file (names as in the spec).

Never built at import: the app receives a :class:`Settings` through :func:`get_settings` or
``create_app(settings)``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MEGABYTE = 1024 * 1024
DATABASE_FILE = "cslr.db"
DEFAULT_PUBLIC_PATHS = (
    "/api/health", "/", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/static/*",
)


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
    # --- live streaming (issue 6): WS /api/ws/stream modes and limits ---
    stream_mode: Literal["auto", "chunk", "window"] = Field(
        default="auto", description="live mode; auto = chunk for a causal model, else the 64/32 window"
    )
    stream_chunk_frames: int = Field(default=4, ge=1, description="frames per model step in chunk mode")
    stream_lookahead_frames: int = Field(default=4, ge=0, description="frames waited for before featurising")
    stream_endpoint_ms: float = Field(default=1000.0, gt=0, description="no new gloss this long commits")
    stream_max_connections: int = Field(default=64, ge=1, description="live connections at once")
    stream_max_message_kb: float = Field(default=512.0, gt=0, description="largest WebSocket message")
    stream_max_queued_frames: int = Field(default=50, ge=1, description="frames waiting for the model")
    stream_max_pose_backlog: int = Field(
        default=6, ge=1, description="images waiting for server-side pose; older ones are skipped"
    )
    stream_max_fps: float = Field(default=30.0, gt=0, description="frames per second per connection")
    stream_pose_threads: int = Field(default=2, ge=1, description="threads running server-side pose")
    stream_max_batch: int = Field(default=64, ge=1, description="most streams in one batched model step")
    stream_send_queue: int = Field(default=64, ge=1, description="messages queued for a slow client")
    # --- end issue 6 ---

    # --- inference backend (issue 7, export) ---
    backend: Literal["torch", "onnx"] = Field(default="torch", description="model runtime: torch or onnx")
    onnx_model: Path | None = Field(
        default=None, description="exported .onnx for BACKEND=onnx; None = export CHECKPOINT once, cached"
    )
    # --- end inference backend ---
    # --- production service (issue 7): security, database, training jobs, operations ---
    log_format: Literal["json", "text"] = Field(default="json", description="JSON lines, or plain text")
    api_keys_enabled: bool = Field(default=False, description="require an API key on every route but health")
    public_paths: Annotated[list[str], NoDecode] = Field(
        default=list(DEFAULT_PUBLIC_PATHS),
        description="open without a key when keys are enabled (comma-separated; a trailing * = prefix)",
    )
    state_dir: Path = Field(default=Path(".cslr"), description="the service's files: database, training jobs")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; None = SQLite at STATE_DIR/cslr.db (PostgreSQL: fleet)"
    )
    rate_limit: str = Field(default="", description="per client address, e.g. '120/minute;2000/hour'; ''=off")
    rate_limit_per_key: str = Field(default="", description="per API key, same syntax; '' = off")
    rate_limit_storage: str = Field(default="memory://", description="limits storage; redis://... (fleet)")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=[], description="origins allowed by CORS (comma-separated; '*' = any); empty = CORS off"
    )
    request_timeout_s: float = Field(default=300.0, ge=0, description="HTTP request time-out (504); 0 = none")
    data_root: Path = Field(default=Path("data"), description="training data_dir must lie inside this folder")
    training_config_root: Path = Field(default=Path("configs"), description="named training configs (YAML)")
    training_max_jobs: int = Field(default=1, ge=1, description="training jobs running at once on this host")
    training_max_nproc: int = Field(default=8, ge=1, description="most processes a job may ask (torchrun)")
    training_poll_s: float = Field(default=2.0, gt=0, description="how often job processes are checked")
    max_tts_chars: int = Field(default=2000, ge=1, description="longest text POST /api/tts accepts")

    @field_validator("public_paths", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        """Accept ``a,b,c`` from the environment as well as a list."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        """``DATABASE_URL``, or SQLite in ``STATE_DIR``."""
        return self.database_url or f"sqlite:///{(self.state_dir / DATABASE_FILE).resolve()}"
    # --- end issue 7 ---


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once on first use."""
    return Settings()
