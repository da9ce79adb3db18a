"""Gated attention fusion of the pose and RGB streams, with gates that can be inspected.

At every time step each modality's features are projected to a shared width (Linear + LayerNorm),
the modality tokens attend to each other (:class:`ModalityAttention`, multi-head attention with a
residual and LayerNorm), and a small network scores the tokens into one gate per modality (softmax over
modalities, so the gates of a frame sum to 1). The fused feature is the layer-normalised, gate-weighted
sum of the tokens. Nothing mixes time steps, so fusion is causal and works with the live chunked
encoder; the gates ``(B, T, M)`` come back beside the fused features for plotting
(:mod:`cslr.model.explain`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn


class FusionOutput(NamedTuple):
    """What :class:`GatedAttentionFusion` returns.

    Attributes:
        fused: ``(B, T, dim)`` fused features.
        gates: ``(B, T, M)`` weight of each modality per time step (sums to 1 over ``M``), in the order
            the modalities were given.
    """

    fused: torch.Tensor
    gates: torch.Tensor


class ModalityAttention(nn.Module):
    """Multi-head self-attention across the ``M`` modality tokens of each time step, residual + LayerNorm.

    Args:
        dim: token width.
        heads: attention heads (``dim`` must divide by it).
        dropout: on the attention output.
    """

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T, M, dim)`` -> ``(B, T, M, dim)``; each time step attends only within itself."""
        b, t, m, d = tokens.shape
        flat = tokens.reshape(b * t, m, d)
        attended, _ = self.attention(flat, flat, flat, need_weights=False)
        return self.norm(flat + self.drop(attended)).view(b, t, m, d)


class GatedAttentionFusion(nn.Module):
    """Fuse ``M`` per-frame feature streams into one, with per-time-step modality gates.

    Args:
        input_dims: feature width of each modality, in the order they are passed to :meth:`forward`.
        dim: width of the fused features.
        heads: heads of the modality attention.
        dropout: dropout in the attention and the gate network.
    """

    def __init__(self, input_dims: Sequence[int], dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if len(input_dims) < 2:
            raise ValueError(f"fusion needs at least two modalities, got {len(input_dims)}")
        self.project = nn.ModuleList(nn.Sequential(nn.Linear(n, dim), nn.LayerNorm(dim)) for n in input_dims)
        self.attention = ModalityAttention(dim, heads, dropout)
        m = len(input_dims)
        self.gate = nn.Sequential(nn.Linear(m * dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, m))
        self.norm = nn.LayerNorm(dim)
        self.output_dim = dim

    def forward(self, streams: Sequence[torch.Tensor]) -> FusionOutput:
        """``M`` tensors ``(B, T, D_m)`` -> fused ``(B, T, dim)`` and gates ``(B, T, M)``."""
        if len(streams) != len(self.project):
            raise ValueError(f"expected {len(self.project)} streams, got {len(streams)}")
        tokens = torch.stack([proj(x) for proj, x in zip(self.project, streams, strict=True)], dim=2)
        tokens = self.attention(tokens)  # (B, T, M, dim)
        gates = self.gate(tokens.flatten(2)).softmax(-1)  # (B, T, M)
        fused = self.norm((gates.unsqueeze(-1) * tokens).sum(2))
        return FusionOutput(fused, gates)
