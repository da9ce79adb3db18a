"""The CSLR network: streams (pose, RGB, or both through gated fusion) -> temporal downsampling ->
temporal encoder -> CTC head.

The model returns log-probabilities and lengths (and the CTC loss when targets are given); decoding lives
in :mod:`cslr.decode.ctc`. Which streams exist is ``cfg.streams``: ``("pose",)`` (the original network,
whose checkpoints load unchanged), ``("rgb",)``, or ``("pose", "rgb")`` fused by
:class:`~cslr.model.fusion.GatedAttentionFusion`.
"""

from __future__ import annotations

from typing import NamedTuple, overload

import torch
import torch.nn.functional as F
from torch import nn

from cslr.config import ModelConfig
from cslr.decode.ctc import BLANK_ID
from cslr.model.fusion import GatedAttentionFusion
from cslr.model.pose_stream import GraphPoseStream, PoseStream, build_pose_stream
from cslr.model.rgb_stream import RGBStream
from cslr.model.temporal import CausalLSTMEncoder, LSTMState, build_temporal


class ModelOutput(NamedTuple):
    """What :meth:`CSLRModel.forward` returns.

    Attributes:
        log_probs: ``(T', B, V)`` log-softmax over the vocabulary (blank = 0), time first as CTC wants.
        out_lengths: ``(B,)`` valid output frames per sequence (``ceil(length / stride)``).
        loss: mean CTC loss (per target gloss), or None without targets.
    """

    log_probs: torch.Tensor
    out_lengths: torch.Tensor
    loss: torch.Tensor | None


@overload
def downsample(x: torch.Tensor, lengths: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]: ...


@overload
def downsample(x: torch.Tensor, lengths: None, stride: int) -> tuple[torch.Tensor, None]: ...


