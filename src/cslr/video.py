"""Decode videos, byte strings and frame folders into RGB frames at a fixed frame rate.

Every source is read with PyAV (FFmpeg), so any common container/codec works: mp4/H.264, webm/VP9,
avi/MJPEG, mov, mkv. Frames are picked by their presentation timestamp onto a regular grid of
``fps`` frames a second (``t_k = k / fps``): each grid time takes the frame on screen at that moment.
This handles variable frame rate, duplicates frames when the source is slower than ``fps`` and drops
them when it is faster; a stream without timestamps or fps metadata is assumed to run at
:data:`FALLBACK_SOURCE_FPS`.

After resampling, two optional filters run in this order (both off by default):

- ``frame_skip=n`` keeps every (n+1)-th frame; the output frame rate becomes ``fps / (n + 1)``.
- ``motion_threshold=x`` drops near-static frames: those whose mean absolute grey-level difference
  (0-255 scale) to the last kept frame is below ``x``. The nominal fps is unchanged; the kept frames'
  ``timestamps`` tell the real times.

Damaged input: a file that cannot be opened as a video, or that yields no frame, raises
:class:`VideoError`. A truncated or partly corrupt video whose first frames decode is returned up to the
last decodable frame, with a :class:`TruncatedVideoWarning`: a partial clip is more useful to a signer
than none, and the warning says what happened. Sizes are bounded before decoding: frames larger than
``max_side`` on either side and videos longer than ``max_seconds`` are refused.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cslr.pose.keypoints import DEFAULT_FPS

Source = str | os.PathLike[str] | bytes
Frame = np.ndarray  # (H, W, 3) uint8 RGB

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".ogv"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
MAX_SIDE = 4096  # refuse frames wider or taller than this (pixels)
MAX_SECONDS = 1800.0  # refuse videos longer than this (30 minutes; 45,000 frames at 25 fps)
FALLBACK_SOURCE_FPS = DEFAULT_FPS  # assumed rate of a stream without timestamps or fps metadata
GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 luma
TIME_EPS = 1e-6  # seconds; absorbs float rounding when matching timestamps to the grid
LAST_FRAME_SLACK = 1e-3  # seconds; millisecond time bases (webm) round the last frame's start late
TRUNCATION_TOLERANCE = 2  # frames fewer than declared before a video counts as truncated


class VideoError(ValueError):
    """Input that cannot be turned into frames: the message says why, for the user."""


class TruncatedVideoWarning(UserWarning):
    """Part of a video could not be decoded; the frames before the damage are returned."""


@dataclass(frozen=True)
class Clip:
    """Decoded RGB frames at a regular frame rate.

    Attributes:
        frames: uint8 ``(T, H, W, 3)`` RGB.
        fps: frame rate of ``frames`` (the target fps, divided by ``frame_skip + 1``).
        source_fps: declared (or assumed) frame rate of the source.
        timestamps: float64 ``(T,)`` seconds from the start of the source, one per frame.
    """

    frames: np.ndarray
    fps: float
    source_fps: float
    timestamps: np.ndarray

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds at ``fps``."""
        return len(self) / self.fps


@dataclass(frozen=True)
class VideoInfo:
    """What a container declares about its video stream (nothing decoded).

    Attributes:
        width, height: frame size in pixels.
        fps: declared frame rate, or :data:`FALLBACK_SOURCE_FPS` when the container has none.
        duration: declared length in seconds, or ``None`` when unknown.
    """

    width: int
    height: int
    fps: float
    duration: float | None

    def estimated_frames(self, fps: float | None = DEFAULT_FPS) -> int | None:
        """Number of frames after resampling to ``fps`` (``None`` keeps the source rate), if known."""
        if self.duration is None:
            return None
        return round(self.duration * (fps or self.fps))


# ---------------------------------------------------------------------------------------------- public


