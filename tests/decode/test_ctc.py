"""CTC decoders: beam search against greedy decoding, merging, edge cases, property tests."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cslr.decode.ctc import BLANK_ID, Hypothesis, align, beam_search, greedy_decode

PEAK = 0.9  # posterior of the winning token in a peaky frame


def peaky(path: list[int], vocab: int, peak: float = PEAK) -> np.ndarray:
    """Log-posteriors ``(T, V)`` whose argmax follows ``path`` (one token id per frame)."""
    p = np.full((len(path), vocab), (1 - peak) / (vocab - 1))
    p[np.arange(len(path)), path] = peak
    return np.log(p)


def exact_best(log_probs: np.ndarray) -> tuple[tuple[int, ...], float]:
    """Brute force: the label sequence with the highest total CTC probability (tiny T and V only)."""
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(log_probs.shape[1]), repeat=log_probs.shape[0]):
        labels = tuple(k for i, k in enumerate(path) if k != BLANK_ID and (i == 0 or path[i - 1] != k))
        lp = float(log_probs[np.arange(len(path)), path].sum())
        totals[labels] = np.logaddexp(totals.get(labels, -np.inf), lp)
    best = max(totals, key=lambda k: totals[k])
    return best, totals[best]


paths = st.lists(st.integers(0, 4), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(paths)
def test_beam_width_one_equals_greedy_on_peaky_input(path: list[int]) -> None:
    lp = peaky(path, 5)
    greedy, beam = greedy_decode(lp), beam_search(lp, beam_width=1)[0]
    assert beam.token_ids == greedy.token_ids
    assert beam.start_frames == greedy.start_frames and beam.end_frames == greedy.end_frames
    assert np.allclose(beam.confidences, greedy.confidences)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6))
def test_larger_beam_never_scores_worse(seed: int, width: int) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (8, 4))
    lp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    narrow = beam_search(lp, width, token_min_prob=0, token_top_k=None)[0].score
    wide = beam_search(lp, width * 4, token_min_prob=0, token_top_k=None)[0].score
    assert wide >= narrow - 1e-9


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_wide_beam_finds_the_exact_best_labels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (5, 3))
    lp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    labels, total = exact_best(lp)
    best = beam_search(lp, 200, token_min_prob=0, token_top_k=None)[0]
    assert best.token_ids == labels
    assert best.score == pytest.approx(total, abs=1e-9)


def test_repeated_gloss_separated_by_blank_survives() -> None:
    lp = peaky([3, 3, 0, 3, 0, 2], 5)
    best = beam_search(lp, beam_width=8)[0]
    assert best.token_ids == (3, 3, 2)
    assert best.start_frames == (0, 3, 5) and best.end_frames == (2, 4, 6)


def test_repeat_without_blank_collapses() -> None:
    assert beam_search(peaky([3, 3, 3], 5), 8)[0].token_ids == (3,)


def test_empty_input() -> None:
    hyps = beam_search(np.zeros((0, 5)), beam_width=4)
    assert hyps == [Hypothesis((), (), (), (), 0.0)]


def test_all_blank_input() -> None:
    best = beam_search(peaky([0] * 7, 5), beam_width=4)[0]
    assert best.token_ids == () and best.score == pytest.approx(7 * np.log(PEAK), rel=0.05)


def test_length_one_input() -> None:
    best = beam_search(peaky([2], 5), beam_width=4)[0]
    assert best.token_ids == (2,) and best.start_frames == (0,) and best.end_frames == (1,)
    assert best.confidences == pytest.approx((PEAK,))


def test_nbest_is_sorted_distinct_and_bounded() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1, (20, 6))
    lp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    hyps = beam_search(lp, beam_width=6, nbest=4)
    assert len(hyps) == 4
    assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
    assert len({h.token_ids for h in hyps}) == 4


def test_token_top_k_prunes() -> None:
    lp = peaky([1, 0, 2], 5, peak=0.4)
    assert beam_search(lp, 4, token_top_k=1)[0].token_ids == (1, 2)


def test_insertion_bonus_and_lm_weight_shift_scores() -> None:
    class Uniform:
        def begin(self):
            return ()

        def scores(self, state, token_ids):
            return np.full(len(token_ids), np.log(0.25))

        def advance(self, state, token_id):
            return ()

        def end_score(self, state):
            return 0.0

    lp = peaky([1, 0, 2], 5)
    plain = beam_search(lp, 64)[0]  # wide enough that nothing is pruned: same prefixes, same merges
    with_lm = beam_search(lp, 64, lm=Uniform(), lm_weight=1.0, insertion_bonus=0.5)[0]
    assert with_lm.token_ids == plain.token_ids
    assert with_lm.lm_score == pytest.approx(2 * (np.log(0.25) + 0.5))
    assert with_lm.score == pytest.approx(plain.score + with_lm.lm_score)


def test_align_marks_impossible_sequences() -> None:
    lp = peaky([1, 1], 5)
    conf, start, end = align(lp, [(1, 1, 1)])[0]
    assert conf == (0.0, 0.0, 0.0) and start == end


def test_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        beam_search(np.zeros(5))
    with pytest.raises(ValueError):
        beam_search(np.zeros((3, 4)), beam_width=0)
