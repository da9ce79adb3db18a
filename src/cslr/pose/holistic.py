"""MediaPipe Holistic → 75-point :class:`~cslr.pose.keypoints.Keypoints`. The only module importing mediapipe.

MediaPipe is imported lazily (inside :class:`HolisticExtractor`), so ``import cslr`` stays light.
The legacy ``mediapipe.solutions.holistic`` graph is used with ``model_complexity=1``: mediapipe 0.10.21
bundles only that pose landmark model; complexity 0 ("lite") and 2 ("heavy") try to download theirs at
run time and fail offline, so they are not offered.

Left and right follow MediaPipe Holistic, which names hands from the subject's point of view:
``left_hand_landmarks`` is the signer's own left hand, whose wrist coincides with body point 15
(``LEFT_WRIST``). We keep that convention unchanged: points 33-53 are the signer's left hand, 54-74 the
signer's right hand, whatever side of the image they appear on (a test checks the wrists agree).

Confidences: body points take MediaPipe's landmark ``visibility`` clipped to [0, 1]; hand points are 1
when that hand was detected and 0 otherwise; a frame without a person is all 0.
"""

from __future__ import annotations

import ctypes
import math
import os
import re
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, suppress
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from cslr.pose.keypoints import (
    BODY,
    DEFAULT_FPS,
    LEFT_HAND,
    NUM_BODY_POINTS,
    NUM_HAND_POINTS,
    NUM_POINTS,
    RIGHT_HAND,
    Keypoints,
)
from cslr.video import MAX_SECONDS, MAX_SIDE, Source, VideoInfo, iter_video, probe_video

MODEL_COMPLEXITY = 1  # the only complexity whose model ships inside the mediapipe 0.10.21 wheel
MIN_DETECTION_CONFIDENCE = 0.5
MIN_TRACKING_CONFIDENCE = 0.5
MAX_WORKERS = 8
MIN_SEGMENT_FRAMES = 16  # shorter segments cost more in tracker restarts than they gain
MAX_SEGMENT_FRAMES = 250  # 10 s at 25 fps: bounds memory while a long video streams through the pool
MAX_SEGMENT_BYTES = 128 * 1024 * 1024  # decoded RGB bytes a segment may hold (large frames → fewer frames)
IN_FLIGHT_PER_WORKER = 2  # segments queued per worker process; bounds memory on long videos
# Native (C++) log lines that MediaPipe / TF Lite print on every graph start and that mean nothing to
# a user. Anything else written to stderr while the graph starts is passed through unchanged.
_NOISE = re.compile(
    r"Created TensorFlow Lite XNNPACK delegate|All log messages before absl::InitializeLog|"
    r"inference_feedback_manager\.cc|landmark_projection_calculator\.cc|gl_context|"
    r"Feedback manager requires"
)