def read_video(
    source: Source,
    fps: float | None = DEFAULT_FPS,
    frame_skip: int = 0,
    motion_threshold: float = 0.0,
    max_seconds: float = MAX_SECONDS,
    max_side: int = MAX_SIDE,
    *,
    allow_truncated: bool = True,
) -> Clip:
    """Decode a whole video file, byte string or frame folder into a :class:`Clip`.

    Args:
        source: path to a video file or a folder of images, or the bytes of a video file.
        fps: target frame rate; ``None`` keeps every source frame (no resampling).
        frame_skip: keep every (n+1)-th frame after resampling (0 = all).
        motion_threshold: drop frames whose mean absolute grey difference to the last kept one is
            below this (0-255 scale; 0 = off).
        max_seconds: refuse videos longer than this (declared or decoded length).
        max_side: refuse frames wider or taller than this.
        allow_truncated: return the frames before the damage of a truncated video (with a
            :class:`TruncatedVideoWarning`); ``False`` raises :class:`VideoError` instead.

    Returns:
        A :class:`Clip` with ``frames`` uint8 ``(T, H, W, 3)``.

    Raises:
        VideoError: missing, empty, unreadable, frameless or oversized input.
    """
    opts = _Options.make(fps, frame_skip, motion_threshold, max_seconds, max_side, allow_truncated)
    times, frames = [], []
    with _open_timed(source, opts) as (timed, source_fps):
        for t, frame in _filter(timed, opts):
            times.append(t)
            frames.append(frame)
    return Clip(np.stack(frames), opts.output_fps(source_fps), source_fps, np.asarray(times, np.float64))


def iter_video(
    source: Source,
    fps: float | None = DEFAULT_FPS,
    frame_skip: int = 0,
    motion_threshold: float = 0.0,
    max_seconds: float = MAX_SECONDS,
    max_side: int = MAX_SIDE,
    *,
    allow_truncated: bool = True,
) -> Iterator[Frame]:
    """Stream the frames of :func:`read_video` one at a time, each uint8 ``(H, W, 3)`` RGB.

    Only one decoded frame is held at a time, so long videos need not fit in memory. Errors about the
    input are raised when iteration starts (or, for damage found later, when it is reached).
    """
    opts = _Options.make(fps, frame_skip, motion_threshold, max_seconds, max_side, allow_truncated)
    with _open_timed(source, opts) as (timed, _):
        for _, frame in _filter(timed, opts):
            yield frame


def read_frame_folder(
    path: str | os.PathLike[str],
    fps: float | None = DEFAULT_FPS,
    source_fps: float = DEFAULT_FPS,
    frame_skip: int = 0,
    motion_threshold: float = 0.0,
    max_seconds: float = MAX_SECONDS,
    max_side: int = MAX_SIDE,
) -> Clip:
    """Read a folder of image frames (JPEG/PNG/BMP/WebP) in natural order (``f2`` before ``f10``).

    The images are taken as a video at ``source_fps`` and resampled to ``fps`` like a video file.
    Returns a :class:`Clip`; raises :class:`VideoError` for a missing folder or one without images.
    """
    opts = _Options.make(fps, frame_skip, motion_threshold, max_seconds, max_side)
    timed = _folder_timed(Path(path), source_fps, max_side)
    times, frames = [], []
    for t, frame in _filter(_resample(timed, opts, source_fps), opts):
        times.append(t)
        frames.append(frame)
    return Clip(np.stack(frames), opts.output_fps(source_fps), source_fps, np.asarray(times, np.float64))


def resample_frames(frames: Sequence[Frame], source_fps: float, fps: float = DEFAULT_FPS) -> list[Frame]:
    """Resample frames taken at a constant ``source_fps`` to ``fps`` (same rule as the video readers).

    Frames are picked, or repeated, by time; nothing is copied. ``len(result)`` is about
    ``len(frames) * fps / source_fps``.
    """
    if not source_fps > 0:
        raise VideoError(f"source_fps must be positive, got {source_fps}")
    opts = _Options.make(fps, 0, 0.0, math.inf, MAX_SIDE)
    timed = ((i / source_fps, frame) for i, frame in enumerate(frames))
    return [frame for _, frame in _resample(timed, opts, source_fps)]


