"""Parity between an exported model and PyTorch: the shared checks, inputs and tolerances of both exports.

Inputs travel as :class:`~cslr.model.inputs.ModelInputs` with a batch axis (``(B, T, ...)``), holding
whatever the model's streams need: pose features, uint8 frames, ROI boxes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from cslr.config import ModelConfig
from cslr.export.graphs import BOXES, FEATURES, FRAMES, chunk_bounds, graph_inputs
from cslr.model.inputs import ModelInputs
from cslr.model.network import CSLRModel
from cslr.model.rgb_stream import S3D_MIN_FRAMES
from cslr.model.temporal import LSTMState

S = TypeVar("S")  # a streaming state, whatever the runtime's type for it
TorchStep = Callable[[ModelInputs, LSTMState | None], tuple[np.ndarray, LSTMState]]

PARITY_LENGTHS = (1, 16, 64, 150)  # frames: a single frame, a short clip, one live window, a long clip
RGB_PARITY_LENGTHS = (1, 9, 24)  # with an RGB stream every frame runs a CNN (per crop too): shorter
CLIP_PARITY_LENGTHS = (S3D_MIN_FRAMES, 9, 24)  # S3D needs a few frames (the model raises on fewer)
CHUNK_FRAMES = 16  # frames per chunk in the chunked check (rounded down to a multiple of the stride)
CHUNK_PARITY_LENGTH = 100  # frames streamed in the chunked check; not a multiple of CHUNK_FRAMES on purpose
RGB_CHUNK_PARITY_LENGTH = 37  # the same with an RGB stream: two full chunks and an odd partial one
PARITY_IMAGE = (60, 80)  # height, width of random frames: 4:3 like video, and not the model's rgb_size
ROI_MISSING = 0.1  # share of random boxes marked "region not found" (all zeros)
ATOL = 1e-4  # on log-probabilities; fp32 kernels of torch and ONNX Runtime differ by ~1e-6
RTOL = 1e-4
PARITY_SEED = 0
PIXEL_LEVELS = 256


class ParityError(RuntimeError):
    """The exported model's output differs from PyTorch's beyond tolerance."""


@dataclass(frozen=True)
class ParityReport:
    """Largest absolute log-probability difference, per sequence length and for the chunked run."""

    max_abs_diff: dict[int, float]
    chunk_max_abs_diff: float | None = None

    @property
    def worst(self) -> float:
        """The largest difference seen anywhere."""
        return max([*self.max_abs_diff.values(), self.chunk_max_abs_diff or 0.0])

    def summary(self) -> str:
        """One line for the command line."""
        per_length = ", ".join(f"T={t}: {d:.1e}" for t, d in self.max_abs_diff.items())
        chunk = "" if self.chunk_max_abs_diff is None else f"; chunked: {self.chunk_max_abs_diff:.1e}"
        return f"max |diff| {per_length}{chunk}"


def parity_lengths(cfg: ModelConfig) -> tuple[int, ...]:
    """Sequence lengths the export is checked at (shorter ones when an RGB stream makes frames costly)."""
    if "rgb" not in cfg.streams:
        return PARITY_LENGTHS
    return CLIP_PARITY_LENGTHS if cfg.rgb_backbone == "s3d" else RGB_PARITY_LENGTHS


def chunk_parity_length(cfg: ModelConfig) -> int:
    """Frames streamed in the chunked check."""
    return RGB_CHUNK_PARITY_LENGTH if "rgb" in cfg.streams else CHUNK_PARITY_LENGTH


def check_close(name: str, reference: np.ndarray, exported: np.ndarray) -> float:
    """Max absolute difference; :class:`ParityError` on a shape mismatch or a difference over tolerance."""
    if reference.shape != exported.shape:
        raise ParityError(f"{name}: shape {exported.shape} from the export, {reference.shape} from PyTorch")
    if not np.allclose(exported, reference, atol=ATOL, rtol=RTOL):
        raise ParityError(f"{name}: max |diff| {np.abs(exported - reference).max():.3g} exceeds atol {ATOL}")
    return float(np.abs(exported - reference).max())


def random_inputs(
    cfg: ModelConfig, frames: int, seed: int = PARITY_SEED, batch: int | None = 1,
    image: tuple[int, int] = PARITY_IMAGE,
) -> ModelInputs:
    """Seeded inputs of every stream the model has: standard-normal features, uniform uint8 frames of
    ``image`` (height, width), boxes around random centres (some "not found").

    Returns:
        arrays ``(batch, frames, ...)``, or ``(frames, ...)`` (one sequence) with ``batch=None``.
    """
    rng = np.random.default_rng(seed + frames)
    rows = 1 if batch is None else batch
    arrays: dict[str, np.ndarray] = {}
    for name in graph_inputs(cfg):
        if name == FEATURES:
            arrays[name] = rng.standard_normal((rows, frames, cfg.input_dim)).astype(np.float32)
        elif name == FRAMES:
            arrays[name] = rng.integers(0, PIXEL_LEVELS, (rows, frames, 3, *image), dtype=np.uint8)
        else:
            arrays[name] = _random_boxes(rng, (rows, frames, len(cfg.rgb_rois)))
    return ModelInputs(**{n: a if batch is not None else a[0] for n, a in arrays.items()})


def _random_boxes(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """float32 ``(*shape, 4)`` boxes ``(x0, y0, x1, y1)`` inside the image; :data:`ROI_MISSING` are zeros."""
    centre = rng.uniform(0.2, 0.8, (*shape, 2))
    half = rng.uniform(0.05, 0.2, (*shape, 1))
    boxes = np.concatenate([centre - half, centre + half], axis=-1)
    return np.where(rng.random((*shape, 1)) < ROI_MISSING, 0.0, boxes).astype(np.float32)


def as_tensors(inputs: ModelInputs) -> dict[str, torch.Tensor]:
    """The arrays of ``inputs`` as CPU tensors, by name."""
    return {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in inputs.arrays().items()}


def time_slice(inputs: ModelInputs, start: int, end: int) -> ModelInputs:
    """Frames ``[start, end)`` of a batch ``(B, T, ...)``."""
    return ModelInputs(**{name: a[:, start:end] for name, a in inputs.arrays().items()})


@torch.inference_mode()
def torch_log_probs(model: CSLRModel, inputs: ModelInputs) -> np.ndarray:
    """PyTorch reference ``(T', B, V)`` for a batch of unpadded sequences ``(B, T, ...)``."""
    named = as_tensors(inputs)
    batch, frames = next(iter(named.values())).shape[:2]
    lengths = torch.full((batch,), frames, dtype=torch.long)
    out = model(named.get(FEATURES), lengths, frames=named.get(FRAMES), boxes=named.get(BOXES))
    return out.log_probs.numpy()


def torch_chunk_step(model: CSLRModel) -> TorchStep:
    """:meth:`CSLRModel.forward_chunk` as a step over batched chunks: the reference for chunk graphs."""

    @torch.inference_mode()
    def step(piece: ModelInputs, state: LSTMState | None) -> tuple[np.ndarray, LSTMState]:
        named = as_tensors(piece)
        features, frames, boxes = (named.get(name) for name in (FEATURES, FRAMES, BOXES))
        log_probs, state = model.forward_chunk(features, state, frames, boxes)
        return log_probs.numpy(), state

    return step


def check_lengths(
    model: CSLRModel, exported: Callable[[ModelInputs], np.ndarray], lengths: Sequence[int] | None = None
) -> dict[int, float]:
    """Run ``exported`` (inputs ``(1, T, ...)`` → log-probs ``(T', 1, V)``) and PyTorch on seeded inputs of
    each of ``lengths`` (default :func:`parity_lengths`); the max difference per length,
    :class:`ParityError` beyond tolerance."""
    diffs = {}
    for frames in lengths or parity_lengths(model.cfg):
        x = random_inputs(model.cfg, frames)
        diffs[frames] = check_close(f"T={frames}", torch_log_probs(model, x), exported(x))
    return diffs


def stream_in_chunks(
    step: Callable[[ModelInputs, S], tuple[np.ndarray, S]], inputs: ModelInputs, state: S, chunk: int
) -> tuple[np.ndarray, S]:
    """Feed a batch ``inputs (B, T, ...)`` to ``step(piece, state) -> (log_probs (t', B, V), state)``
    ``chunk`` frames at a time; returns the log-probs concatenated ``(T', B, V)`` and the last state."""
    pieces = []
    frames = next(iter(inputs.arrays().values())).shape[1]
    for start, end in chunk_bounds(frames, chunk):
        log_probs, state = step(time_slice(inputs, start, end), state)
        pieces.append(log_probs)
    return np.concatenate(pieces, axis=0), state


def check_chunked(
    model: CSLRModel, step: Callable[[ModelInputs, S], tuple[np.ndarray, S]], state: S,
    frames: int | None = None,
) -> tuple[float, S]:
    """Stream seeded inputs through an exported ``step`` in chunks of :func:`chunk_size`; the output must
    equal PyTorch's full-sequence forward. Returns the max difference and the final state."""
    x = random_inputs(model.cfg, frames or chunk_parity_length(model.cfg))
    exported, state = stream_in_chunks(step, x, state, chunk_size(model.cfg.stride))
    return check_close("chunked log_probs", torch_log_probs(model, x), exported), state


def chunk_size(stride: int, frames: int = CHUNK_FRAMES) -> int:
    """``frames`` rounded down to a multiple of ``stride`` (at least one stride), so windows line up."""
    return stride * max(1, frames // stride)
