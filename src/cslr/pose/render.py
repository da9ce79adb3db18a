"""Render RGB frames from keypoints: the synthetic signer's camera view, for training the RGB stream.

:func:`render_frames` draws a skeleton ``(T, 75, 3)`` as a small picture per frame: bones as chains of
soft round splats, hands either as finger skeletons or as one disc each (``hand_style="disc"``, used by
tasks whose hand shapes must stay invisible to the camera). Points with conf 0 are not drawn.
Hand colours may change per frame, which is how a task puts a cue into the video that the keypoints do
not carry (:func:`cslr.data.rgb.cue_corpus`). Pure NumPy, vectorised over frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from cslr.pose.keypoints import (
    LEFT_HAND,
    LEFT_SHOULDER,
    LEFT_WRIST,
    RIGHT_HAND,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    Keypoints,
)
from cslr.pose.skeleton import BODY_BONES, HAND_BONES

DEFAULT_SIZE = 32
BACKGROUND = (40, 40, 48)
BODY_COLOUR = (200, 200, 200)
SKIN_COLOUR = (222, 184, 150)
SPLATS_PER_BONE = 4
BONE_RADIUS = 0.02  # of the image side
HAND_RADIUS = 0.06
NOISE_STD = 6.0  # pixel noise, 0-255 scale
UPPER_BODY_BONES = tuple((i, j) for i, j in BODY_BONES if i < 25 and j < 25)  # legs are out of frame
PIXEL_MAX = 255

HandStyle = Literal["skeleton", "disc", "hidden"]
ARM_POINTS = frozenset(range(13, 23))  # elbows, wrists and the hand points of the body model
BADGE_RADIUS = 0.08  # of the image side
BADGE_DROP = 0.5  # badge centre below the shoulders, in shoulder widths


def render_frames(
    kp: Keypoints,
    size: int = DEFAULT_SIZE,
    hand_colours: np.ndarray | None = None,
    hand_style: HandStyle = "skeleton",
    rng: np.random.Generator | None = None,
    badge_colours: np.ndarray | None = None,
) -> np.ndarray:
    """Draw each frame of ``kp`` (normalised image coordinates) as a ``size`` x ``size`` RGB image.

    Args:
        kp: the keypoints to draw.
        size: image side in pixels.
        hand_colours: ``(T, 2, 3)`` colour (0-255) of the left and right hand per frame; skin by default.
        hand_style: ``"skeleton"`` (finger bones), ``"disc"`` (one disc per hand at the wrist) or
            ``"hidden"`` (neither hands nor arms are drawn: the camera shows no movement).
        rng: adds pixel noise when given.
        badge_colours: ``(T, 3)`` colour of a badge on the chest (below the shoulders' midpoint) per
            frame; NaN rows draw no badge. None: no badge.

    Returns:
        uint8 ``(T, 3, size, size)``, channels first as the RGB stream takes them.
    """
    t = len(kp)
    if hand_colours is None:
        hand_colours = np.broadcast_to(np.asarray(SKIN_COLOUR, np.float32), (t, 2, 3))
    image = np.broadcast_to(np.asarray(BACKGROUND, np.float32)[:, None, None], (t, 3, size, size)).copy()
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    hidden = hand_style == "hidden"
    for a, b in UPPER_BODY_BONES:
        if not (hidden and (a in ARM_POINTS or b in ARM_POINTS)):
            _draw_bone(image, grid, kp, a, b, np.asarray(BODY_COLOUR, np.float32), BONE_RADIUS)
    if badge_colours is not None:
        _draw_badge(image, grid, kp, badge_colours)
    for side, (part, wrist) in enumerate(((LEFT_HAND, LEFT_WRIST), (RIGHT_HAND, RIGHT_WRIST))):
        colour = np.asarray(hand_colours[:, side], np.float32)
        if hidden:
            break
        if hand_style == "disc":
            _splat(image, grid, kp.xyz[:, wrist, :2], kp.conf[:, part].max(1) > 0, colour, HAND_RADIUS)
            continue
        for i, j in HAND_BONES:
            _draw_bone(image, grid, kp, part.start + i, part.start + j, colour, BONE_RADIUS)
    if rng is not None:
        image += rng.normal(0.0, NOISE_STD, image.shape).astype(np.float32)
    return np.clip(np.rint(image), 0, PIXEL_MAX).astype(np.uint8)


def _draw_badge(image: np.ndarray, grid: np.ndarray, kp: Keypoints, colours: np.ndarray) -> None:
    """A disc on the chest, below the shoulders' midpoint, in frames whose colour is not NaN."""
    left, right = kp.xyz[:, LEFT_SHOULDER, :2], kp.xyz[:, RIGHT_SHOULDER, :2]
    width = np.linalg.norm(left - right, axis=-1, keepdims=True)
    centre = (left + right) / 2 + np.concatenate([np.zeros_like(width), BADGE_DROP * width], axis=1)
    lit = ~np.isnan(colours).any(1)
    _splat(image, grid, centre, lit, np.nan_to_num(colours).astype(np.float32), BADGE_RADIUS)


def _draw_bone(
    image: np.ndarray, grid: np.ndarray, kp: Keypoints, a: int, b: int, colour: np.ndarray, radius: float
) -> None:
    """Splats along the bone ``a``-``b`` in frames where both ends are detected."""
    seen = (kp.conf[:, a] > 0) & (kp.conf[:, b] > 0)
    if not seen.any():
        return
    for s in np.linspace(0.0, 1.0, SPLATS_PER_BONE):
        centre = (1 - s) * kp.xyz[:, a, :2] + s * kp.xyz[:, b, :2]
        _splat(image, grid, centre, seen, colour, radius)


def _splat(
    image: np.ndarray,
    grid: np.ndarray,
    centre: np.ndarray,
    seen: np.ndarray,
    colour: np.ndarray,
    radius: float,
) -> None:
    """Blend a soft disc at ``centre`` ``(T, 2)`` (where ``seen`` ``(T,)``) into ``image`` ``(T,3,S,S)``."""
    dx = grid[None, None, :] - centre[:, 0, None, None]
    dy = grid[None, :, None] - centre[:, 1, None, None]
    alpha = np.clip(1.5 - np.sqrt(dx * dx + dy * dy) / radius, 0.0, 1.0) * seen[:, None, None]
    colour = np.broadcast_to(colour, (len(centre), 3))
    image *= 1.0 - alpha[:, None]
    image += alpha[:, None] * colour[:, :, None, None]


def save_sample(path: str | Path, kp: Keypoints, frames: np.ndarray) -> Path:
    """Write keypoints and their frames to one ``.npz`` (``xyz``, ``conf``, ``fps``, ``frames``).

    :func:`cslr.pose.io.load_keypoints` reads the keypoints back; :func:`load_frames` the frames.
    """
    path = Path(path)
    np.savez_compressed(path, xyz=kp.xyz, conf=kp.conf, fps=np.float32(kp.fps), frames=frames)
    return path


def load_frames(path: str | Path) -> np.ndarray | None:
    """uint8 ``(T, 3, H, W)`` frames stored in an ``.npz`` by :func:`save_sample`, or None if it has none."""
    with np.load(Path(path), allow_pickle=False) as data:
        return np.asarray(data["frames"], np.uint8) if "frames" in data else None
