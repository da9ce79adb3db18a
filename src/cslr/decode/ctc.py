"""CTC decoding: every decoder in the project lives here, as pure functions over log-probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLANK_ID = 0


@dataclass(frozen=True)
class Hypothesis:
    """One decoded label sequence.

    Attributes:
        token_ids: label ids, blanks and repeats collapsed.
        confidences: per label, the mean posterior of its frames (in [0, 1]).
        start_frames: per label, first frame (inclusive) of the encoder output where it was emitted.
        end_frames: per label, last frame (exclusive).
        score: log-probability of the hypothesis (plus LM terms where a decoder used one).
    """

    token_ids: tuple[int, ...]
    confidences: tuple[float, ...]
    start_frames: tuple[int, ...]
    end_frames: tuple[int, ...]
    score: float


def greedy_decode(log_probs: np.ndarray, blank_id: int = BLANK_ID) -> Hypothesis:
    """Best-path decoding of ``log_probs`` ``(T, V)``: argmax per frame, collapse repeats, drop blanks."""
    log_probs = np.asarray(log_probs, dtype=np.float32)
    if log_probs.ndim != 2:
        raise ValueError(f"log_probs must be (T, V), got {log_probs.shape}")
    if log_probs.shape[0] == 0:
        return Hypothesis((), (), (), (), 0.0)
    best = log_probs.argmax(axis=1)
    best_lp = log_probs[np.arange(len(best)), best]
    ids: list[int] = []
    confs: list[float] = []
    starts: list[int] = []
    ends: list[int] = []
    run_start = 0
    for t in range(1, len(best) + 1):
        if t < len(best) and best[t] == best[run_start]:
            continue
        token = int(best[run_start])
        if token != blank_id:
            ids.append(token)
            confs.append(float(np.exp(best_lp[run_start:t]).mean()))
            starts.append(run_start)
            ends.append(t)
        run_start = t
    return Hypothesis(tuple(ids), tuple(confs), tuple(starts), tuple(ends), float(best_lp.sum()))