class HolisticExtractor:
    """One MediaPipe Holistic graph (``model_complexity=1``) turning RGB frames into 75 keypoints.

    The graph tracks the person from frame to frame, so feed the frames of one video in order and call
    :meth:`reset` before an unrelated sequence. Use as a context manager, or call :meth:`close`.

    Args:
        min_detection_confidence: person detection threshold passed to MediaPipe.
        min_tracking_confidence: below this MediaPipe re-runs detection instead of tracking.
        static_image_mode: treat every frame as unrelated (slower, no tracking).
    """

    def __init__(
        self,
        min_detection_confidence: float = MIN_DETECTION_CONFIDENCE,
        min_tracking_confidence: float = MIN_TRACKING_CONFIDENCE,
        static_image_mode: bool = False,
    ) -> None:
        _quiet_environment()
        with _quiet_native_stderr():
            from mediapipe.python.solutions import holistic

            self._graph: Any = holistic.Holistic(
                static_image_mode=static_image_mode,
                model_complexity=MODEL_COMPLEXITY,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence,
            )

    def process(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints of one uint8 RGB frame ``(H, W, 3)``.

        Returns:
            ``xyz`` float32 ``(75, 3)`` (normalised image coordinates; 0 where undetected) and
            ``conf`` float32 ``(75,)`` in [0, 1].
        """
        if self._graph is None:
            raise RuntimeError("HolisticExtractor is closed")
        image = _check_frame(frame)
        # Each sub-model (pose, hands) logs its start-up lines the first time it runs, which can be any
        # frame; filtering costs ~0.1 ms against ~20 ms of inference, so every call is filtered.
        with _quiet_native_stderr():
            results = self._graph.process(image)
        return _to_arrays(results)

    def extract(self, frames: Iterable[np.ndarray], fps: float = DEFAULT_FPS) -> Keypoints:
        """Keypoints of a sequence of uint8 RGB frames ``(H, W, 3)`` (an array ``(T, H, W, 3)`` works).

        Returns :class:`Keypoints` with ``xyz (T, 75, 3)`` and ``conf (T, 75)`` at ``fps``.
        """
        xyz, conf = [], []
        for frame in frames:
            points, confidence = self.process(frame)
            xyz.append(points)
            conf.append(confidence)
        if not xyz:
            return Keypoints.empty(0, fps)
        return Keypoints(np.stack(xyz), np.stack(conf), fps)

    def reset(self) -> None:
        """Forget the tracked person (start of an unrelated sequence)."""
        if self._graph is not None:
            self._graph.reset()

    def close(self) -> None:
        """Release the MediaPipe graph; further calls to :meth:`process` fail."""
        if self._graph is not None:
            self._graph.close()
            self._graph = None

    def __enter__(self) -> HolisticExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def extract_video(
    source: Source,
    fps: float | None = DEFAULT_FPS,
    workers: int | None = None,
    frame_skip: int = 0,
    motion_threshold: float = 0.0,
    max_side: int = MAX_SIDE,
    max_seconds: float = MAX_SECONDS,
    *,
    allow_truncated: bool = True,
    pool: PosePool | None = None,
    frame_sink: Callable[[np.ndarray], None] | None = None,
) -> Keypoints:
    """Decode a video (path, bytes or frame folder) and extract keypoints, using several processes.

    The decoded frames stream in contiguous segments to ``workers`` processes (spawned, each with its
    own Holistic graph); the results are joined in order. The tracker restarts at each segment
    boundary, which costs one detection per segment. ``workers=1`` runs in this process; ``None`` uses
    every core (at most :data:`MAX_WORKERS`).

    Args:
        source: video file, video bytes or folder of frames (see :func:`cslr.video.read_video`).
        fps: target frame rate (``None`` keeps the source rate).
        workers: number of processes.
        frame_skip, motion_threshold: frame filters of :func:`cslr.video.read_video`.
        max_side: refuse frames larger than this.
        max_seconds: refuse videos longer than this.
        allow_truncated: keep the frames before the damage of a truncated video; ``False`` refuses it.
        pool: a running :class:`PosePool` to reuse (a server keeps one, so no request pays for starting
            processes); without one a pool of ``workers`` processes lives for this call only.
        frame_sink: called with every decoded frame ``(H, W, 3)`` in order, in this process (e.g. to
            keep the frames an RGB model needs without decoding the video twice).

    Returns:
        :class:`Keypoints` ``(T, 75, 3)`` at ``fps / (frame_skip + 1)``.

    Raises:
        cslr.video.VideoError: the input cannot be decoded.
    """
    workers = pool.workers if pool is not None else _worker_count(workers)
    info = None if _is_folder(source) else probe_video(source)
    source_fps = info.fps if info else DEFAULT_FPS
    out_fps = (fps or source_fps) / (frame_skip + 1)
    frames = iter_video(
        source, fps, frame_skip, motion_threshold, max_seconds, max_side, allow_truncated=allow_truncated
    )
    if frame_sink is not None:
        frames = _tee(frames, frame_sink)
    if workers == 1:
        with HolisticExtractor() as extractor:
            return extractor.extract(frames, out_fps)
    segment = _segment_frames(info, fps, frame_skip, workers)
    if pool is not None:
        parts = _extract_parallel(frames, pool, segment)
    else:
        with PosePool(workers) as own_pool:
            parts = _extract_parallel(frames, own_pool, segment)
    return Keypoints.concat(parts) if parts else Keypoints.empty(0, out_fps)


# -------------------------------------------------------------------------------------- parallel path

WARM_FRAME_SIDE = 64  # pixels of the blank frame that starts a worker's graph
_WORKER_EXTRACTOR: HolisticExtractor | None = None  # one per worker process


def _init_worker() -> None:
    """Build this worker's Holistic graph and run it once, so start-up overlaps decoding."""
    global _WORKER_EXTRACTOR
    _filter_stderr_forever()
    _WORKER_EXTRACTOR = HolisticExtractor()
    _WORKER_EXTRACTOR.process(np.zeros((64, 64, 3), np.uint8))


def _extract_segment(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Worker task: keypoints ``(xyz (T, 75, 3), conf (T, 75))`` of a contiguous segment ``(T, H, W, 3)``."""
    assert _WORKER_EXTRACTOR is not None, "worker not initialised"
    _WORKER_EXTRACTOR.reset()
    kp = _WORKER_EXTRACTOR.extract(frames)
    return kp.xyz, kp.conf


class PosePool:
    """Spawned worker processes, each holding one Holistic graph, reused across videos.

    Started lazily on first use; ``close()`` (or leaving the ``with`` block) stops the processes.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = _worker_count(workers)
        self._executor: ProcessPoolExecutor | None = None

    def submit(self, frames: np.ndarray) -> Future[tuple[np.ndarray, np.ndarray]]:
        """Extract one segment ``(T, H, W, 3)`` in a worker; the future gives ``(xyz, conf)``."""
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=get_context("spawn"), initializer=_init_worker
            )
        return self._executor.submit(_extract_segment, frames)

    def warm(self) -> None:
        """Start every worker and its Holistic graph now, so the first video does not wait for them."""
        blank = np.zeros((1, WARM_FRAME_SIDE, WARM_FRAME_SIDE, 3), np.uint8)
        for future in [self.submit(blank) for _ in range(self.workers)]:
            future.result()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> PosePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _extract_parallel(frames: Iterator[np.ndarray], pool: PosePool, segment: int) -> list[Keypoints]:
    """Stream ``frames`` to ``pool`` in segments of ``segment`` frames; results in order.

    At most ``IN_FLIGHT_PER_WORKER * workers`` segments are decoded and waiting at a time.
    """
    parts: list[Keypoints] = []
    pending: deque[Future[tuple[np.ndarray, np.ndarray]]] = deque()
    for batch in _batched(frames, segment):
        pending.append(pool.submit(batch))
        if len(pending) >= IN_FLIGHT_PER_WORKER * pool.workers:
            parts.append(Keypoints(*pending.popleft().result()))
    parts.extend(Keypoints(*future.result()) for future in pending)
    return parts


def _tee(frames: Iterator[np.ndarray], sink: Callable[[np.ndarray], None]) -> Iterator[np.ndarray]:
    """``frames``, each handed to ``sink`` as it passes."""
    for frame in frames:
        sink(frame)
        yield frame


def _batched(frames: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Stack consecutive frames into arrays ``(<=size, H, W, 3)``."""
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


def _segment_frames(info: VideoInfo | None, fps: float | None, frame_skip: int, workers: int) -> int:
    """Frames per segment: the clip cut into a multiple of ``workers`` equal segments within memory bounds.

    Equal segments, in a number divisible by the workers, keep every process busy until the end.
    """
    limit = MAX_SEGMENT_FRAMES
    if info is not None and info.width and info.height:
        limit = max(1, min(limit, MAX_SEGMENT_BYTES // (info.width * info.height * 3)))
    expected = info.estimated_frames(fps) if info is not None else None
    if expected is None:
        return limit
    expected = math.ceil(expected / (frame_skip + 1))
    rounds = math.ceil(expected / (workers * limit))
    return max(1, min(limit, max(MIN_SEGMENT_FRAMES, math.ceil(expected / (workers * rounds)))))


def _worker_count(workers: int | None) -> int:
    if workers is None:
        return max(1, min(os.cpu_count() or 1, MAX_WORKERS))
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return workers


def _is_folder(source: Source) -> bool:
    return not isinstance(source, bytes) and Path(source).is_dir()


# ------------------------------------------------------------------------------------------- helpers


def _check_frame(frame: np.ndarray) -> np.ndarray:
    image = np.asarray(frame)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"expected an RGB frame (H, W, 3), got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 frame, got {image.dtype}")
    return np.ascontiguousarray(image)


def _to_arrays(results: Any) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe results → ``xyz (75, 3)``, ``conf (75,)`` float32 (zeros where nothing was found)."""
    xyz = np.zeros((NUM_POINTS, 3), np.float32)
    conf = np.zeros(NUM_POINTS, np.float32)
    if results.pose_landmarks is not None:
        body = _landmarks(results.pose_landmarks, NUM_BODY_POINTS, with_visibility=True)
        xyz[BODY], conf[BODY] = body[:, :3], np.clip(body[:, 3], 0.0, 1.0)
    for part, hand in ((LEFT_HAND, results.left_hand_landmarks), (RIGHT_HAND, results.right_hand_landmarks)):
        if hand is not None:
            xyz[part], conf[part] = _landmarks(hand, NUM_HAND_POINTS), 1.0
    return xyz, conf


def _landmarks(landmarks: Any, count: int, with_visibility: bool = False) -> np.ndarray:
    """``(count, 4)`` x, y, z, visibility (or ``(count, 3)``) from a MediaPipe landmark list."""
    points = landmarks.landmark
    if len(points) != count:
        raise RuntimeError(f"MediaPipe returned {len(points)} landmarks, expected {count}")
    if with_visibility:
        return np.array([(p.x, p.y, p.z, p.visibility) for p in points], np.float32)
    return np.array([(p.x, p.y, p.z) for p in points], np.float32)


def _quiet_environment() -> None:
    """Ask glog / TensorFlow to print warnings and errors only (no effect once they are loaded)."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Capture what native code writes to file descriptor 2; re-emit every line that is not known noise.

    MediaPipe's C++ logging ignores Python's ``logging`` and absl flags set from Python, so the start-up
    chatter is filtered at the file-descriptor level, only around graph creation and the first frame.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr (some embedded interpreters): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            _flush_c_stdio()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [
                line
                for line in capture.read().decode(errors="replace").splitlines()
                if not _NOISE.search(line)
            ]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def _flush_c_stdio() -> None:
    """``fflush(NULL)``: push lines buffered by C stdio into the captured descriptor before restoring it."""
    with suppress(OSError, AttributeError):  # no C library handle here: nothing buffered to lose
        ctypes.CDLL(None).fflush(None)


def _filter_stderr_forever() -> None:
    """Worker processes only: route fd 2 through a thread that drops known MediaPipe noise.

    MediaPipe's sub-graphs may log from their own threads after a ``process`` call returned, which the
    per-call filter cannot catch; a worker's stderr carries nothing else, so it is filtered for good.
    """
    read_end, write_end = os.pipe()
    real_stderr = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        with os.fdopen(read_end, "rb") as lines, os.fdopen(real_stderr, "wb", buffering=0) as out:
            for line in lines:
                if not _NOISE.search(line.decode(errors="replace")):
                    out.write(line)

    threading.Thread(target=pump, name="stderr-filter", daemon=True).start()
