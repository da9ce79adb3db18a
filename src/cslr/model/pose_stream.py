"""The pose stream: a per-frame MLP over the 300 keypoint features."""

from __future__ import annotations

import torch
from torch import nn


class PoseStream(nn.Module):
    """``pose_layers`` blocks of Linear -> LayerNorm -> GELU -> Dropout applied to every frame independently.

    Args:
        input_dim: features per frame (300).
        hidden: output width of every block.
        layers: number of blocks.
        dropout: dropout after each block.
    """

    def __init__(self, input_dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks += [nn.Linear(input_dim if i == 0 else hidden, hidden), nn.LayerNorm(hidden), nn.GELU()]
            blocks.append(nn.Dropout(dropout))
        self.net = nn.Sequential(*blocks)
        self.output_dim = hidden

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, T, input_dim)`` -> ``(B, T, hidden)``."""
        return self.net(features)
