"""One :class:`Stream` per live connection: its keypoints, model state and captions (sherpa-onnx style).

The shared, stateless :class:`~cslr.stream.recognizer.Recognizer` holds the model; a ``Stream`` holds
everything that belongs to one signer. Two modes:

* ``chunk`` — causal models only. Every ``chunk_frames`` frames the new features go through the
  recognizer's ``forward_chunk`` (PyTorch or ONNX Runtime) with the LSTM state carried over, and
  :class:`~cslr.decode.ctc.StreamingGreedyDecoder` extends the hypothesis; nothing in the past is run
  or decoded again.
* ``window`` — any model. Every ``window_stride`` frames the last ``clip_length`` frames are
  recognised afresh (the original spec's 64/32 sliding window) and merged into the caption.

Either way the glosses go into the stream's :class:`~cslr.language.captions.CaptionState` (the caption
buffer): its pending glosses are the *utterance*, shown as a ``partial`` caption; after
``endpoint_frames`` frames without a new gloss (or on :meth:`Stream.finish`) the utterance is committed
as a ``final`` caption and a new one begins. The model work itself is done by the caller
(:mod:`cslr.stream.batch`) so that it can be batched across streams: ``next_chunk`` / ``next_window``
hand out inputs, ``push_chunk`` / ``push_window`` take the outputs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

import numpy as np

from cslr.decode.ctc import StreamingGreedyDecoder
from cslr.export.runtime import ChunkState
from cslr.language import captions
from cslr.language.captions import CaptionState, TimedGloss
from cslr.language.grammar import RULES, Lang
from cslr.model.inputs import ModelInputs, frame_side
from cslr.model.rgb_stream import roi_boxes
from cslr.pose.keypoints import FEATURE_DIM, NUM_POINTS, Keypoints
from cslr.stream.features import DEFAULT_LOOKAHEAD, FeatureStream
from cslr.stream.recognizer import Recognizer, Segment

Mode = Literal["chunk", "window"]
MODES: tuple[str, ...] = ("chunk", "window")
DEFAULT_CHUNK_FRAMES = 4  # 160 ms at 25 fps
DEFAULT_CLIP_LENGTH = 64
DEFAULT_WINDOW_STRIDE = 32
DEFAULT_ENDPOINT_FRAMES = 25  # 1 s without a new gloss closes the caption
DEFAULT_MAX_PENDING_FRAMES = 100  # 4 s of input waiting for the model: beyond it the oldest are dropped
TIME_DECIMALS = 3


@dataclass(frozen=True)
class StreamConfig:
    """How one live stream is recognised.

    Attributes:
        mode: ``chunk`` (causal model, carried state) or ``window`` (sliding window, any model).
        chunk_frames: frames per ``forward_chunk`` call (rounded up to a multiple of the model stride).
        lookahead_frames: frames after ``t`` waited for before frame ``t`` is featurised (chunk mode).
        clip_length: frames per window (window mode).
        window_stride: frames between windows (window mode).
        endpoint_frames: frames without a new gloss after which the caption is committed.
        max_pending_frames: frames allowed to wait for the model; older ones are dropped beyond it.
        fps: frame rate of the input.
        sign_language: grammar used for the English sentence.
    """

    mode: Mode = "chunk"
    chunk_frames: int = DEFAULT_CHUNK_FRAMES
    lookahead_frames: int = DEFAULT_LOOKAHEAD
    clip_length: int = DEFAULT_CLIP_LENGTH
    window_stride: int = DEFAULT_WINDOW_STRIDE
    endpoint_frames: int = DEFAULT_ENDPOINT_FRAMES
    max_pending_frames: int = DEFAULT_MAX_PENDING_FRAMES
    fps: float = 25.0
    sign_language: str = "asl"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in ("chunk_frames", "clip_length", "window_stride", "endpoint_frames", "max_pending_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lookahead_frames < 0:
            raise ValueError(f"lookahead_frames must be >= 0, got {self.lookahead_frames}")
        if self.sign_language not in RULES:
            raise ValueError(f"sign_language must be one of {sorted(RULES)}, got {self.sign_language!r}")


@dataclass(frozen=True)
class StreamResult:
    """A caption update sent to the client.

    Attributes:
        kind: ``partial`` (may still change) or ``final`` (committed, never changes).
        gloss: glosses of the current utterance.
        sentence: English for ``gloss``.
        segments: per gloss, start/end in seconds from the start of the stream, and confidence.
        confidence: mean gloss confidence (0 without glosses).
        frame: index of the newest input frame this result has seen.
        utterance: number of this utterance in the stream (0, 1, ...).
        dropped: input frames dropped so far in this stream.
        timings_ms: time spent per stage for this update.
        end: True on the final result that answers an ``end`` request.
    """

    kind: Literal["partial", "final"]
    gloss: tuple[str, ...]
    sentence: str
    segments: tuple[Segment, ...]
    confidence: float
    frame: int
    utterance: int
    dropped: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    end: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``partial`` / ``final`` message without its transport fields)."""
        data = asdict(self)
        data["type"] = data.pop("kind")
        data["gloss"] = list(self.gloss)
        data["segments"] = [asdict(s) for s in self.segments]
        return data


