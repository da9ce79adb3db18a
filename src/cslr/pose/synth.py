"""A deterministic synthetic signer: continuous 75-point "signing" for tests and smoke training.

Each made-up gloss is a distinct movement of one or both hands: a wrist path through signing space
(a Bezier curve, sometimes with a small oscillation) and a hand shape (curl of each finger plus the hand's
in-plane orientation) that morphs from a start to an end configuration. A sentence is rendered as

    rest -> transition -> sign -> transition -> sign ... -> transition -> rest

at 25 fps, with per-signer variation (body size and position in the image, hand size, speed), per-
performance variation (paths, durations), coordinate jitter, and hand frames randomly missing (conf 0),
as MediaPipe loses hands in real video. Everything derives from the seeds, so the same seed gives the
same output.

Geometry is built in *body units* (origin between the shoulders, shoulder width 1, y pointing down) and
mapped to normalised image coordinates per signer.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from cslr.pose.keypoints import (
    DEFAULT_FPS,
    LEFT_HAND,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NUM_HAND_POINTS,
    NUM_POINTS,
    RIGHT_HAND,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    Keypoints,
)

# Hand state vector: wrist (x, y), five finger curls in [0, 1], in-plane orientation (radians).
STATE_DIM = 8
WRIST_XY, CURLS, ANGLE = slice(0, 2), slice(2, 7), 7
RIGHT, LEFT = 0, 1
REST_STATE = np.array([-0.45, 2.0, 0.3, 0.3, 0.3, 0.3, 0.3, 0.2], np.float32)  # right hand; mirror for left
REST_Y = 1.7  # wrists below this (body units) count as resting
HAND_LENGTH = 0.5  # wrist to middle fingertip, in shoulder widths

SIGN_FRAMES = (10, 18)  # base duration of one sign
TRANSITION_FRAMES = (5, 9)
REST_FRAMES = (6, 14)
JITTER = 0.002  # std of coordinate noise, image units
DROP_PROB = 0.04  # per-frame chance of losing a hand
DROP_BURSTS = (0, 3)  # bursts of missing hand frames per sentence
BURST_FRAMES = (2, 8)

# Body landmarks (MediaPipe pose order) that do not move with the hands, in body units.
_BODY_FIXED = {
    0: (0.0, -1.1),
    1: (0.08, -1.25),
    2: (0.15, -1.26),
    3: (0.22, -1.25),
    4: (-0.08, -1.25),
    5: (-0.15, -1.26),
    6: (-0.22, -1.25),
    7: (0.36, -1.15),
    8: (-0.36, -1.15),
    9: (0.1, -0.93),
    10: (-0.1, -0.93),
    11: (0.5, 0.0),
    12: (-0.5, 0.0),
    23: (0.33, 1.9),
    24: (-0.33, 1.9),
    25: (0.35, 3.0),
    26: (-0.35, 3.0),
    27: (0.35, 4.0),
    28: (-0.35, 4.0),
    29: (0.33, 4.1),
    30: (-0.33, 4.1),
    31: (0.4, 4.2),
    32: (-0.4, 4.2),
}
_LOWER_BODY = range(25, 33)
_LOWER_BODY_CONF = 0.1  # legs are usually out of frame
_ELBOWS = {RIGHT: 14, LEFT: 13}
_HAND_BODY_POINTS = {RIGHT: (16, 18, 20, 22), LEFT: (15, 17, 19, 21)}  # wrist, pinky, index, thumb
_HAND_TO_BODY = (0, 17, 5, 1)  # the hand landmarks those body points copy

# Hand skeleton: (lateral offset of the finger base, distance of the base from the wrist, segment lengths),
# in hand lengths; thumb first, then index, middle, ring, pinky (MediaPipe order).
_FINGERS = (
    (-0.18, 0.12, (0.16, 0.13, 0.11)),
    (-0.12, 0.45, (0.2, 0.12, 0.1)),
    (-0.03, 0.46, (0.22, 0.14, 0.11)),
    (0.06, 0.44, (0.2, 0.13, 0.1)),
    (0.14, 0.4, (0.15, 0.1, 0.09)),
)
_THUMB_SPREAD = 0.9  # radians between the thumb and the other fingers
FINGER_BEND = np.pi / 2.5  # radians per joint of a fully curled finger


@dataclass(frozen=True)
class GlossSpec:
    """How one made-up gloss is signed (body units).

    Attributes:
        controls: ``(2, K, 2)`` Bezier control points of the right and left wrist paths.
        start_shape, end_shape: ``(2, 6)`` five curls + orientation per hand at start and end.
        two_handed: whether the left hand signs too (otherwise it rests).
        wiggle: ``(2,)`` amplitude and cycles of an oscillation added to the path (0 amplitude: none).
        frames: base duration in frames.
    """

    controls: np.ndarray
    start_shape: np.ndarray
    end_shape: np.ndarray
    two_handed: bool
    wiggle: np.ndarray
    frames: int


@dataclass(frozen=True)
class SignerStyle:
    """Per-signer variation: where and how large the signer appears, and how fast they sign."""

    centre: np.ndarray  # (2,) image position of the mid-shoulder point
    scale: float  # shoulder width in image units
    hand_scale: float
    speed: float  # >1 signs faster (fewer frames)
    rest_visible: bool  # whether resting hands stay in view


@dataclass(frozen=True)
class SynthSentence:
    """One rendered sentence: keypoints, the gloss ids (signer-local, 0-based) and their frame spans."""

    keypoints: Keypoints
    gloss_ids: tuple[int, ...]
    spans: tuple[tuple[int, int], ...]


class SyntheticSigner:
    """A vocabulary of ``num_glosses`` made-up signs, fixed by ``seed``.

    Args:
        num_glosses: number of distinct signs.
        seed: seed of the sign inventory (not of individual sentences: pass an ``rng`` for those).
        fps: frame rate of rendered sentences.
    """

    def __init__(self, num_glosses: int, seed: int = 0, fps: float = DEFAULT_FPS) -> None:
        if num_glosses < 1:
            raise ValueError(f"num_glosses must be >= 1, got {num_glosses}")
        self.num_glosses = num_glosses
        self.fps = fps
        inventory_rng = np.random.default_rng(seed)
        self.glosses = tuple(_random_gloss(inventory_rng) for _ in range(num_glosses))

    @property
    def gloss_names(self) -> tuple[str, ...]:
        """Names of the made-up glosses, ``G00``, ``G01``, ..."""
        return tuple(f"G{i:02d}" for i in range(self.num_glosses))

    def sample_style(self, rng: np.random.Generator) -> SignerStyle:
        """A random signer appearance."""
        return SignerStyle(
            centre=np.array([rng.uniform(0.42, 0.58), rng.uniform(0.42, 0.58)], np.float32),
            scale=float(rng.uniform(0.16, 0.26)),
            hand_scale=float(rng.uniform(0.85, 1.15)),
            speed=float(rng.uniform(0.85, 1.2)),
            rest_visible=bool(rng.random() < 0.4),
        )

    def sentence(
        self,
        gloss_ids: list[int] | tuple[int, ...],
        rng: np.random.Generator,
        style: SignerStyle | None = None,
    ) -> tuple[Keypoints, list[tuple[int, int]]]:
        """Render a continuous sentence of the given signs.

        Args:
            gloss_ids: indices into this signer's inventory (0 .. num_glosses-1).
            rng: source of all per-sentence randomness.
            style: signer appearance; drawn from ``rng`` when omitted.

        Returns:
            keypoints ``(T, 75, 3)`` at ``self.fps``, and per sign its ``[start, end)`` frame span.
        """
        style = style or self.sample_style(rng)
        states, spans = self._timeline(list(gloss_ids), rng, style)
        xyz, conf = _render(states, style, rng)
        _drop_hands(conf, states, style, rng)
        return Keypoints(xyz, conf, self.fps), spans

    def _timeline(
        self, gloss_ids: list[int], rng: np.random.Generator, style: SignerStyle
    ) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Hand states ``(T, 2, STATE_DIM)`` for the sentence, and the span of each sign."""
        rest = _rest_states()
        parts = [np.repeat(rest[None], _draw(rng, REST_FRAMES), axis=0)]
        spans = []
        length = len(parts[0])
        for gid in gloss_ids:
            if not 0 <= gid < self.num_glosses:
                raise ValueError(f"gloss id {gid} out of range 0..{self.num_glosses - 1}")
            sign = _perform(self.glosses[gid], rng, style.speed)
            bridge = _transition(parts[-1][-1], sign[0], _draw(rng, TRANSITION_FRAMES))
            parts += [bridge, sign]
            spans.append((length + len(bridge), length + len(bridge) + len(sign)))
            length += len(bridge) + len(sign)
        parts.append(_transition(parts[-1][-1], rest, _draw(rng, TRANSITION_FRAMES)))
        parts.append(np.repeat(rest[None], _draw(rng, REST_FRAMES), axis=0))
        return np.concatenate(parts).astype(np.float32), spans


