"""The CSLR network: pose stream -> temporal downsampling -> temporal encoder -> CTC head.

The model returns log-probabilities and lengths (and the CTC loss when targets are given); decoding lives
in :mod:`cslr.decode.ctc`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from cslr.config import ModelConfig
from cslr.decode.ctc import BLANK_ID
from cslr.model.pose_stream import PoseStream
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


def downsample(x: torch.Tensor, lengths: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over non-overlapping windows of ``stride`` valid frames.

    Args:
        x: ``(B, T, D)``; frames at or after ``lengths`` are ignored.
        lengths: ``(B,)``.
        stride: window size.

    Returns:
        ``(B, ceil(T / stride), D)`` and the new lengths ``ceil(lengths / stride)``.
    """
    if stride == 1:
        return x, lengths
    b, t, d = x.shape
    windows = -(-t // stride)
    x = F.pad(x, (0, 0, 0, windows * stride - t))
    mask = (torch.arange(windows * stride, device=x.device)[None] < lengths[:, None].to(x.device)).to(x.dtype)
    total = (x * mask[..., None]).view(b, windows, stride, d).sum(2)
    count = mask.view(b, windows, stride).sum(2, keepdim=True).clamp_min(1.0)
    return total / count, torch.div(lengths + stride - 1, stride, rounding_mode="floor")


class CSLRModel(nn.Module):
    """Pose-only continuous sign recogniser with a CTC head.

    Args:
        cfg: network sizes; ``cfg.vocab_size`` must be set (> 1).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.vocab_size < 2:
            raise ValueError(f"model.vocab_size must be >= 2 (blank + glosses), got {cfg.vocab_size}")
        self.cfg = cfg
        self.pose = PoseStream(cfg.input_dim, cfg.pose_hidden, cfg.pose_layers, cfg.dropout)
        self.encoder = build_temporal(
            cfg.temporal, self.pose.output_dim, cfg.hidden_size, cfg.num_layers, cfg.dropout
        )
        self.head = nn.Linear(self.encoder.output_dim, cfg.vocab_size)

    @property
    def streamable(self) -> bool:
        """Whether :meth:`forward_chunk` is available (causal encoder)."""
        return isinstance(self.encoder, CausalLSTMEncoder)

    def forward(
        self,
        features: torch.Tensor,
        lengths: torch.Tensor,
        targets: torch.Tensor | None = None,
        target_lengths: torch.Tensor | None = None,
    ) -> ModelOutput:
        """Log-probabilities for a padded batch, and the CTC loss when targets are given.

        Args:
            features: ``(B, T, input_dim)``.
            lengths: ``(B,)`` valid frames per sequence.
            targets: ``(B, S)`` gloss ids (padding ignored) or None.
            target_lengths: ``(B,)`` glosses per sequence, required with ``targets``.
        """
        x, out_lengths = downsample(self.pose(features), lengths, self.cfg.stride)
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
        return ModelOutput(log_probs, out_lengths, loss)

    def forward_chunk(
        self, features: torch.Tensor, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, LSTMState]:
        """Streaming step (causal encoder only): the next ``(B, t, input_dim)`` frames of each stream.

        ``t`` must be a multiple of ``cfg.stride`` except in a stream's final chunk, so windows line up
        with those of :meth:`forward`. Returns log-probs ``(ceil(t / stride), B, V)`` and the new state.
        """
        if not isinstance(self.encoder, CausalLSTMEncoder):
            raise RuntimeError(
                f"forward_chunk needs the causal encoder, this model uses {self.cfg.temporal!r}"
            )
        lengths = torch.full(
            (features.shape[0],), features.shape[1], dtype=torch.long, device=features.device
        )
        x, _ = downsample(self.pose(features), lengths, self.cfg.stride)
        y, state = self.encoder.forward_chunk(x, state)
        return self.head(y).log_softmax(-1).transpose(0, 1), state
