"""The keypoint contract shared by every stage: 75 MediaPipe Holistic points per frame.

Layout (MediaPipe order): points 0-32 body, 33-53 left hand, 54-74 right hand.
``xyz`` holds normalised image coordinates (x, y in [0, 1] of width/height, z relative depth);
``conf`` holds a confidence in [0, 1] per point, 0 meaning "not detected". Missing points are never
silently zero: their conf is 0, and :func:`fill_gaps` / :func:`to_features` treat them explicitly.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

import numpy as np

NUM_BODY_POINTS = 33
NUM_HAND_POINTS = 21
NUM_POINTS = NUM_BODY_POINTS + 2 * NUM_HAND_POINTS  # 75
BODY = slice(0, NUM_BODY_POINTS)
LEFT_HAND = slice(NUM_BODY_POINTS, NUM_BODY_POINTS + NUM_HAND_POINTS)
RIGHT_HAND = slice(NUM_BODY_POINTS + NUM_HAND_POINTS, NUM_POINTS)
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_WRIST, RIGHT_WRIST = 15, 16
DEFAULT_FPS = 25.0
FEATURES_PER_POINT = 4  # x, y, z, conf
FEATURE_DIM = NUM_POINTS * FEATURES_PER_POINT  # 300
MIN_SHOULDER_WIDTH = 1e-3


@dataclass(frozen=True)
class Keypoints:
    """A sequence of 75-point skeletons.

    Attributes:
        xyz: float32 ``(T, 75, 3)``; values of undetected points are meaningless (conf 0).
        conf: float32 ``(T, 75)`` in [0, 1].
        fps: frames per second of the sequence.
    """

    xyz: np.ndarray
    conf: np.ndarray
    fps: float = DEFAULT_FPS

    def __post_init__(self) -> None:
        xyz = np.asarray(self.xyz, dtype=np.float32)
        conf = np.asarray(self.conf, dtype=np.float32)
        if xyz.ndim != 3 or xyz.shape[1:] != (NUM_POINTS, 3):
            raise ValueError(f"xyz must have shape (T, {NUM_POINTS}, 3), got {xyz.shape}")
        if conf.shape != xyz.shape[:2]:
            raise ValueError(f"conf must have shape {xyz.shape[:2]}, got {conf.shape}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        bad = ~np.isfinite(xyz).all(axis=-1)
        if bad.any():  # NaN / inf coordinates mean "not detected"
            xyz = np.where(bad[..., None], 0.0, xyz).astype(np.float32)
            conf = np.where(bad, 0.0, conf).astype(np.float32)
        object.__setattr__(self, "xyz", xyz)
        object.__setattr__(self, "conf", np.clip(conf, 0.0, 1.0))

    def __len__(self) -> int:
        return int(self.xyz.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self) / self.fps

    def slice(self, start: int, stop: int) -> Keypoints:
        """Frames ``[start, stop)``."""
        return Keypoints(self.xyz[start:stop], self.conf[start:stop], self.fps)

    @staticmethod
    def empty(num_frames: int, fps: float = DEFAULT_FPS) -> Keypoints:
        """``num_frames`` frames in which nothing was detected."""
        return Keypoints(
            np.zeros((num_frames, NUM_POINTS, 3), np.float32),
            np.zeros((num_frames, NUM_POINTS), np.float32),
            fps,
        )

    @staticmethod
    def concat(parts: list[Keypoints]) -> Keypoints:
        """Join sequences of equal fps in time."""
        if not parts:
            raise ValueError("nothing to concatenate")
        fps = parts[0].fps
        if any(abs(p.fps - fps) > 1e-6 for p in parts):
            raise ValueError("cannot concatenate sequences of different fps")
        return Keypoints(np.concatenate([p.xyz for p in parts]), np.concatenate([p.conf for p in parts]), fps)

    def detected(self, part: builtins.slice = BODY, min_conf: float = 0.5) -> np.ndarray:
        """Bool ``(T,)``: whether most points of ``part`` were found in each frame."""
        return (self.conf[:, part] >= min_conf).mean(axis=1) >= 0.5


def normalize(kp: Keypoints) -> Keypoints:
    """Centre on the mid-shoulder point and scale by shoulder width (pure).

    Frames without both shoulders use the nearest frame that has them; a sequence without any uses
    the image centre and unit scale. ``z`` is scaled by the same factor.
    """
    both = (kp.conf[:, LEFT_SHOULDER] > 0) & (kp.conf[:, RIGHT_SHOULDER] > 0)
    if not both.any():
        centre = np.tile(np.array([0.5, 0.5, 0.0], np.float32), (len(kp), 1))
        scale = np.ones(len(kp), np.float32)
    else:
        left, right = kp.xyz[:, LEFT_SHOULDER], kp.xyz[:, RIGHT_SHOULDER]
        centre = (left + right) / 2.0
        scale = np.linalg.norm((left - right)[:, :2], axis=-1)
        valid = both & (scale > MIN_SHOULDER_WIDTH)
        if not valid.any():
            valid = both
            scale = np.ones(len(kp), np.float32)
        nearest = _nearest_index(valid)
        centre, scale = centre[nearest], scale[nearest]
    xyz = (kp.xyz - centre[:, None, :]) / scale[:, None, None]
    xyz = np.where(kp.conf[..., None] > 0, xyz, 0.0)
    return Keypoints(xyz.astype(np.float32), kp.conf, kp.fps)


def fill_gaps(kp: Keypoints, max_gap: int = 10) -> Keypoints:
    """Linearly interpolate points missing for at most ``max_gap`` frames between two detections (pure).

    Filled points get the lower confidence of the two detections they were interpolated from, times 0.5,
    so later stages can still tell them from observed points. Longer gaps, and gaps at either end, stay
    missing (conf 0).
    """
    xyz, conf = kp.xyz.copy(), kp.conf.copy()
    seen = kp.conf > 0
    frames = np.arange(len(kp))
    for point in range(NUM_POINTS):
        idx = frames[seen[:, point]]
        if len(idx) < 2:
            continue
        gaps = np.nonzero(np.diff(idx) > 1)[0]
        for g in gaps:
            a, b = idx[g], idx[g + 1]
            if b - a - 1 > max_gap:
                continue
            w = ((frames[a + 1 : b] - a) / (b - a))[:, None]
            xyz[a + 1 : b, point] = (1 - w) * kp.xyz[a, point] + w * kp.xyz[b, point]
            conf[a + 1 : b, point] = 0.5 * min(kp.conf[a, point], kp.conf[b, point])
    return Keypoints(xyz, conf, kp.fps)


def to_features(kp: Keypoints) -> np.ndarray:
    """Model input: float32 ``(T, 300)`` = per point (x, y, z, conf), undetected points zeroed.

    Apply :func:`normalize` (and optionally :func:`fill_gaps`) first; this function only packs.
    """
    xyz = np.where(kp.conf[..., None] > 0, kp.xyz, 0.0)
    return np.concatenate([xyz, kp.conf[..., None]], axis=-1).reshape(len(kp), FEATURE_DIM).astype(np.float32)


def preprocess(kp: Keypoints, max_gap: int = 10) -> np.ndarray:
    """The standard pipeline from raw keypoints to model features ``(T, 300)``: fill, normalise, pack."""
    return to_features(normalize(fill_gaps(kp, max_gap)))


def _nearest_index(valid: np.ndarray) -> np.ndarray:
    """For each position, the index of the nearest ``True`` in ``valid`` (which has at least one)."""
    positions = np.nonzero(valid)[0]
    frames = np.arange(len(valid))
    insert = (
        np.clip(np.searchsorted(positions, frames), 1, len(positions) - 1) if len(positions) > 1 else None
    )
    if insert is None:
        return np.full(len(valid), positions[0])
    before, after = positions[insert - 1], positions[insert]
    return np.where(np.abs(frames - before) <= np.abs(after - frames), before, after)
