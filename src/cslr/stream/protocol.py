"""The live-caption WebSocket protocol (``/api/ws/stream``): parsing client messages, building replies.

Pure functions, no I/O; the schema of every message is in ``docs/stream-protocol.schema.json`` and the
prose in ``docs/streaming.md``. Client → server text messages are JSON objects with a ``type``:
``frame`` (base64 JPEG/PNG, as in the original spec), ``keypoints`` (75 points per frame, for clients
that run pose themselves), ``config``, ``reset``, ``end``; a binary message is one JPEG/PNG frame.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from cslr.pose.keypoints import NUM_POINTS

MESSAGE_TYPES = ("frame", "keypoints", "config", "reset", "end")
CONFIG_KEYS = frozenset(
    {"mode", "send_pose", "sign_language", "endpoint_ms", "chunk_frames", "lookahead_frames"}
)
MAX_KEYPOINT_FRAMES_PER_MESSAGE = 64
POSE_DECIMALS = 4


class ProtocolError(ValueError):
    """A client message that cannot be used; ``code`` is sent back in the ``error`` message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class FrameMsg:
    """An encoded image (JPEG/PNG bytes) with the client's sequence number (None: server counts)."""

    data: bytes
    seq: int | None = None


@dataclass(frozen=True)
class KeypointsMsg:
    """``xyz (n, 75, 3)`` and ``conf (n, 75)`` float32; ``seq`` numbers the first of the n frames."""

    xyz: np.ndarray
    conf: np.ndarray
    seq: int | None = None


@dataclass(frozen=True)
class ControlMsg:
    """``config`` (with its options), ``reset`` or ``end``."""

    type: str
    options: dict[str, Any]


Message = FrameMsg | KeypointsMsg | ControlMsg


def parse_message(raw: str | bytes) -> Message:
    """One WebSocket message → a typed message; :class:`ProtocolError` when it is malformed."""
    if isinstance(raw, bytes):
        return FrameMsg(raw)
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ProtocolError("bad_json", f"message is not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise ProtocolError("bad_json", "message is nested too deeply") from None
    if not isinstance(obj, dict) or obj.get("type") not in MESSAGE_TYPES:
        raise ProtocolError("bad_type", f"a message must be an object with a type in {list(MESSAGE_TYPES)}")
    seq = _seq(obj.get("seq"))
    if obj["type"] == "frame":
        return FrameMsg(_image_bytes(obj.get("data")), seq)
    if obj["type"] == "keypoints":
        xyz, conf = _keypoints(obj)
        return KeypointsMsg(xyz, conf, seq)
    options = {k: v for k, v in obj.items() if k not in ("type", "seq")}
    if obj["type"] == "config" and (unknown := set(options) - CONFIG_KEYS):
        raise ProtocolError("bad_config", f"unknown config keys {sorted(unknown)}; use {sorted(CONFIG_KEYS)}")
    return ControlMsg(obj["type"], options)


def _seq(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError("bad_seq", "seq must be an integer")
    return value


def _image_bytes(data: Any) -> bytes:
    """Base64 text (optionally a ``data:image/...;base64,`` URL) → bytes."""
    if not isinstance(data, str) or not data:
        raise ProtocolError("bad_frame", "frame.data must be a non-empty base64 string")
    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("bad_frame", "frame.data is not valid base64") from None


def _keypoints(obj: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``xyz`` ``(75, 3)`` or ``(n, 75, 3)``; ``conf`` ``(75,)`` / ``(n, 75)`` (default 1 = detected)."""
    try:
        xyz = np.asarray(obj.get("xyz"), dtype=np.float32)
        conf = np.asarray(obj["conf"], dtype=np.float32) if obj.get("conf") is not None else None
    except (TypeError, ValueError):
        raise ProtocolError("bad_keypoints", "xyz and conf must be arrays of numbers") from None
    if xyz.ndim == 2:
        xyz = xyz[None]
    if xyz.ndim != 3 or xyz.shape[1:] != (NUM_POINTS, 3):
        raise ProtocolError("bad_keypoints", f"xyz must be ({NUM_POINTS}, 3) or (n, {NUM_POINTS}, 3)")
    if not 1 <= len(xyz) <= MAX_KEYPOINT_FRAMES_PER_MESSAGE:
        raise ProtocolError("bad_keypoints", f"1 to {MAX_KEYPOINT_FRAMES_PER_MESSAGE} frames per message")
    if conf is None:
        conf = np.isfinite(xyz).all(axis=-1).astype(np.float32)
    conf = conf.reshape(-1, NUM_POINTS) if conf.size == xyz.shape[0] * NUM_POINTS else None
    if conf is None:
        raise ProtocolError("bad_keypoints", f"conf must have {NUM_POINTS} values per frame")
    return xyz, conf


def message(kind: str, **fields: Any) -> str:
    """A server → client JSON message of type ``kind``."""
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


def pose_message(frame: int, seq: int | None, xyz: np.ndarray, conf: np.ndarray) -> str:
    """The skeleton of one frame for drawing: ``xy`` ``(75, 2)`` and ``conf`` ``(75,)``, rounded."""
    return message("pose", frame=frame, seq=seq, xy=np.round(xyz[:, :2], POSE_DECIMALS).tolist(),
                   conf=np.round(conf, 2).tolist())
