"""The 75-point skeleton as a graph: bones (edges), a parent per point, and a normalised adjacency.

Points follow :mod:`cslr.pose.keypoints` (MediaPipe Holistic order): 0-32 body, 33-53 left hand,
54-74 right hand. Each hand's wrist is joined to the body's wrist of the same side, so the graph is
connected. Used by the graph-convolution pose stream (:class:`cslr.model.pose_stream.GraphPoseStream`).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from cslr.pose.keypoints import LEFT_HAND, LEFT_SHOULDER, LEFT_WRIST, NUM_POINTS, RIGHT_HAND, RIGHT_WRIST

# MediaPipe pose connections (33 body points).
BODY_BONES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 23), (12, 24), (23, 24),
    (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (23, 25), (25, 27), (27, 29), (29, 31), (27, 31),
    (24, 26), (26, 28), (28, 30), (30, 32), (28, 32),
    (0, 9), (9, 11), (10, 12),
)  # fmt: skip
# MediaPipe hand connections (21 points, wrist 0), relative to the hand's first point.
HAND_BONES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 4),
    (0, 5), (5, 6), (6, 7), (7, 8),
    (5, 9), (9, 10), (10, 11), (11, 12),
    (9, 13), (13, 14), (14, 15), (15, 16),
    (13, 17), (0, 17), (17, 18), (18, 19), (19, 20),
)  # fmt: skip
ROOT = LEFT_SHOULDER  # root of the parent tree (any body point works; the graph is connected)


def skeleton_bones() -> list[tuple[int, int]]:
    """Every bone ``(i, j)`` of the 75-point skeleton: body, both hands, and wrist-to-hand links."""
    bones = list(BODY_BONES)
    for hand in (LEFT_HAND, RIGHT_HAND):
        bones += [(hand.start + i, hand.start + j) for i, j in HAND_BONES]
    bones += [(LEFT_WRIST, LEFT_HAND.start), (RIGHT_WRIST, RIGHT_HAND.start)]
    return bones


def bone_parents() -> np.ndarray:
    """``(75,)`` int64: each point's parent in a breadth-first tree from :data:`ROOT` (the root is its own).

    ``xyz - xyz[parents]`` is then one bone vector per point (zero for the root).
    """
    neighbours: list[list[int]] = [[] for _ in range(NUM_POINTS)]
    for i, j in skeleton_bones():
        neighbours[i].append(j)
        neighbours[j].append(i)
    parents = np.full(NUM_POINTS, -1, np.int64)
    parents[ROOT] = ROOT
    queue = deque([ROOT])
    while queue:
        node = queue.popleft()
        for nxt in neighbours[node]:
            if parents[nxt] < 0:
                parents[nxt] = node
                queue.append(nxt)
    if (parents < 0).any():
        raise RuntimeError(f"skeleton is not connected: points {np.flatnonzero(parents < 0)} unreachable")
    return parents


def normalized_adjacency() -> np.ndarray:
    """``(75, 75)`` float32 ``D^-1/2 (A + I) D^-1/2`` of the skeleton graph (self-loops included)."""
    adj = np.eye(NUM_POINTS, dtype=np.float64)
    for i, j in skeleton_bones():
        adj[i, j] = adj[j, i] = 1.0
    inv_sqrt = 1.0 / np.sqrt(adj.sum(1))
    return (adj * inv_sqrt[:, None] * inv_sqrt[None, :]).astype(np.float32)