def probe_video(source: Source) -> VideoInfo:
    """Read a video's declared size, frame rate and duration without decoding frames."""
    with _open_container(source) as container:
        return _stream_info(container, _video_stream(container, source))


def decode_image(data: bytes, max_side: int = MAX_SIDE) -> Frame:
    """Decode a JPEG/PNG (or BMP/WebP) byte string into uint8 ``(H, W, 3)`` RGB.

    The declared size is checked before the pixels are decoded, so an image bomb costs nothing.
    Raises :class:`VideoError` for empty, undecodable or oversized data.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise VideoError("empty image data")
    try:
        with Image.open(io.BytesIO(data)) as image:
            _check_size(image.width, image.height, max_side, "image")
            rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise VideoError(f"image too large ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise VideoError(f"not a decodable image ({exc})") from None
    return np.ascontiguousarray(rgb)


# --------------------------------------------------------------------------------------------- options


@dataclass(frozen=True)
class _Options:
    fps: float | None
    frame_skip: int
    motion_threshold: float
    max_seconds: float
    max_side: int
    allow_truncated: bool = True

    @staticmethod
    def make(
        fps: float | None,
        frame_skip: int,
        motion: float,
        max_seconds: float,
        max_side: int,
        allow_truncated: bool = True,
    ) -> _Options:
        if fps is not None and not fps > 0:
            raise VideoError(f"fps must be positive, got {fps}")
        if frame_skip < 0:
            raise VideoError(f"frame_skip must be >= 0, got {frame_skip}")
        if motion < 0:
            raise VideoError(f"motion_threshold must be >= 0, got {motion}")
        return _Options(
            fps, int(frame_skip), float(motion), float(max_seconds), int(max_side), bool(allow_truncated)
        )

    def output_fps(self, source_fps: float) -> float:
        return (self.fps or source_fps) / (self.frame_skip + 1)


# ------------------------------------------------------------------------------------------ containers


class _open_container:  # a context manager named like open()
    """Open ``source`` with PyAV, turning every failure into a :class:`VideoError`."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.container: Any = None

    def __enter__(self) -> Any:
        import av

        target = _check_source(self.source)
        try:
            self.container = av.open(target, mode="r")
        except av.error.FFmpegError as exc:
            raise VideoError(
                f"{_name(self.source)}: not a video, or truncated/corrupt ({_reason(exc)})"
            ) from None
        return self.container

    def __exit__(self, *exc: object) -> None:
        if self.container is not None:
            self.container.close()


class _open_timed:
    """Context manager giving ``(iterator of (time, frame) on the fps grid, source fps)``."""

    def __init__(self, source: Source, opts: _Options) -> None:
        self.source, self.opts = source, opts
        self.opener: _open_container | None = None

    def __enter__(self) -> tuple[Iterator[tuple[float, Frame]], float]:
        if not isinstance(self.source, bytes) and Path(self.source).is_dir():
            timed = _folder_timed(Path(self.source), FALLBACK_SOURCE_FPS, self.opts.max_side)
            return _resample(timed, self.opts, FALLBACK_SOURCE_FPS), FALLBACK_SOURCE_FPS
        self.opener = _open_container(self.source)
        container = self.opener.__enter__()
        stream = _video_stream(container, self.source)
        info = _stream_info(container, stream)
        _check_size(info.width, info.height, self.opts.max_side, "video frames")
        _check_duration(info, self.opts)
        stream.thread_type = "AUTO"
        decoded = _decode_timed(container, stream, info.fps, self.source, self.opts)
        return _resample(decoded, self.opts, info.fps), info.fps

    def __exit__(self, *exc: object) -> None:
        if self.opener is not None:
            self.opener.__exit__(*exc)


