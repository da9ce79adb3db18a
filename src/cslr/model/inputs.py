"""What a model is fed at inference, as numpy arrays: one type for every backend and caller.

:class:`ModelInputs` holds whichever inputs the model's streams need (``cfg.streams``): pose features,
video frames, and ROI crop boxes. The same type carries one sequence (no batch axis) or a batch of
streams (a leading ``B`` axis) — the docstring of each method says which it takes.

:func:`model_frames` is the one place decoded video becomes the model's frames (serving, live streams,
``--explain`` and the training frame cache all call it), so a model sees at inference the frames it was
trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cslr.config import ModelConfig
from cslr.model.rgb_stream import roi_boxes
from cslr.pose.keypoints import Keypoints, preprocess

MAX_FRAME_MISMATCH = 2  # frames by which keypoints and video of one clip may differ (decoder rounding)
ROI_FRAME_FACTOR = 2  # with ROI crops, frames keep this x rgb_size so the crops keep detail


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


def as_inputs(inputs: ModelInputs | np.ndarray) -> ModelInputs:
    """``inputs`` as :class:`ModelInputs`; a bare array is pose features (pose-only models)."""
    return inputs if isinstance(inputs, ModelInputs) else ModelInputs(features=np.asarray(inputs, np.float32))


def build_inputs(cfg: ModelConfig, kp: Keypoints | None, frames: np.ndarray | None = None) -> ModelInputs:
    """The inputs a model of ``cfg`` takes for one sequence.

    Args:
        cfg: the model's configuration (its ``streams`` and ``rgb_rois`` decide what is built).
        kp: raw keypoints ``(T, 75)`` (not normalised): features for a pose stream, boxes for ROI crops.
        frames: uint8 ``(T, 3, S, S)`` from :func:`model_frames`, for an RGB stream.

    Keypoints and frames decoded separately from one video may differ by a frame at the end: both are
    cut to the shorter. Raises ValueError naming what is missing.
    """
    needs_pose, needs_frames = "pose" in cfg.streams, "rgb" in cfg.streams
    if needs_frames and frames is None:
        raise ValueError(
            f"this model ({'+'.join(cfg.streams)}) reads video frames: give it a video or images, "
            "not keypoints alone"
        )
    if (needs_pose or cfg.rgb_rois) and kp is None:
        raise ValueError(f"this model ({'+'.join(cfg.streams)}) needs keypoints")
    if kp is not None and frames is not None and len(kp) != len(frames):
        if abs(len(kp) - len(frames)) > MAX_FRAME_MISMATCH:
            raise ValueError(f"keypoints and frames differ in length: {len(kp)} vs {len(frames)}")
        steps = min(len(kp), len(frames))
        kp, frames = kp.slice(0, steps), frames[:steps]
    return ModelInputs(
        features=preprocess(kp) if needs_pose and kp is not None else None,
        frames=frames if needs_frames else None,
        boxes=roi_boxes(kp, tuple(cfg.rgb_rois)) if cfg.rgb_rois and kp is not None else None,
    )


def frame_side(cfg: ModelConfig) -> int | None:
    """Side of the square frames kept for a model: ``rgb_size``, or :data:`ROI_FRAME_FACTOR` times it
    when ROI crops are cut from them; None for a model without an RGB stream (it reads no frames)."""
    if "rgb" not in cfg.streams:
        return None
    return cfg.rgb_size * (ROI_FRAME_FACTOR if cfg.rgb_rois else 1)


def model_frames(images: np.ndarray | Sequence[np.ndarray], side: int) -> np.ndarray:
    """Decoded video ``(T, H, W, 3)`` uint8 RGB → the model's frames ``(T, 3, side, side)`` uint8.

    Resized (stretched to a square, as the RGB stream does itself) with antialiased bilinear filtering;
    frames already ``side`` x ``side`` are only transposed.
    """
    array = np.ascontiguousarray(images if isinstance(images, np.ndarray) else np.stack(list(images)))
    video = torch.from_numpy(array if array.flags.writeable else array.copy())
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {tuple(video.shape)} {video.dtype}")
    video = video.permute(0, 3, 1, 2)
    if tuple(video.shape[-2:]) != (side, side):
        video = F.interpolate(video.float(), size=(side, side), mode="bilinear", antialias=True)
        video = video.round().clamp(0, 255).to(torch.uint8)
    return video.contiguous().numpy()


def frames_for(cfg: ModelConfig, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray | None:
    """Decoded video ``(T, H, W, 3)`` as the frames a model of ``cfg`` reads (:func:`model_frames` at
    :func:`frame_side`), or None when it reads none."""
    side = frame_side(cfg)
    return None if side is None else model_frames(images, side)
