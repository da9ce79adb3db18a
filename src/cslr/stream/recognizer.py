"""The shared, stateless recognizer: keypoints (and frames) in, glosses with timings and English out.

One :class:`Recognizer` serves every caller (files, the REST API, all live connections); it holds the
model and decoding options but no per-caller state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cslr.data.vocab import Vocabulary
from cslr.decode.ctc import Hypothesis, beam_search, greedy_decode
from cslr.export.graphs import initial_state
from cslr.export.runtime import ChunkState, LogProbsBackend  # issue 7 (export)
from cslr.language.grammar import Lang, glosses_to_english
from cslr.model.checkpoint import default_checkpoint_path, load_checkpoint
from cslr.model.inputs import ModelInputs, as_inputs, build_inputs
from cslr.model.network import CSLRModel
from cslr.monitoring import stage_timer
from cslr.pose.keypoints import Keypoints


@dataclass(frozen=True)
class Segment:
    """One recognised gloss: times in seconds from the start of the input."""

    gloss: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class RecognitionResult:
    """What every interface returns (CLI ``--json``, Python API, REST)."""

    gloss: tuple[str, ...]
    sentence: str
    confidence: float
    frame_count: int
    fps: float
    segments: tuple[Segment, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: lists instead of tuples."""
        data = asdict(self)
        data["gloss"] = list(self.gloss)
        data["segments"] = [asdict(s) for s in self.segments]
        return data


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda`` or ``auto`` (CUDA when available)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("DEVICE=cuda but no CUDA GPU is available")
    return torch.device(device)