def downsample(
    x: torch.Tensor, lengths: torch.Tensor | None, stride: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean over non-overlapping windows of ``stride`` valid frames.

    Args:
        x: ``(B, T, D)``; frames at or after ``lengths`` are ignored.
        lengths: ``(B,)``, or None when every row has the full length ``T`` (the unpadded path: tensor
            ops only, so a trace for export keeps ``T`` dynamic).
        stride: window size.

    Returns:
        ``(B, ceil(T / stride), D)`` and the new lengths ``ceil(lengths / stride)`` (None for None).
    """
    if stride == 1:
        return x, lengths
    b, t, d = x.shape
    pad = (stride - t % stride) % stride
    if lengths is None:
        valid = torch.ones_like(x[..., :1])
    else:
        frame = torch.arange(t, device=x.device)[None, :, None]
        valid = (frame < lengths.to(x.device)[:, None, None]).to(x.dtype)
    total = F.pad(x * valid, (0, 0, 0, pad)).reshape(b, -1, stride, d).sum(2)
    count = F.pad(valid, (0, 0, 0, pad)).reshape(b, -1, stride, 1).sum(2).clamp_min(1.0)
    new_lengths = None if lengths is None else torch.div(lengths + stride - 1, stride, rounding_mode="floor")
    return total / count, new_lengths


class CSLRModel(nn.Module):
    """Continuous sign recogniser with a CTC head over pose, RGB, or fused pose + RGB streams.

    Inputs, wherever the model takes them: ``features (B, T, input_dim)`` pose features (pose stream),
    ``frames (B, T, 3, H, W)`` uint8 or [0, 1] float video (RGB stream), and with ``cfg.rgb_rois``
    ``boxes (B, T, R, 4)`` crops located from the keypoints (:func:`cslr.model.rgb_stream.roi_boxes`).

    Args:
        cfg: network sizes; ``cfg.vocab_size`` must be set (> 1).
        pretrained: load ``cfg.rgb_weights`` into the RGB backbone (checkpoints pass False: their own
            weights follow).
    """

    def __init__(self, cfg: ModelConfig, pretrained: bool = True) -> None:
        super().__init__()
        if cfg.vocab_size < 2:
            raise ValueError(f"model.vocab_size must be >= 2 (blank + glosses), got {cfg.vocab_size}")
        self.cfg = cfg
        self.pose = build_pose_stream(cfg) if "pose" in cfg.streams else None
        self.rgb = RGBStream(cfg, pretrained) if "rgb" in cfg.streams else None
        widths = [self._stream(name).output_dim for name in cfg.streams]
        self.fusion = (
            GatedAttentionFusion(widths, cfg.fusion_dim, cfg.fusion_heads, cfg.dropout)
            if len(widths) > 1
            else None
        )
        width = self.fusion.output_dim if self.fusion is not None else widths[0]
        self.encoder = build_temporal(
            cfg.temporal, width, cfg.hidden_size, cfg.num_layers, cfg.dropout, cfg.transformer_heads
        )
        self.head = nn.Linear(self.encoder.output_dim, cfg.vocab_size)

    @property
    def streamable(self) -> bool:
        """Whether :meth:`forward_chunk` is available (causal encoder, and no clip RGB backbone)."""
        return isinstance(self.encoder, CausalLSTMEncoder) and (self.rgb is None or self.rgb.causal)

    @property
    def needs_frames(self) -> bool:
        """Whether the model has an RGB stream (and so needs ``frames``)."""
        return self.rgb is not None

    def forward(
        self,
        features: torch.Tensor | None,
        lengths: torch.Tensor,
        targets: torch.Tensor | None = None,
        target_lengths: torch.Tensor | None = None,
        frames: torch.Tensor | None = None,
        boxes: torch.Tensor | None = None,
    ) -> ModelOutput:
        """Log-probabilities for a padded batch, and the CTC loss when targets are given.

        Args:
            features: ``(B, T, input_dim)`` pose features (None for an RGB-only model).
            lengths: ``(B,)`` valid frames per sequence.
            targets: ``(B, S)`` gloss ids (padding ignored) or None.
            target_lengths: ``(B,)`` glosses per sequence, required with ``targets``.
            frames: ``(B, T, 3, H, W)`` video frames (models with an RGB stream).
            boxes: ``(B, T, R, 4)`` ROI boxes (models with ``rgb_rois``).
        """
        return self.forward_with_gates(features, lengths, targets, target_lengths, frames, boxes)[0]

    def forward_with_gates(
        self,
        features: torch.Tensor | None,
        lengths: torch.Tensor,
        targets: torch.Tensor | None = None,
        target_lengths: torch.Tensor | None = None,
        frames: torch.Tensor | None = None,
        boxes: torch.Tensor | None = None,
    ) -> tuple[ModelOutput, torch.Tensor | None]:
        """:meth:`forward`, plus the fusion gates ``(B, T, M)`` at the input frame rate (None unfused)."""
        x, gates = self.embed(features, lengths, frames, boxes)
        x, out_lengths = downsample(x, lengths, self.cfg.stride)
        log_probs = self.head(self.encoder(x, out_lengths)).log_softmax(-1).transpose(0, 1)
        loss = None
        if targets is not None:
            if target_lengths is None:
                raise ValueError("target_lengths is required with targets")
            loss = F.ctc_loss(
                log_probs.float(),
                targets,
                out_lengths,
                target_lengths,
                blank=BLANK_ID,
                reduction="mean",
                zero_infinity=True,
            )
        return ModelOutput(log_probs, out_lengths, loss), gates

    def embed(
        self,
        features: torch.Tensor | None,
        lengths: torch.Tensor | None,
        frames: torch.Tensor | None = None,
        boxes: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-frame stream features ``(B, T, D)`` (fused when there are two) and the gates or None."""
        parts = []
        for name in self.cfg.streams:
            if name == "pose":
                parts.append(self._stream("pose")(_required(features, "features", "a pose stream")))
            else:
                parts.append(
                    self._stream("rgb")(_required(frames, "frames", "an RGB stream"), lengths, boxes)
                )
        if len(parts) > 1 and parts[0].shape[1] != parts[1].shape[1]:
            raise ValueError(
                f"features and frames differ in length: {parts[0].shape[1]} vs {parts[1].shape[1]}"
            )
        if self.fusion is None:
            return parts[0], None
        fused = self.fusion(parts)
        return fused.fused, fused.gates

    def forward_chunk(
        self,
        features: torch.Tensor | None,
        state: LSTMState | None = None,
        frames: torch.Tensor | None = None,
        boxes: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, LSTMState]:
        """Streaming step (causal encoder only): the next ``t`` frames of each stream.

        ``features`` ``(B, t, input_dim)`` and/or ``frames`` ``(B, t, 3, H, W)`` (and ``boxes``), as the
        model's streams need. ``t`` must be a multiple of ``cfg.stride`` except in a stream's final chunk,
        so windows line up with those of :meth:`forward`. Returns log-probs ``(ceil(t / stride), B, V)``
        and the new state.
        """
        if not isinstance(self.encoder, CausalLSTMEncoder):
            raise RuntimeError(
                f"forward_chunk needs the causal encoder, this model uses {self.cfg.temporal!r}"
            )
        if self.rgb is not None and not self.rgb.causal:
            raise RuntimeError(
                f"forward_chunk needs a causal RGB backbone; {self.cfg.rgb_backbone!r} sees future frames "
                "(use a ResNet backbone for live chunked recognition, or the sliding-window mode)"
            )
        source = features if features is not None else frames
        if source is None:
            raise ValueError("forward_chunk needs features and/or frames")
        lengths = torch.full((source.shape[0],), source.shape[1], dtype=torch.long, device=source.device)
        x, _ = self.embed(features, lengths, frames, boxes)
        x, _ = downsample(x, lengths, self.cfg.stride)
        y, state = self.encoder.forward_chunk(x, state)
        return self.head(y).log_softmax(-1).transpose(0, 1), state

    def _stream(self, name: str) -> PoseStream | GraphPoseStream | RGBStream:
        """The stream module called ``name`` (``pose`` or ``rgb``)."""
        module: PoseStream | GraphPoseStream | RGBStream | None = self.pose if name == "pose" else self.rgb
        if module is None:
            raise ValueError(f"this model has no {name} stream")
        return module


def _required(value: torch.Tensor | None, name: str, why: str) -> torch.Tensor:
    """``value``, or a ValueError saying the model needs it."""
    if value is None:
        raise ValueError(f"this model has {why}: pass {name}")
    return value
