"""Synthetic CTC posteriors with realistic confusions, for tests and benchmarks of the decoders.

Real recognisers confuse a gloss with a few look-alike glosses, sometimes pick the wrong one, and are
peaky: a short spike per gloss, blank elsewhere. :func:`noisy_posteriors` makes such ``(T, V)``
log-probabilities from a reference label sequence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BLANK_ID = 0
SPIKE_FRAMES = (1, 3)  # a gloss fires on 1-2 frames (CTC is peaky)
GAP_FRAMES = (1, 6)  # blank frames between glosses (1-5)
FLOOR_PROB = 1e-5  # probability mass spread over every token in every frame


def confusion_partners(vocab_size: int, partners: int, rng: np.random.Generator) -> np.ndarray:
    """For each token id, ``partners`` fixed look-alike token ids ``(V, partners)`` (never blank)."""
    return rng.integers(1, vocab_size, size=(vocab_size, partners))


def noisy_posteriors(
    labels: Sequence[int],
    vocab_size: int,
    rng: np.random.Generator,
    confusion: np.ndarray,
    swap_prob: float = 0.3,
    ambiguity: float = 0.45,
) -> np.ndarray:
    """Peaky log-posteriors ``(T, V)`` for ``labels`` (ids ≥ 1), blank id 0.

    Each label spikes for a few frames; its mass is shared with one of its ``confusion`` partners, the
    partner taking the larger share with probability ``swap_prob`` (a recognition error greedy decoding
    makes), ``ambiguity`` being the share of the loser."""
    frames: list[np.ndarray] = [_blank_frames(rng, vocab_size)]
    for lab in labels:
        other = int(rng.choice(confusion[lab]))
        loser = ambiguity * rng.uniform(0.6, 1.0)
        win, lose = (other, lab) if rng.random() < swap_prob else (lab, other)
        for _ in range(int(rng.integers(*SPIKE_FRAMES))):
            p = np.full(vocab_size, FLOOR_PROB)
            p[lose] += loser * 0.9
            p[win] += (1 - loser) * 0.9
            p[BLANK_ID] += 0.1
            frames.append(p / p.sum())
        frames.append(_blank_frames(rng, vocab_size))
    return np.log(np.concatenate([np.atleast_2d(f) for f in frames]))


def _blank_frames(rng: np.random.Generator, vocab_size: int) -> np.ndarray:
    n = int(rng.integers(*GAP_FRAMES))
    p = np.full((n, vocab_size), FLOOR_PROB)
    p[:, BLANK_ID] = 1.0
    return p / p.sum(axis=1, keepdims=True)
