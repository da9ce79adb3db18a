"""A real server for the operations tests (health-check script, fuzzing, hostile input).

Each test module starts its own :class:`~tests.serve.conftest.LiveServer` with a small seeded causal model
(so chunk-mode streaming works and the tests do not depend on the bundled model's training), all service
state in a temporary folder, and small limits so the hostile cases stay cheap.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from cslr.config import ExperimentConfig, ModelConfig
from cslr.data.vocab import Vocabulary
from cslr.model.checkpoint import save_checkpoint
from cslr.model.network import CSLRModel
from cslr.serve.settings import Settings
from tests.serve.conftest import LiveServer

UPLOAD_LIMIT_MB = 2.0
MAX_VIDEO_SECONDS = 20.0
TINY_MODEL = {"temporal": "causal", "pose_hidden": 32, "hidden_size": 32, "num_layers": 1}


def write_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """A seeded causal model knowing *hello* and *thankyou*, saved as a checkpoint."""
    torch.manual_seed(seed)
    vocab = Vocabulary.from_glosses(["hello", "thankyou"])
    model = CSLRModel(ModelConfig(vocab_size=len(vocab), **TINY_MODEL)).eval()
    cfg = dataclasses.replace(ExperimentConfig(), model=model.cfg)
    return save_checkpoint(path, model, cfg, vocab)


def ops_settings(root: Path, **overrides: Any) -> Settings:
    """Settings of an operations-test server: tiny model on the CPU, state under ``root``."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "configs").mkdir(exist_ok=True)
    values: dict[str, Any] = {
        "checkpoint": write_tiny_checkpoint(root / "tiny.pt"),
        "device": "cpu",
        "max_upload_mb": UPLOAD_LIMIT_MB,
        "max_video_seconds": MAX_VIDEO_SECONDS,
        "pose_workers": 1,
        "state_dir": root / "state",
        "data_root": root / "data",
        "training_config_root": root / "configs",
        "log_format": "text",
        "log_level": "WARNING",
    }
    return Settings(**{**values, **overrides})


def start_server(root: Path, **overrides: Any) -> LiveServer:
    """A started :class:`LiveServer` with :func:`ops_settings`; the caller stops it."""
    return LiveServer(ops_settings(root, **overrides)).start()


def has_ws_route(server: LiveServer, path: str) -> bool:
    """Whether the server accepts a WebSocket at ``path`` (an unknown path is refused at the handshake)."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(server.url.replace("http", "ws", 1) + path, open_timeout=30):
            return True
    except InvalidStatus:
        return False


def write_clip(path: Path, frames: int = 25, size: tuple[int, int] = (160, 120), fps: int = 25,
               codec: str = "libx264") -> Path:
    """A clip of a moving gradient (nobody in it): ``size`` is (width, height)."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            rgb = np.stack([(x + 3 * i) % 256, (y + i) % 256, np.full_like(x, 100)], -1).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    return path


def jpeg_bytes(width: int = 64, height: int = 48) -> bytes:
    """A small valid JPEG (PyAV's MJPEG encoder)."""
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    rgb = np.full((height, width, 3), 120, np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
    return b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])
