"""Streaming feature extraction: the offline :func:`~cslr.pose.keypoints.preprocess`, applied frame by frame.

``preprocess`` fills gaps of up to ``max_gap`` frames by interpolation and normalises on the nearest frame
with both shoulders, so the features of frame ``t`` depend on a few frames after it. :class:`FeatureStream`
runs ``preprocess`` over a short local window (``history`` frames before, ``lookahead`` after) and releases
the features of frame ``t`` once frame ``t + lookahead`` has arrived. With ``lookahead >= max_gap + 1``
the result equals ``preprocess`` on the whole sequence whenever the shoulders are seen at least every
``max_gap + 1`` frames; a smaller lookahead trades that exactness on short gaps for latency.
"""

from __future__ import annotations

import numpy as np

from cslr.pose.keypoints import FEATURE_DIM, NUM_POINTS, Keypoints, preprocess

DEFAULT_MAX_GAP = 10  # the default of preprocess / fill_gaps
EXACT_LOOKAHEAD = DEFAULT_MAX_GAP + 1  # lookahead at which streaming features equal offline ones
DEFAULT_LOOKAHEAD = 4  # frames (160 ms at 25 fps): fills short hand drop-outs, keeps captions fast


class FeatureStream:
    """Raw keypoint frames in, model features ``(n, 300)`` out, in order, with bounded look-ahead.

    Args:
        lookahead: frames after ``t`` that must be known before frame ``t`` is released.
        fps: frame rate of the incoming keypoints.
        max_gap: longest gap that is interpolated (as in :func:`~cslr.pose.keypoints.fill_gaps`).
    """

    def __init__(self, lookahead: int = DEFAULT_LOOKAHEAD, fps: float = 25.0,
                 max_gap: int = DEFAULT_MAX_GAP) -> None:
        if lookahead < 0:
            raise ValueError(f"lookahead must be >= 0, got {lookahead}")
        self.lookahead = lookahead
        self.fps = fps
        self.max_gap = max_gap
        self.history = max_gap + 1
        self._xyz = np.zeros((0, NUM_POINTS, 3), np.float32)
        self._conf = np.zeros((0, NUM_POINTS), np.float32)
        self._base = 0  # stream index of self._xyz[0]
        self.received = 0  # frames pushed so far
        self.emitted = 0  # frames whose features were released

    def push(self, xyz: np.ndarray, conf: np.ndarray) -> None:
        """Append raw frames: ``xyz`` ``(n, 75, 3)``, ``conf`` ``(n, 75)``."""
        self._xyz = np.concatenate([self._xyz, np.asarray(xyz, np.float32)])
        self._conf = np.concatenate([self._conf, np.asarray(conf, np.float32)])
        self.received += len(xyz)

    def available(self, final: bool = False) -> int:
        """Frames whose features can be released now (all pending ones when ``final``)."""
        known = self.received if final else self.received - self.lookahead
        return max(known - self.emitted, 0)

    def pending(self) -> int:
        """Frames received but not yet released."""
        return self.received - self.emitted

    def drop_oldest(self, count: int) -> int:
        """Forget up to ``count`` of the oldest unreleased frames (when falling behind). Returns how many."""
        count = min(count, self.pending())
        if count <= 0:
            return 0
        start = self.emitted - self._base
        self._xyz = np.delete(self._xyz, np.s_[start : start + count], axis=0)
        self._conf = np.delete(self._conf, np.s_[start : start + count], axis=0)
        self.received -= count
        return count

    def pop(self, count: int) -> np.ndarray:
        """Release the features of the next ``count`` frames: float32 ``(count, 300)``."""
        if count > self.received - self.emitted:
            raise ValueError(f"only {self.received - self.emitted} frames pending, {count} requested")
        if count == 0:
            return np.zeros((0, FEATURE_DIM), np.float32)
        lo = max(self.emitted - self.history, self._base)
        hi = min(self.emitted + count + self.lookahead, self.received)
        window = Keypoints(self._xyz[lo - self._base : hi - self._base],
                           self._conf[lo - self._base : hi - self._base], self.fps)
        rows = preprocess(window, self.max_gap)[self.emitted - lo : self.emitted - lo + count]
        self.emitted += count
        self._trim()
        return rows

    def _trim(self) -> None:
        """Keep only the ``history`` frames before the next one to release, and the pending ones."""
        keep_from = max(self.emitted - self.history, self._base)
        cut = keep_from - self._base
        if cut > 0:
            self._xyz, self._conf = self._xyz[cut:], self._conf[cut:]
            self._base = keep_from