def _check_source(source: Source) -> Any:
    """What to hand to ``av.open``: the path, or a file object over the bytes."""
    if isinstance(source, bytes):
        if not source:
            raise VideoError("empty video data (0 bytes)")
        return io.BytesIO(source)
    path = Path(source)
    if not path.exists():
        raise VideoError(f"video file not found: {path}")
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        known = ", ".join(sorted(VIDEO_EXTENSIONS))
        raise VideoError(f"{path.name}: unsupported file type {path.suffix!r} (videos: {known}; or a folder)")
    if path.stat().st_size == 0:
        raise VideoError(f"{path.name}: empty file (0 bytes)")
    return str(path)


def _video_stream(container: Any, source: Source) -> Any:
    if not container.streams.video:
        raise VideoError(f"{_name(source)}: no video stream in the file")
    return container.streams.video[0]


def _stream_info(container: Any, stream: Any) -> VideoInfo:
    ctx = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate and float(rate) > 0 else FALLBACK_SOURCE_FPS
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000  # AV_TIME_BASE
    return VideoInfo(int(ctx.width or 0), int(ctx.height or 0), fps, duration)


def _check_size(width: int, height: int, max_side: int, what: str) -> None:
    if width > max_side or height > max_side:
        raise VideoError(f"{what} of {width}x{height} exceed the limit of {max_side}x{max_side} pixels")


def _check_duration(info: VideoInfo, opts: _Options) -> None:
    if info.duration is not None and info.duration > opts.max_seconds:
        raise VideoError(_too_long(info.duration, opts.max_seconds))


# ---------------------------------------------------------------------------------------------- decode


def _decode_timed(
    container: Any, stream: Any, source_fps: float, source: Source, opts: _Options
) -> Iterator[tuple[float, Frame]]:
    """Decoded frames with their presentation time in seconds from the first frame."""
    import av

    declared = int(stream.frames or 0)  # 0 when the container does not say
    start: float | None = None
    previous = -np.inf
    count, damaged = 0, False
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
            decoded = packet.decode()
        except StopIteration:
            break
        except av.error.FFmpegError as exc:
            damaged = True
            if count == 0:
                raise VideoError(f"{_name(source)}: truncated or corrupt video ({_reason(exc)})") from None
            break
        for frame in decoded:
            t = float(frame.time) if frame.time is not None else count / source_fps
            start = t if start is None else start
            t = max(t - start, previous + TIME_EPS)  # repair missing / non-increasing timestamps
            previous = t
            count += 1
            _check_size(frame.width, frame.height, opts.max_side, "video frames")
            yield t, frame.to_ndarray(format="rgb24")
    if count == 0:
        raise VideoError(f"{_name(source)}: the video contains no decodable frame")
    if damaged or count + TRUNCATION_TOLERANCE < declared:
        message = f"{_name(source)}: truncated or corrupt video, decoded the first {count} frames only" + (
            f" of {declared}" if declared else ""
        )
        if not opts.allow_truncated:
            raise VideoError(message)
        warnings.warn(message, TruncatedVideoWarning, stacklevel=4)


def _folder_timed(path: Path, source_fps: float, max_side: int) -> Iterator[tuple[float, Frame]]:
    if not path.is_dir():
        raise VideoError(f"frame folder not found: {path}")
    files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS), key=_natural_key)
    if not files:
        raise VideoError(f"{path}: no frames in the folder (no {', '.join(sorted(IMAGE_EXTENSIONS))} files)")
    return _folder_frames(files, source_fps, max_side)


def _folder_frames(files: list[Path], source_fps: float, max_side: int) -> Iterator[tuple[float, Frame]]:
    for i, file in enumerate(files):
        try:
            frame = decode_image(file.read_bytes(), max_side)
        except VideoError as exc:
            raise VideoError(f"{file.name}: {exc}") from None
        yield i / source_fps, frame