class Recognizer:
    """Keypoints → :class:`RecognitionResult`, shared across callers."""

    def __init__(
        self,
        model: CSLRModel,
        vocab: Vocabulary,
        *,
        device: str = "auto",
        beam_width: int = 1,
        sign_language: Lang = "asl",
        use_amp: bool = False,
        runtime: LogProbsBackend | None = None,  # issue 7 (export): e.g. ONNX Runtime; None = the torch model
    ) -> None:
        self.device = resolve_device(device)
        self.runtime = runtime  # issue 7 (export)
        self.model = model.to(self.device).eval()
        self.vocab = vocab
        self.beam_width = beam_width
        self.sign_language = sign_language
        self.use_amp = use_amp and self.device.type == "cuda"

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path | None = None,
        *,
        backend: str = "torch",
        onnx_model: str | Path | None = None,
        **options: Any,
    ) -> Recognizer:
        """Load a checkpoint (default: the bundled model); ``backend="onnx"`` runs it with ONNX Runtime."""
        checkpoint = Path(path or default_checkpoint_path())
        model, _cfg, vocab, _extra = load_checkpoint(checkpoint, map_location="cpu")
        # --- issue 7 (export): BACKEND=onnx ---
        if backend == "onnx":
            from cslr.export.runtime import onnx_backend_for

            device = options.get("device", "auto")
            onnx_path = Path(onnx_model) if onnx_model else None
            options["runtime"] = onnx_backend_for(model, vocab, checkpoint, onnx_path, device)
        elif backend != "torch":
            raise ValueError(f"BACKEND must be torch or onnx, got {backend!r}")
        # --- end issue 7 (export) ---
        return cls(model, vocab, **options)

    @property
    def needs_frames(self) -> bool:
        """Whether the model reads video frames (an RGB stream): keypoints alone are not enough."""
        return self.model.needs_frames

    def inputs_for(self, kp: Keypoints | None, frames: np.ndarray | None = None) -> ModelInputs:
        """The model's inputs for one sequence: raw keypoints and/or frames from
        :func:`~cslr.model.inputs.model_frames` (see :func:`~cslr.model.inputs.build_inputs`)."""
        return build_inputs(self.model.cfg, kp, frames)

    def log_probs(self, inputs: ModelInputs | np.ndarray) -> np.ndarray:
        """Per-step log-posteriors ``(T', V)`` for one sequence (or pose features ``(T, F)`` alone)."""
        return self.log_probs_batch([inputs])[0]

    @torch.inference_mode()
    def log_probs_batch(self, inputs: Sequence[ModelInputs | np.ndarray]) -> list[np.ndarray]:
        """Per sequence log-probs ``(T'_i, V)`` in one batched call (empty ones give ``(0, V)``): the
        runtime's, or one padded PyTorch forward. Each item is :class:`ModelInputs` or, for a pose-only
        model, its features ``(T_i, F)``."""
        items = [as_inputs(x) for x in inputs]
        out: list[np.ndarray] = [np.zeros((0, len(self.vocab)), np.float32)] * len(items)
        live = [i for i, x in enumerate(items) if len(x)]
        if not live:
            return out
        if self.runtime is not None:  # issue 7 (export)
            for i, lp in zip(live, self.runtime.log_probs_batch([items[i] for i in live]), strict=True):
                out[i] = lp
            return out
        batch, lengths = ModelInputs.stack([items[i] for i in live])
        tensors = self._tensors(batch)
        with torch.autocast(self.device.type, enabled=self.use_amp):
            result = self.model(tensors.pop("features", None), torch.from_numpy(lengths).to(self.device),
                                **tensors)
        lp = result.log_probs.float().cpu().numpy()
        for row, i in enumerate(live):
            out[i] = lp[: int(result.out_lengths[row]), row]
        return out

    def _tensors(self, inputs: ModelInputs) -> dict[str, torch.Tensor]:
        """Every present input as a tensor on the model's device."""
        return {name: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
                for name, a in inputs.arrays().items()}

    def chunk_state(self, batch: int = 1) -> ChunkState:
        """The state of ``batch`` new streams for :meth:`forward_chunk` (zeros)."""
        h, c = initial_state(self.model, batch)
        return h.numpy(), c.numpy()

    @torch.inference_mode()
    def forward_chunk(
        self, inputs: ModelInputs | np.ndarray, state: ChunkState
    ) -> tuple[np.ndarray, ChunkState]:
        """One streaming step of ``B`` streams (causal model): inputs batched ``(B, t, ...)`` (or pose
        features ``(B, t, F)``) and state ``(h, c)`` (each ``(layers, B, hidden)``) → log-probs
        ``(t', B, V)`` and the new state, all numpy; run by the runtime's chunk graph, or by
        ``model.forward_chunk``."""
        chunk = as_inputs(inputs)
        if self.runtime is not None:  # issue 7 (export)
            return self.runtime.forward_chunk(chunk, state)
        h, c = (torch.from_numpy(np.ascontiguousarray(s)).to(self.device) for s in state)
        tensors = self._tensors(chunk)
        with torch.autocast(self.device.type, enabled=self.use_amp):
            log_probs, (h, c) = self.model.forward_chunk(tensors.pop("features", None), (h, c), **tensors)
        return log_probs.float().cpu().numpy(), (h.float().cpu().numpy(), c.float().cpu().numpy())

    def decode(self, log_probs: np.ndarray) -> Hypothesis:
        """Best hypothesis for ``log_probs`` ``(T', V)``: greedy at beam width 1, else prefix beam search."""
        if self.beam_width <= 1:
            return greedy_decode(log_probs)
        return beam_search(log_probs, beam_width=self.beam_width)[0]

    def recognize(
        self, kp: Keypoints, timings: dict[str, float] | None = None, frames: np.ndarray | None = None
    ) -> RecognitionResult:
        """Recognise a whole sequence of raw keypoints (and its frames ``(T, 3, S, S)`` from
        :func:`~cslr.model.inputs.model_frames`, for a model with an RGB stream); ``timings`` (ms per
        stage) is filled in and returned with it."""
        timings = {} if timings is None else timings
        if len(kp) == 0:
            raise ValueError("no frames to recognise")
        inputs = self.inputs_for(kp, frames)
        with stage_timer(timings, "model"):
            log_probs = self.log_probs(inputs)
        with stage_timer(timings, "ctc"):
            hyp = self.decode(log_probs)
        steps = len(inputs)
        return self.result(
            hyp, steps, kp.fps, seconds_per_step=steps / kp.fps / max(len(log_probs), 1), timings=timings
        )

    def result(
        self,
        hyp: Hypothesis,
        frame_count: int,
        fps: float,
        seconds_per_step: float,
        timings: dict[str, float],
    ) -> RecognitionResult:
        """Turn a hypothesis into glosses, timed segments and an English sentence."""
        with stage_timer(timings, "language"):
            glosses = tuple(self.vocab.decode(list(hyp.token_ids)))
            sentence = glosses_to_english(list(glosses), lang=self.sign_language) if glosses else ""
        segments = tuple(
            Segment(g, round(s * seconds_per_step, 3), round(e * seconds_per_step, 3), round(c, 4))
            for g, s, e, c in zip(glosses, hyp.start_frames, hyp.end_frames, hyp.confidences, strict=True)
        )
        confidence = float(np.mean(hyp.confidences)) if hyp.confidences else 0.0
        return RecognitionResult(glosses, sentence, round(confidence, 4), frame_count, fps, segments, timings)