class Stream:
    """Per-connection state. Thread-safe: the event loop feeds it, a worker thread runs the model.

    Args:
        recognizer: the shared recognizer (model, vocabulary).
        config: how to recognise; ``chunk`` needs a causal model (``recognizer.model.streamable``).
    """

    def __init__(self, recognizer: Recognizer, config: StreamConfig | None = None) -> None:
        self.recognizer = recognizer
        self.config = config or StreamConfig()
        if self.config.mode == "chunk" and not recognizer.model.streamable:
            raise ValueError("chunk mode needs a causal model (temporal: causal); use mode='window'")
        self.stride = int(recognizer.model.cfg.stride)
        self._lock = threading.RLock()
        self.reset()

    # ---------------------------------------------------------------- input side (event loop)

    def reset(self) -> None:
        """Forget everything: input, model state, captions (the stream restarts at frame 0)."""
        with self._lock:
            cfg = self.config
            self.features = FeatureStream(cfg.lookahead_frames, cfg.fps)
            self.decoder = StreamingGreedyDecoder()
            self.state: ChunkState | None = None
            self.captions = CaptionState(lang=cast(Lang, cfg.sign_language), pause_frames=cfg.endpoint_frames)
            self.received = 0  # input frames accepted (dropped ones included)
            self.dropped = 0
            self._seen = -1  # newest input frame that went into a model step
            self._drops: list[tuple[int, int]] = []  # (kept frame index, frames dropped before it)
            self._finishing = False  # finish() was called
            self._flushing = False  # the step in progress consumes everything (started after finish())
            self._utterance_index = 0
            self._timings: dict[str, float] = {}
            # window mode: frames from input index _window_start on; the next window ends at _window_due
            self._window_xyz = np.zeros((0, NUM_POINTS, 3), np.float32)
            self._window_conf = np.zeros((0, NUM_POINTS), np.float32)
            self._window_frames: list[np.ndarray] = []  # RGB models: one (3, S, S) per window frame
            self._pending_frames: list[tuple[np.ndarray, np.ndarray | None]] = []  # chunk mode: frame, boxes
            self._window_start = 0
            self._window_due = cfg.clip_length
            self._current_window = (0, 0)

    def accept(self, xyz: np.ndarray, conf: np.ndarray, frames: np.ndarray | None = None) -> int:
        """Append keypoint frames ``xyz (n, 75, 3)``, ``conf (n, 75)`` and, for a model with an RGB
        stream, their video frames ``(n, 3, S, S)`` uint8 (:func:`~cslr.model.inputs.model_frames`).

        Returns how many frames had to be dropped to stay within ``max_pending_frames`` (the oldest
        waiting ones; in window mode whole strides are skipped). Also added to :attr:`dropped`.

        Raises:
            ValueError: the model reads frames and none came, or they do not match the keypoints.
        """
        kp = Keypoints(np.asarray(xyz, np.float32).reshape(-1, NUM_POINTS, 3),
                       np.asarray(conf, np.float32).reshape(-1, NUM_POINTS), self.config.fps)
        if self.recognizer.needs_frames:
            if frames is None:
                raise ValueError("this model reads video frames: send camera frames, not keypoints alone")
            if len(frames) != len(kp):
                raise ValueError(f"{len(frames)} frames for {len(kp)} keypoint frames")
        with self._lock:
            self.received += len(kp)
            if self.config.mode == "window":
                return self._accept_window(kp, frames)
            if self.recognizer.needs_frames and frames is not None:
                rois = tuple(self.recognizer.model.cfg.rgb_rois)
                boxes = roi_boxes(kp, rois) if rois else [None] * len(kp)
                self._pending_frames.extend(zip(frames, boxes, strict=True))
            self.features.push(kp.xyz, kp.conf)
            return self._drop_excess(self.features.pending() - self.config.max_pending_frames)

    def _accept_window(self, kp: Keypoints, frames: np.ndarray | None) -> int:
        cfg = self.config
        self._window_xyz = np.concatenate([self._window_xyz, kp.xyz])
        self._window_conf = np.concatenate([self._window_conf, kp.conf])
        if self.recognizer.needs_frames and frames is not None:
            self._window_frames.extend(frames)
        lag = self.received - self._window_due - cfg.max_pending_frames
        skipped = 0
        if lag > 0:  # behind: skip whole strides of windows
            skipped = -(-lag // cfg.window_stride) * cfg.window_stride
            self._window_due += skipped
            self.dropped += skipped
        self._trim_window()
        return skipped

    def _trim_window(self) -> None:
        """Forget frames before the start of the next window."""
        cut = self._window_due - self.config.clip_length - self._window_start
        if cut > 0:
            self._window_xyz, self._window_conf = self._window_xyz[cut:], self._window_conf[cut:]
            del self._window_frames[:cut]
            self._window_start += cut

    def _drop_excess(self, excess: int) -> int:
        if excess <= 0:
            return 0
        at = self.features.emitted
        dropped = self.features.drop_oldest(excess)
        del self._pending_frames[:dropped]
        self.dropped += dropped
        self._drops.append((at, self.dropped))
        return dropped

    def finish(self) -> None:
        """No more input for now: flush the look-ahead and commit the caption at the next model step."""
        with self._lock:
            self._finishing = True

    def is_ready(self) -> bool:
        """Whether a model step can run now (a full chunk, a due window, or a pending finish)."""
        with self._lock:
            if self._finishing:
                return True
            if self.config.mode == "chunk":
                return self.features.available() >= self._chunk_size()
            return self.received >= self._window_due

    def _chunk_size(self) -> int:
        return -(-self.config.chunk_frames // self.stride) * self.stride

    # ---------------------------------------------------------------- model side (worker thread)

    def next_chunk(self) -> ModelInputs:
        """Chunk mode: the inputs ``(t, ...)`` of every whole chunk waiting (``t`` may be 0); when
        finishing, of everything pending (then ``t`` need not be a multiple of the stride)."""
        with self._lock:
            # after finish(), whole chunks still go first; the flush takes the rest (and the look-ahead)
            self._flushing = self._finishing and self.features.available() < self._chunk_size()
            available = self.features.available(final=self._flushing)
            if not self._flushing:
                available -= available % self._chunk_size()
            start = time.perf_counter()
            rows = self.features.pop(available)
            taken, self._pending_frames = self._pending_frames[:available], self._pending_frames[available:]
            self._timings["features"] = (time.perf_counter() - start) * 1000.0
            self._seen = self.received - 1
            return self._chunk_inputs(rows, taken)

    def _chunk_inputs(
        self, rows: np.ndarray, taken: list[tuple[np.ndarray, np.ndarray | None]]
    ) -> ModelInputs:
        """The model's inputs for a chunk: pose features ``rows``, and frames (and boxes) ``taken``."""
        cfg = self.recognizer.model.cfg
        features = rows if "pose" in cfg.streams else None
        if not self.recognizer.needs_frames:
            return ModelInputs(features=features)
        side = frame_side(cfg) or cfg.rgb_size
        frames = np.stack([f for f, _ in taken]) if taken else np.zeros((0, 3, side, side), np.uint8)
        boxes = None
        if cfg.rgb_rois:
            boxes = (np.stack([b for _, b in taken]) if taken  # type: ignore[misc]
                     else np.zeros((0, len(cfg.rgb_rois), 4), np.float32))
        return ModelInputs(features=features, frames=frames, boxes=boxes)

    def next_window(self) -> ModelInputs:
        """Window mode: the inputs of the window due now, ``(t <= clip_length, ...)``."""
        with self._lock:
            self._flushing = self._finishing and self.received < self._window_due  # due windows first
            end = self.received if self._flushing else self._window_due
            begin = max(end - self.config.clip_length, self._window_start)
            self._current_window = (begin, end)
            self._seen = end - 1
            if end <= begin:
                return self._chunk_inputs(np.zeros((0, FEATURE_DIM), np.float32), [])
            lo, hi = begin - self._window_start, end - self._window_start
            start = time.perf_counter()
            kp = Keypoints(self._window_xyz[lo:hi], self._window_conf[lo:hi], self.config.fps)
            frames = np.stack(self._window_frames[lo:hi]) if self.recognizer.needs_frames else None
            inputs = self.recognizer.inputs_for(kp, frames)
            self._timings["features"] = (time.perf_counter() - start) * 1000.0
            return inputs

    def push_chunk(
        self, log_probs: np.ndarray, state: ChunkState | None, model_ms: float
    ) -> list[StreamResult]:
        """Chunk mode: the model's output ``(t', V)`` and new state for the last :meth:`next_chunk`."""
        with self._lock:
            self.state = state
            start = time.perf_counter()
            self.decoder.push(log_probs)
            # the decoder's labels since the last commit are the whole utterance: they replace its reading
            stride, frame = self.stride, self._input_frame
            glosses = [self._timed(s.token, frame(s.start * stride), frame(s.end * stride), s.confidence)
                       for s in self.decoder.spans()]
            since, now = max(self.captions.committed_until, 0), frame(self.decoder.steps * stride)
            self.captions = captions.add_window(self.captions, glosses, since, now)
            self._timings.update(model=model_ms, ctc=(time.perf_counter() - start) * 1000.0)
            return self._emit()

    def push_window(self, log_probs: np.ndarray, model_ms: float) -> list[StreamResult]:
        """Window mode: the model's output ``(T', V)`` for the last :meth:`next_window`."""
        with self._lock:
            start = time.perf_counter()
            hyp = self.recognizer.decode(log_probs)
            w0, w1 = self._current_window
            per_step = (w1 - w0) / max(len(log_probs), 1)
            glosses = [self._timed(token, w0 + int(s * per_step), w0 + round(e * per_step), c)
                       for token, s, e, c in zip(hyp.token_ids, hyp.start_frames, hyp.end_frames,
                                                 hyp.confidences, strict=True)]
            self.captions = captions.add_window(self.captions, glosses, w0, w1)
            self._timings.update(model=model_ms, ctc=(time.perf_counter() - start) * 1000.0)
            self._window_due += self.config.window_stride
            self._trim_window()
            return self._emit()

    # ---------------------------------------------------------------- results

    def _emit(self) -> list[StreamResult]:
        """A partial result, or a final one when the utterance ended (or the input finished)."""
        finishing = self._flushing
        if not (finishing or captions.is_endpoint(self.captions)):
            return [self.result("partial")]
        pending = self.captions.pending
        start = time.perf_counter()
        self.captions, sentence = captions.commit(self.captions)
        self.decoder.take()  # chunk mode: the committed labels leave the decoder
        result = self._result("final", pending, sentence, time.perf_counter() - start, end=finishing)
        self._timings = {}
        self._utterance_index += 1
        if finishing:
            self.reset()
        return [result]

    def result(self, kind: Literal["partial", "final"] = "partial", end: bool = False) -> StreamResult:
        """The current caption: the caption buffer's pending glosses (in chunk mode the open ones too)."""
        with self._lock:
            start = time.perf_counter()
            sentence = captions.partial_text(self.captions)
            return self._result(kind, self.captions.pending, sentence, time.perf_counter() - start, end)

    def _result(self, kind: Literal["partial", "final"], glosses: tuple[TimedGloss, ...], sentence: str,
                language_s: float, end: bool) -> StreamResult:
        fps = self.config.fps
        segments = tuple(Segment(g.gloss, round(g.start / fps, TIME_DECIMALS),
                                 round(g.end / fps, TIME_DECIMALS), round(g.confidence, 4)) for g in glosses)
        timings = dict(self._timings, language=language_s * 1000.0)
        confidence = float(np.mean([g.confidence for g in glosses])) if glosses else 0.0
        return StreamResult(kind, tuple(g.gloss for g in glosses), sentence, segments, round(confidence, 4),
                            self._seen, self._utterance_index, self.dropped,
                            {k: round(v, 3) for k, v in timings.items()}, end)

    def is_endpoint(self) -> bool:
        """Whether the current utterance has ended (enough frames without a new gloss)."""
        with self._lock:
            return captions.is_endpoint(self.captions)

    def _timed(self, token: int, first: int, last: int, confidence: float) -> TimedGloss:
        """A gloss of the vocabulary over input frames ``[first, last)``."""
        return TimedGloss(self.recognizer.vocab.tokens[token], first, last, float(confidence))

    def _input_frame(self, kept: int) -> int:
        """Input frame index of the ``kept``-th frame that reached the model (drops accounted for)."""
        offset = 0
        for at, total in self._drops:
            if kept >= at:
                offset = total
        return kept + offset

