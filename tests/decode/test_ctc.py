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


def reference_beam_search(log_probs: np.ndarray, width: int) -> list[tuple[tuple[int, ...], float]]:
    """Textbook CTC prefix beam search, one frame at a time in log space, no pruning of tokens."""
    beams = {(): (0.0, -np.inf)}  # prefix -> (log P ending in blank, log P ending in its last label)
    for frame in log_probs:
        nxt: dict[tuple[int, ...], list[float]] = {}
        for prefix, (pb, pl) in beams.items():
            _add(nxt, prefix, 0, np.logaddexp(pb, pl) + frame[BLANK_ID])
            if prefix:
                _add(nxt, prefix, 1, pl + frame[prefix[-1]])
            for c in range(1, len(frame)):
                base = pb if prefix and prefix[-1] == c else np.logaddexp(pb, pl)
                _add(nxt, (*prefix, c), 1, base + frame[c])
        ranked = sorted(nxt.items(), key=lambda kv: -np.logaddexp(*kv[1]))[:width]
        beams = {k: (v[0], v[1]) for k, v in ranked}
    out = [(k, float(np.logaddexp(*v))) for k, v in beams.items()]
    return sorted(out, key=lambda kv: -kv[1])


def _add(
    beams: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], which: int, value: float
) -> None:
    slot = beams.setdefault(prefix, [-np.inf, -np.inf])
    slot[which] = np.logaddexp(slot[which], value)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 8))
def test_matches_the_textbook_search_on_random_input(seed: int, width: int) -> None:
    """Runs of candidate-free frames, lazy trie nodes and rescaling change nothing: same n-best, same
    scores as a plain frame-by-frame search (blank skipping off, no token pruning)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (12, 5))
    lp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    ours = beam_search(lp, width, token_min_prob=0, token_top_k=None)
    ref = reference_beam_search(lp, width)
    assert [h.score for h in ours] == pytest.approx([s for _, s in ref], abs=1e-9)
    assert ours[0].token_ids == ref[0][0]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_candidate_free_runs_match_the_textbook_search(seed: int) -> None:
    """With a token floor, blank-dominated frames have no candidates and are applied as one run."""
    rng = np.random.default_rng(seed)
    path = [int(k) if rng.random() < 0.4 else 0 for k in rng.integers(1, 6, 30)]
    lp = peaky(path, 6, peak=0.999)
    ours = beam_search(lp, 6, token_min_prob=0.01, token_top_k=None)
    ref = reference_beam_search(lp, 6)
    assert ours[0].token_ids == ref[0][0] == greedy_decode(lp).token_ids


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_blank_skip_keeps_the_best_hypothesis_on_peaky_input(seed: int) -> None:
    from cslr.decode.simulate import confusion_partners, noisy_posteriors

    rng = np.random.default_rng(seed)
    labels = rng.integers(1, 50, 12).tolist()
    lp = noisy_posteriors(labels, 50, rng, confusion_partners(50, 2, rng))
    exact = beam_search(lp, 8)[0]
    skipped = beam_search(lp, 8, blank_skip=0.95)[0]
    assert skipped.token_ids == exact.token_ids
    assert skipped.start_frames == exact.start_frames


def test_blank_skip_turns_confident_blank_frames_into_runs() -> None:
    lp = peaky([0, 2, 0], 5, peak=0.9)  # a candidate (prob 0.025) in every frame
    assert beam_search(lp, 4, token_min_prob=0.01)[0].token_ids == (2,)
    assert beam_search(lp, 4, token_min_prob=0.01, blank_skip=0.5)[0].token_ids == (2,)
    exact, skipped = (
        beam_search(lp, 4, token_min_prob=0.01)[0],
        beam_search(lp, 4, token_min_prob=0.01, blank_skip=0.5)[0],
    )
    assert exact.start_frames == skipped.start_frames == (1,)  # the spike, not the faint first frame
