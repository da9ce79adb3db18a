"""Parity between an exported model and PyTorch: the shared checks, inputs and tolerances of both exports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from cslr.export.graphs import chunk_bounds
from cslr.model.network import CSLRModel

S = TypeVar("S")  # a streaming state, whatever the runtime's type for it

PARITY_LENGTHS = (1, 16, 64, 150)  # frames: a single frame, a short clip, one live window, a long clip
CHUNK_FRAMES = 16  # frames per chunk in the chunked check (rounded down to a multiple of the stride)
CHUNK_PARITY_LENGTH = 100  # frames streamed in the chunked check; not a multiple of CHUNK_FRAMES on purpose
ATOL = 1e-4  # on log-probabilities; fp32 kernels of torch and ONNX Runtime differ by ~1e-6
RTOL = 1e-4
PARITY_SEED = 0


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


def check_close(name: str, reference: np.ndarray, exported: np.ndarray) -> float:
    """Max absolute difference; :class:`ParityError` on a shape mismatch or a difference over tolerance."""
    if reference.shape != exported.shape:
        raise ParityError(f"{name}: shape {exported.shape} from the export, {reference.shape} from PyTorch")
    if not np.allclose(exported, reference, atol=ATOL, rtol=RTOL):
        raise ParityError(f"{name}: max |diff| {np.abs(exported - reference).max():.3g} exceeds atol {ATOL}")
    return float(np.abs(exported - reference).max())


@torch.inference_mode()
def torch_log_probs(model: CSLRModel, features: torch.Tensor) -> np.ndarray:
    """PyTorch reference ``(T', 1, V)`` for one unpadded sequence ``features (1, T, F)``."""
    return model(features, torch.tensor([features.shape[1]])).log_probs.numpy()


def check_lengths(
    model: CSLRModel, exported: Callable[[torch.Tensor], np.ndarray], lengths: Sequence[int] = PARITY_LENGTHS
) -> dict[int, float]:
    """Run ``exported`` (features ``(1, T, F)`` → log-probs ``(T', 1, V)``) and PyTorch on seeded features
    of each of ``lengths``; the max difference per length, :class:`ParityError` beyond tolerance."""
    diffs = {}
    for frames in lengths:
        x = random_features(model, frames)
        diffs[frames] = check_close(f"T={frames}", torch_log_probs(model, x), exported(x))
    return diffs


def stream_in_chunks(
    step: Callable[[Any, S], tuple[np.ndarray, S]], features: Any, state: S, chunk: int
) -> tuple[np.ndarray, S]:
    """Feed ``features (1, T, F)`` (numpy or torch) to ``step(piece, state) -> (log_probs (t', 1, V), state)``
    ``chunk`` frames at a time; returns the log-probs concatenated ``(T', 1, V)`` and the last state."""
    pieces = []
    for start, end in chunk_bounds(features.shape[1], chunk):
        log_probs, state = step(features[:, start:end], state)
        pieces.append(log_probs)
    return np.concatenate(pieces, axis=0), state


def check_chunked(
    model: CSLRModel, step: Callable[[torch.Tensor, S], tuple[np.ndarray, S]], state: S,
    frames: int = CHUNK_PARITY_LENGTH,
) -> tuple[float, S]:
    """Stream seeded features through an exported ``step`` in chunks of :func:`chunk_size`; the output
    must equal PyTorch's full-sequence forward. Returns the max difference and the final state."""
    x = random_features(model, frames)
    exported, state = stream_in_chunks(step, x, state, chunk_size(model.cfg.stride))
    return check_close("chunked log_probs", torch_log_probs(model, x), exported), state


def random_features(model: CSLRModel, frames: int, seed: int = PARITY_SEED) -> torch.Tensor:
    """Seeded standard-normal features ``(1, frames, input_dim)`` for parity checks."""
    gen = torch.Generator().manual_seed(seed + frames)
    return torch.randn(1, frames, model.cfg.input_dim, generator=gen)


def chunk_size(stride: int, frames: int = CHUNK_FRAMES) -> int:
    """``frames`` rounded down to a multiple of ``stride`` (at least one stride), so windows line up."""
    return stride * max(1, frames // stride)
