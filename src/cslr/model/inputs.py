"""What a model is fed at inference, as numpy arrays: one type for every backend and caller.

:class:`ModelInputs` holds whichever inputs the model's streams need (``cfg.streams``): pose features,
video frames, and ROI crop boxes. The same type carries one sequence (no batch axis) or a batch of
streams (a leading ``B`` axis) — the docstring of each method says which it takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ModelInputs:
    """Inputs of one sequence, or of a batch with a leading ``B`` axis on every array.

    Attributes:
        features: float32 ``(T, F)`` pose features (models with a pose stream), else None.
        frames: uint8 ``(T, 3, H, W)`` video frames (models with an RGB stream), else None.
        boxes: float32 ``(T, R, 4)`` ROI boxes in normalised image coordinates (models with
            ``rgb_rois``), else None.
    """

    features: np.ndarray | None = None
    frames: np.ndarray | None = None
    boxes: np.ndarray | None = None

    def __post_init__(self) -> None:
        lengths = {name: len(a) for name, a in self.arrays().items()}
        if not lengths:
            raise ValueError("ModelInputs needs features and/or frames")
        if len(set(lengths.values())) > 1:
            raise ValueError(f"inputs differ in length: {lengths}")

    def arrays(self) -> dict[str, np.ndarray]:
        """The inputs that are present, by name (``features``, ``frames``, ``boxes``)."""
        named = {"features": self.features, "frames": self.frames, "boxes": self.boxes}
        return {name: a for name, a in named.items() if a is not None}

    def __len__(self) -> int:
        """Frames of a sequence (or streams of a batch): the first axis."""
        return len(next(iter(self.arrays().values())))

    def slice(self, start: int, end: int) -> ModelInputs:
        """Frames ``[start, end)`` of a sequence."""
        return ModelInputs(**{name: a[start:end] for name, a in self.arrays().items()})

    @staticmethod
    def concat(parts: Sequence[ModelInputs]) -> ModelInputs:
        """Sequences joined in time (every part has the same inputs)."""
        names = parts[0].arrays().keys()
        return ModelInputs(**{n: np.concatenate([p.arrays()[n] for p in parts]) for n in names})

    @staticmethod
    def stack(parts: Sequence[ModelInputs]) -> tuple[ModelInputs, np.ndarray]:
        """Sequences padded with zeros to the longest and stacked into a batch ``(B, T_max, ...)``;
        returns the batch and the lengths ``(B,)`` int64."""
        lengths = np.array([len(p) for p in parts], np.int64)
        longest = int(lengths.max())
        batched = {}
        for name in parts[0].arrays():
            first = parts[0].arrays()[name]
            out = np.zeros((len(parts), longest, *first.shape[1:]), first.dtype)
            for row, part in enumerate(parts):
                out[row, : len(part)] = part.arrays()[name]
            batched[name] = out
        return ModelInputs(**batched), lengths