def _natural_key(path: Path) -> list[Any]:
    """Sort key putting ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


# ------------------------------------------------------------------------------------- resample, filter


def _resample(
    timed: Iterable[tuple[float, Frame]], opts: _Options, source_fps: float
) -> Iterator[tuple[float, Frame]]:
    """Pick, for each grid time ``k / fps``, the frame on screen then (``None`` fps: keep all frames).

    A frame is on screen from its timestamp until the next one; the last frame for one source frame
    interval (less :data:`LAST_FRAME_SLACK`). Yields ``(grid time, frame)``.
    """
    if opts.fps is None:
        yield from timed
        return
    step = 1.0 / opts.fps
    k = 0
    held: tuple[float, Frame] | None = None
    for t, frame in timed:
        if held is not None:
            k = yield from _emit_until(held[1], k, step, t)
        held = (t, frame)
    if held is not None:
        yield from _emit_until(held[1], k, step, held[0] + 1.0 / source_fps - LAST_FRAME_SLACK)


def _emit_until(frame: Frame, k: int, step: float, end: float) -> Generator[tuple[float, Frame], None, int]:
    """Yield ``frame`` for every grid time ``k * step`` before ``end``; return the next ``k``."""
    while k * step + TIME_EPS < end:
        yield k * step, frame
        k += 1
    return k


def _filter(timed: Iterable[tuple[float, Frame]], opts: _Options) -> Iterator[tuple[float, Frame]]:
    """Apply the ``max_seconds`` limit, ``frame_skip`` and ``motion_threshold``."""
    last_grey: np.ndarray | None = None
    for index, (t, frame) in enumerate(timed):
        if t > opts.max_seconds:
            raise VideoError(_too_long(t, opts.max_seconds))
        if index % (opts.frame_skip + 1):
            continue
        if opts.motion_threshold > 0:
            grey = frame.astype(np.float32) @ GREY_WEIGHTS
            if last_grey is not None and float(np.abs(grey - last_grey).mean()) < opts.motion_threshold:
                continue
            last_grey = grey
        yield t, frame


# ------------------------------------------------------------------------------------------------ misc


def _too_long(seconds: float, limit: float) -> str:
    return f"video lasts {seconds:.0f} s or more, over the limit of {limit:.0f} s"


def _name(source: Source) -> str:
    return "video data" if isinstance(source, bytes) else Path(source).name


def _reason(exc: Exception) -> str:
    """The FFmpeg message without the errno and file name noise."""
    return getattr(exc, "strerror", None) or str(exc)


# ---------------------------------------------------------------------------------------------- encode

CODEC_BY_SUFFIX = {
    ".mp4": "libx264",
    ".mov": "libx264",
    ".mkv": "libx264",
    ".webm": "libvpx-vp9",
    ".avi": "mjpeg",
}


def write_video(path: str | os.PathLike[str], frames: Sequence[Frame], fps: float = DEFAULT_FPS) -> Path:
    """Encode RGB frames ``(H, W, 3)`` uint8 to a video file; the codec follows the extension.

    mp4/mov/mkv get H.264, webm VP9, avi MJPEG. Width and height are cropped to even numbers.
    """
    import av

    path = Path(path)
    codec = CODEC_BY_SUFFIX.get(path.suffix.lower())
    if codec is None:
        raise VideoError(f"cannot write {path.suffix!r}; use one of {sorted(CODEC_BY_SUFFIX)}")
    if not frames:
        raise VideoError("no frames to write")
    height, width = (d - d % 2 for d in frames[0].shape[:2])
    with av.open(str(path), mode="w") as container:
        stream: Any = container.add_stream(codec, rate=round(fps))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for frame in frames:
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:height, :width]), format="rgb24")
            container.mux(stream.encode(image))
        container.mux(stream.encode(None))
    return path
