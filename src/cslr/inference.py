"""The Python API of the original spec: ``InferenceService`` turns videos, frames or keypoints into results.

Example::

    service = InferenceService.from_settings(Settings())
    result = await service.process_video("clip.mp4")
    print(result.sentence, result.gloss)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cslr.decode.ctc import warm_up_beam_search
from cslr.export.runtime import warmup
from cslr.language.grammar import glosses_to_english
from cslr.model.inputs import frame_side, frames_for, model_frames
from cslr.monitoring import stage_timer
from cslr.pose.holistic import HolisticExtractor, PosePool, extract_video
from cslr.pose.io import KEYPOINT_SUFFIXES, load_keypoints
from cslr.pose.keypoints import BODY, Keypoints
from cslr.serve.settings import Settings
from cslr.stream.frames import FrameStream  # issue 6
from cslr.stream.recognizer import RecognitionResult, Recognizer
from cslr.stream.session import StreamConfig, StreamResult  # issue 6
from cslr.video import VideoError, read_frame_folder, resample_frames

WARMUP_LENGTHS = (16, 64)  # frames: the shapes a first request and a live window use
MIN_SIGNER_FRACTION = 0.1  # below this share of frames with a body, the input has no signer


class NoSignerError(ValueError):
    """The input holds no person (no body found in the frames)."""


def check_signer(kp: Keypoints) -> None:
    """Raise :class:`NoSignerError` when too few frames show a body."""
    if len(kp) == 0:
        raise VideoError("the input has no frames")
    found = float(kp.detected(BODY).mean())
    if found < MIN_SIGNER_FRACTION:
        raise NoSignerError(f"no person detected: a body was found in {found:.0%} of {len(kp)} frames")


class InferenceService:
    """Video / frames / keypoints → :class:`RecognitionResult`, sharing one :class:`Recognizer`."""

    def __init__(self, recognizer: Recognizer, settings: Settings) -> None:
        self.recognizer = recognizer
        self.settings = settings
        # Pose workers live as long as the service, so no request pays for starting them.
        self.pose_pool = PosePool(settings.pose_workers) if settings.pose_workers > 1 else None

    def warm_up(self) -> None:
        """Pay every lazy start-up cost now: model kernels, the beam search's compiled kernels (when beam
        search is on), the grammar's lexicon, the pose workers."""
        warmup(self.recognizer, self.recognizer.model.cfg, WARMUP_LENGTHS, 1)
        if self.recognizer.beam_width > 1:
            warm_up_beam_search()
        glosses_to_english(list(self.recognizer.vocab.glosses[:1]), lang=self.recognizer.sign_language)
        if self.pose_pool is not None:
            self.pose_pool.warm()

    def close(self) -> None:
        """Stop the pose worker processes."""
        if self.pose_pool is not None:
            self.pose_pool.close()

    @classmethod
    def from_settings(cls, settings: Settings) -> InferenceService:
        """Load the configured checkpoint (default: the bundled model)."""
        recognizer = Recognizer.from_checkpoint(
            settings.checkpoint,
            device=settings.device,
            beam_width=settings.beam_width,
            sign_language=settings.sign_language,
            use_amp=settings.use_amp,
            backend=settings.backend,  # issue 7 (export): BACKEND=torch|onnx
            onnx_model=settings.onnx_model,
        )
        return cls(recognizer, settings)

    def recognize_path(self, path: str | Path) -> RecognitionResult:
        """A video file, a folder of frames, or a keypoint file (``.pose``, ``.npz``, ``.parquet``)."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if path.is_dir():
            timings: dict[str, float] = {}
            with stage_timer(timings, "decode"):
                clip = read_frame_folder(path, fps=self.settings.target_fps)
            return self.recognize_frames(clip.frames, clip.fps, timings)
        if path.suffix.lower() in KEYPOINT_SUFFIXES:
            return self.recognize_keypoints(load_keypoints(path))
        return self.recognize_video(path)

    def recognize_video(self, path: str | Path) -> RecognitionResult:
        """Decode, extract pose (in parallel segments) and recognise a video file; a model with an RGB
        stream also gets the decoded frames (one decode serves both)."""
        s = self.settings
        timings: dict[str, float] = {}
        kept: list[np.ndarray] = []
        side = frame_side(self.recognizer.model.cfg)

        def keep(frame: np.ndarray) -> None:
            kept.append(model_frames(frame[None], side or 0))

        with stage_timer(timings, "pose"):
            kp = extract_video(
                path,
                fps=s.target_fps,
                workers=s.pose_workers,
                frame_skip=s.frame_skip,
                motion_threshold=s.motion_threshold,
                max_seconds=s.max_video_seconds,
                allow_truncated=False,
                pool=self.pose_pool,
                frame_sink=keep if side else None,
            )
        return self._recognize(kp, np.concatenate(kept) if kept else None, timings)

    def recognize_frames(
        self,
        frames: Sequence[np.ndarray] | np.ndarray,
        fps: float | None = None,
        timings: dict[str, float] | None = None,
    ) -> RecognitionResult:
        """RGB frames ``(T, H, W, 3)`` uint8 at ``fps`` (default: the target fps)."""
        timings = {} if timings is None else timings
        fps = fps or self.settings.target_fps
        frames = resample_frames(list(frames), fps, self.settings.target_fps)
        with stage_timer(timings, "pose"), HolisticExtractor() as extractor:
            kp = extractor.extract(frames, fps=self.settings.target_fps)
        return self._recognize(kp, frames_for(self.recognizer.model.cfg, frames), timings)

    def recognize_keypoints(
        self, kp: Keypoints, timings: dict[str, float] | None = None
    ) -> RecognitionResult:
        """Recognise keypoints that were extracted already (pose-only models: an RGB model needs the
        video, see :meth:`recognize_path`)."""
        return self._recognize(kp, None, timings)

    @property
    def needs_frames(self) -> bool:
        """Whether the served model reads video frames (so keypoint input is not enough)."""
        return self.recognizer.needs_frames

    def _recognize(
        self, kp: Keypoints, frames: np.ndarray | None, timings: dict[str, float] | None
    ) -> RecognitionResult:
        check_signer(kp)
        return self.recognizer.recognize(kp, timings, frames)

    async def process_video(self, path: str | Path) -> RecognitionResult:
        """Async form of :meth:`recognize_path` (runs in a worker thread)."""
        return await asyncio.to_thread(self.recognize_path, path)

    async def process_frames(
        self, frames: Sequence[np.ndarray] | np.ndarray, fps: float | None = None
    ) -> RecognitionResult:
        """Async form of :meth:`recognize_frames` (runs in a worker thread)."""
        return await asyncio.to_thread(self.recognize_frames, frames, fps)

    # --- issue 6: live frames, on the same streaming core as WS /api/ws/stream ---
    def stream_config(self) -> StreamConfig:
        """The live-stream options of the settings (chunk mode for a causal model unless configured)."""
        s = self.settings
        mode = (
            s.stream_mode
            if s.stream_mode != "auto"
            else ("chunk" if self.recognizer.model.streamable else "window")
        )
        return StreamConfig(
            mode=mode,
            chunk_frames=s.stream_chunk_frames,
            lookahead_frames=s.stream_lookahead_frames,
            clip_length=s.clip_length,
            window_stride=s.window_stride,
            endpoint_frames=max(round(s.stream_endpoint_ms / 1000.0 * s.target_fps), 1),
            fps=s.target_fps,
            sign_language=s.sign_language,
        )

    async def process_frame_stream(
        self, frame: np.ndarray | bytes | None, state: FrameStream | None = None
    ) -> tuple[list[StreamResult], FrameStream]:
        """Feed one live frame (uint8 RGB ``(H, W, 3)`` or JPEG/PNG bytes); ``None`` ends the input.

        ``state`` is what the previous call returned (None for a new stream). Returns the caption
        updates this frame completed (``partial`` / ``final``, often none) and the state for the next
        call. Frames are taken to arrive at ``TARGET_FPS``. Call ``state.close()`` when done.
        """
        state = state or FrameStream(self.recognizer, self.stream_config())
        if frame is None:
            return await asyncio.to_thread(state.finish), state
        return await asyncio.to_thread(state.push_frame, frame), state

    # --- end issue 6 ---
