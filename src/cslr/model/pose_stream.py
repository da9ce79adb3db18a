"""The pose stream: per-frame features of the 75-point skeleton, ``(B, T, 300) -> (B, T, hidden)``.

Two variants (``model.pose_encoder``):

* ``mlp`` — :class:`PoseStream`, blocks of Linear -> LayerNorm -> GELU over the flat 300 features.
* ``gcn`` — :class:`GraphPoseStream`, graph convolutions over the skeleton's bones
  (:mod:`cslr.pose.skeleton`). Each point starts from its (x, y, z, conf) and its bone vector (the
  point minus its parent), layers mix neighbours through the normalised adjacency, re-weighted by a
  learnable per-edge importance, and the points are pooled per body part (body, left hand, right hand).

Both work frame by frame, so both are causal (fine for the live chunked encoder).
"""

from __future__ import annotations

import torch
from torch import nn

from cslr.config import ModelConfig
from cslr.pose.keypoints import BODY, FEATURES_PER_POINT, LEFT_HAND, NUM_POINTS, RIGHT_HAND
from cslr.pose.skeleton import bone_parents, normalized_adjacency

GCN_MIN_CHANNELS = 16
GCN_CHANNEL_DIVISOR = 4  # graph channels per point = pose_hidden // this (at least GCN_MIN_CHANNELS)
BONE_DIM = 3  # x, y, z of the bone vector
POOL_PARTS = (BODY, LEFT_HAND, RIGHT_HAND)


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


class GraphConvBlock(nn.Module):
    """One residual graph convolution: ``H + Dropout(GELU(LN((A * M) H W)))`` over ``(..., 75, C)``."""

    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.linear = nn.Linear(channels, channels)
        self.norm = nn.LayerNorm(channels)
        self.edge_importance = nn.Parameter(torch.ones(NUM_POINTS, NUM_POINTS))
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """``h (N, 75, C)``, ``adjacency (75, 75)`` -> ``(N, 75, C)``."""
        mixed = torch.matmul(adjacency * self.edge_importance, self.linear(h))
        return h + self.drop(nn.functional.gelu(self.norm(mixed)))


class GraphPoseStream(nn.Module):
    """Graph-convolution pose encoder over the skeleton's bones (see the module docstring).

    Args:
        hidden: output features per frame.
        layers: graph convolution blocks.
        dropout: dropout inside the blocks and on the output.
    """

    def __init__(self, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        channels = max(GCN_MIN_CHANNELS, hidden // GCN_CHANNEL_DIVISOR)
        self.adjacency: torch.Tensor
        self.parents: torch.Tensor
        self.register_buffer("adjacency", torch.from_numpy(normalized_adjacency()), persistent=False)
        self.register_buffer("parents", torch.from_numpy(bone_parents()), persistent=False)
        self.embed = nn.Linear(FEATURES_PER_POINT + BONE_DIM, channels)
        self.blocks = nn.ModuleList(GraphConvBlock(channels, dropout) for _ in range(layers))
        self.out = nn.Sequential(
            nn.Linear(channels * len(POOL_PARTS), hidden),
            nn.LayerNorm(hidden),
            nn.GELU(),
            nn.Dropout(dropout),
        )
        self.output_dim = hidden

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, T, 300)`` keypoint features (x, y, z, conf per point) -> ``(B, T, hidden)``."""
        b, t, _ = features.shape
        points = features.reshape(b * t, NUM_POINTS, FEATURES_PER_POINT)
        h = self.embed(torch.cat([points, self._bones(points)], dim=-1))
        for block in self.blocks:
            h = block(h, self.adjacency)
        pooled = torch.cat([h[:, part].mean(1) for part in POOL_PARTS], dim=-1)
        return self.out(pooled).reshape(b, t, -1)

    def _bones(self, points: torch.Tensor) -> torch.Tensor:
        """Bone vectors ``(N, 75, 3)``: point minus parent, zero where either is undetected."""
        xyz, conf = points[..., :BONE_DIM], points[..., BONE_DIM]
        both = (conf > 0) & (conf[:, self.parents] > 0)
        return (xyz - xyz[:, self.parents]) * both[..., None].to(xyz.dtype)


def build_pose_stream(cfg: ModelConfig) -> PoseStream | GraphPoseStream:
    """The pose encoder named by ``cfg.pose_encoder`` (``mlp`` or ``gcn``)."""
    if cfg.pose_encoder == "gcn":
        return GraphPoseStream(cfg.pose_hidden, cfg.pose_layers, cfg.dropout)
    return PoseStream(cfg.input_dim, cfg.pose_hidden, cfg.pose_layers, cfg.dropout)