def make_corpus(
    signer: SyntheticSigner,
    num_sentences: int,
    rng: np.random.Generator,
    min_signs: int = 1,
    max_signs: int = 6,
) -> list[SynthSentence]:
    """``num_sentences`` random sentences of ``min_signs``..``max_signs`` signs, each by a new signer."""
    corpus = []
    for _ in range(num_sentences):
        n = int(rng.integers(min_signs, max_signs + 1))
        ids = tuple(int(i) for i in rng.integers(0, signer.num_glosses, size=n))
        kp, spans = signer.sentence(ids, rng)
        corpus.append(SynthSentence(kp, ids, tuple(spans)))
    return corpus


def _draw(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    """An integer in ``[low, high]``."""
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _mirror(state: np.ndarray) -> np.ndarray:
    """The left-hand version of a right-hand state (x and orientation flipped)."""
    out = state.copy()
    out[..., 0] = -out[..., 0]
    out[..., ANGLE] = -out[..., ANGLE]
    return out


def _rest_states() -> np.ndarray:
    """``(2, STATE_DIM)``: both hands resting by the hips."""
    return np.stack([REST_STATE, _mirror(REST_STATE)])


def _random_gloss(rng: np.random.Generator) -> GlossSpec:
    """A random but well-formed sign: wrist path in signing space, start/end hand shapes."""
    k = int(rng.integers(2, 5))
    right = np.stack([rng.uniform(-1.3, 0.9, k), rng.uniform(-1.3, 1.4, k)], axis=1)
    two_handed = bool(rng.random() < 0.4)
    if rng.random() < 0.5:  # symmetric two-handed sign: the left hand mirrors the right
        left = right * np.array([-1.0, 1.0]) + rng.normal(0.0, 0.1, right.shape)
    else:
        left = np.stack([rng.uniform(-0.9, 1.3, k), rng.uniform(-1.3, 1.4, k)], axis=1)

    def shape() -> np.ndarray:
        return np.concatenate(
            [rng.choice([0.0, 0.5, 1.0], 5) + rng.uniform(-0.1, 0.1, 5), rng.uniform(-0.9, 0.9, 1)]
        )

    start = np.stack([shape(), shape()])
    end = np.stack([shape(), shape()]) if rng.random() < 0.5 else start.copy()
    wiggle = (
        np.array([rng.uniform(0.1, 0.25), float(rng.integers(2, 4))]) if rng.random() < 0.3 else np.zeros(2)
    )
    return GlossSpec(np.stack([right, left]), start, end, two_handed, wiggle, _draw(rng, SIGN_FRAMES))


def _bezier(controls: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points ``(len(t), D)`` on the Bezier curve of ``controls`` ``(K, D)`` at ``t`` in [0, 1]."""
    k = len(controls) - 1
    basis = np.stack([comb(k, i) * t**i * (1 - t) ** (k - i) for i in range(k + 1)], axis=1)
    return basis @ controls


def _perform(spec: GlossSpec, rng: np.random.Generator, speed: float) -> np.ndarray:
    """One performance of ``spec``: states ``(n, 2, STATE_DIM)`` with per-performance variation."""
    n = max(4, round(spec.frames * rng.uniform(0.85, 1.15) / speed))
    t = np.linspace(0.0, 1.0, n)
    states = np.empty((n, 2, STATE_DIM))
    for hand in (RIGHT, LEFT):
        controls = spec.controls[hand] + rng.normal(0.0, 0.05, spec.controls[hand].shape)
        path = _bezier(controls, t)
        path[:, 1] += spec.wiggle[0] * np.sin(2 * np.pi * spec.wiggle[1] * t)
        shape = (1 - t)[:, None] * spec.start_shape[hand] + t[:, None] * spec.end_shape[hand]
        states[:, hand, WRIST_XY] = path
        states[:, hand, 2:] = shape
    if not spec.two_handed:
        states[:, LEFT] = _mirror(REST_STATE)
    return states


def _transition(a: np.ndarray, b: np.ndarray, frames: int) -> np.ndarray:
    """``frames`` states easing from ``a`` to ``b`` (smoothstep), both ends excluded."""
    s = np.linspace(0.0, 1.0, frames + 2)[1:-1]
    s = s * s * (3 - 2 * s)
    return a[None] + s[:, None, None] * (b - a)[None]


def _render(
    states: np.ndarray, style: SignerStyle, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Skeletons ``(T, 75, 3)`` in image coordinates and confidences ``(T, 75)`` for ``states``."""
    t = len(states)
    body = np.zeros((t, NUM_POINTS, 3))
    for idx, (x, y) in _BODY_FIXED.items():
        body[:, idx, :2] = (x, y)
    for hand, part in ((RIGHT, RIGHT_HAND), (LEFT, LEFT_HAND)):
        side = -1.0 if hand == RIGHT else 1.0
        hand_pts = _hand_points(states[:, hand], side, style.hand_scale)
        body[:, part] = hand_pts
        for body_idx, hand_idx in zip(_HAND_BODY_POINTS[hand], _HAND_TO_BODY, strict=True):
            body[:, body_idx] = hand_pts[:, hand_idx]
        shoulder = body[:, RIGHT_SHOULDER if hand == RIGHT else LEFT_SHOULDER]
        wrist = body[:, RIGHT_WRIST if hand == RIGHT else LEFT_WRIST]
        body[:, _ELBOWS[hand]] = (shoulder + wrist) / 2 + np.array([0.35 * side, 0.35, 0.0])
    xyz = body * style.scale
    xyz[..., :2] += style.centre
    xyz += rng.normal(0.0, JITTER, xyz.shape)
    conf = np.ones((t, NUM_POINTS))
    conf[:, list(_LOWER_BODY)] = _LOWER_BODY_CONF
    return xyz.astype(np.float32), conf.astype(np.float32)


def _hand_points(states: np.ndarray, side: float, hand_scale: float) -> np.ndarray:
    """21 hand landmarks ``(T, 21, 3)`` in body units (MediaPipe order) for hand states ``(T, STATE_DIM)``.

    ``side`` is -1 for the right hand and +1 for the left (mirrors the lateral axis). A finger's curl bends
    each of its three segments a little more towards the palm (into the image, and back down the hand).
    """
    length = HAND_LENGTH * hand_scale
    theta = states[:, ANGLE] * side
    up = np.stack([np.sin(theta), -np.cos(theta), np.zeros_like(theta)], axis=1)  # along the fingers
    lateral = np.stack([np.cos(theta), np.sin(theta), np.zeros_like(theta)], axis=1) * -side
    depth = np.array([0.0, 0.0, -1.0])
    wrist = np.concatenate([states[:, WRIST_XY], np.zeros((len(states), 1))], axis=1)
    pts = np.zeros((len(states), NUM_HAND_POINTS, 3))
    pts[:, 0] = wrist
    for f, (offset, base_dist, segments) in enumerate(_FINGERS):
        direction = up if f else _rotate_towards(up, lateral, _THUMB_SPREAD)
        joint = wrist + length * (base_dist * up + offset * lateral)
        pts[:, 1 + 4 * f] = joint
        curl = states[:, 2 + f][:, None]
        for s, seg in enumerate(segments):
            phi = (s + 1) * curl * FINGER_BEND
            step = np.cos(phi) * direction + np.sin(phi) * (depth - 0.3 * up)
            joint = joint + length * seg * step
            pts[:, 2 + 4 * f + s] = joint
    return pts


def _rotate_towards(a: np.ndarray, b: np.ndarray, angle: float) -> np.ndarray:
    """Rotate unit vectors ``a`` towards the perpendicular unit vectors ``b`` by ``angle``."""
    return np.cos(angle) * a + np.sin(angle) * b


def _drop_hands(conf: np.ndarray, states: np.ndarray, style: SignerStyle, rng: np.random.Generator) -> None:
    """Mark hand frames as missing (conf 0) in place: random frames, bursts, and resting hands."""
    t = len(conf)
    for hand, part in ((RIGHT, RIGHT_HAND), (LEFT, LEFT_HAND)):
        missing = rng.random(t) < DROP_PROB
        for _ in range(_draw(rng, DROP_BURSTS)):
            start = int(rng.integers(0, t))
            missing[start : start + _draw(rng, BURST_FRAMES)] = True
        if not style.rest_visible:
            missing |= states[:, hand, 1] > REST_Y
        conf[missing, part] = 0.0
