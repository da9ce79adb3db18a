"""The compiled beam search (``cslr.decode.ctc_kernel``) against the plain-Python one, and the array
form of the n-gram LM against the ARPA tables it comes from."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cslr.decode.ctc import beam_search, frame_plan
from cslr.decode.ctc_kernel import lm_logprob
from cslr.decode.lm import EOS, NGramLM, ngram_tables
from cslr.decode.simulate import confusion_partners, noisy_posteriors

GLOSSES = ["<blank>", "A", "B", "C", "D", "E", "<unk>", "NEVER-SEEN"]  # id 7 is unknown to the LM
TOY = [["A", "B", "C"], ["A", "B", "D"], ["B", "C"], ["A", "A", "B", "C", "D"], ["D", "E"]]


def random_log_probs(seed: int, frames: int, vocab: int, spread: float, dtype: type) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(0, spread, (frames, vocab))
    return (logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)).astype(dtype)


def assert_same(ours: list, reference: list) -> None:
    """Same hypotheses, field for field; scores to rounding (the scale factors are summed plainly)."""
    assert len(ours) == len(reference)
    for a, b in zip(ours, reference, strict=True):
        assert (a.token_ids, a.start_frames, a.end_frames) == (b.token_ids, b.start_frames, b.end_frames)
        assert a.confidences == b.confidences
        assert a.score == pytest.approx(b.score, abs=1e-9)
        assert a.acoustic_score == pytest.approx(b.acoustic_score, abs=1e-9)
        assert a.lm_score == pytest.approx(b.lm_score, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(1, 12),
    st.sampled_from([np.float32, np.float64]),
    st.sampled_from([(0.0, None), (1e-3, None), (0.05, 2), (1e-3, 3)]),
    st.sampled_from([None, 0.9]),
)
def test_compiled_equals_python_without_lm(
    seed: int, width: int, dtype: type, pruning: tuple[float, int | None], blank_skip: float | None
) -> None:
    lp = random_log_probs(seed, 25, 6, 2.5, dtype)
    min_prob, top_k = pruning
    kw = dict(token_min_prob=min_prob, token_top_k=top_k, blank_skip=blank_skip, nbest=width)
    assert_same(beam_search(lp, width, **kw), beam_search(lp, width, compiled=False, **kw))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 10), st.integers(1, 4), st.floats(-1.0, 1.0))
def test_compiled_equals_python_with_lm(seed: int, width: int, order: int, bonus: float) -> None:
    token_lm = NGramLM.build(TOY, order).for_tokens(GLOSSES)
    assert token_lm.tables() is not None
    lp = random_log_probs(seed, 20, len(GLOSSES), 2.0, np.float32)
    kw = dict(lm=token_lm, lm_weight=0.7, insertion_bonus=bonus, token_min_prob=1e-3, nbest=width)
    assert_same(beam_search(lp, width, **kw), beam_search(lp, width, compiled=False, **kw))


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_compiled_equals_python_on_peaky_posteriors(seed: int) -> None:
    """Bench-like input: spikes shared between confusable glosses, long blank runs, merges."""
    rng = np.random.default_rng(seed)
    lp = noisy_posteriors(rng.integers(1, 60, 15).tolist(), 60, rng, confusion_partners(60, 2, rng))
    glosses = ["<blank>", *[f"g{i}" for i in range(1, 60)]]
    token_lm = NGramLM.build([[glosses[i] for i in rng.integers(1, 60, 8)] for _ in range(40)], 3)
    for lm in (None, token_lm.for_tokens(glosses)):
        kw = dict(lm=lm, lm_weight=0.3, nbest=8)
        assert_same(beam_search(lp, 8, **kw), beam_search(lp, 8, compiled=False, **kw))


def test_lm_without_array_form_runs_in_python() -> None:
    class Uniform:
        def begin(self):
            return ()

        def scores(self, state, token_ids):
            return np.full(len(token_ids), math.log(0.25))

        def advance(self, state, token_id):
            return ()

        def end_score(self, state):
            return 0.0

    lp = random_log_probs(3, 15, 5, 2.0, np.float64)
    plain = beam_search(lp, 6, lm=Uniform(), lm_weight=1.0)
    assert_same(plain, beam_search(lp, 6, lm=Uniform(), lm_weight=1.0, compiled=False))


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_tables_score_as_the_arpa_model(order: int) -> None:
    lm = NGramLM.build(TOY, order)
    tables = ngram_tables(lm, GLOSSES)
    assert tables is not None
    token_lm = lm.for_tokens(GLOSSES)
    contexts = [(), (1,), (1, 2), (7,), (2, 7), (7, 3), (3, 1, 2), (6, 6, 1)]
    for context in contexts:
        state = token_lm.begin()
        code = tables.begin
        for t in context:
            state = token_lm.advance(state, t)
            code = (code * tables.base + int(tables.context_digits[t])) % tables.keep_mod
        args = (tables.keys, tables.log10_probs, tables.log10_backoffs, tables.base)
        for t in range(1, len(GLOSSES)):
            expected = token_lm.scores(state, np.array([t]))[0]
            assert lm_logprob(code, int(tables.predict_digits[t]), *args) == expected, (context, t)
        assert lm_logprob(code, tables.eos, *args) == lm.logprob(EOS, tuple(state))  # type: ignore[arg-type]


def test_tables_refuse_codes_that_overflow() -> None:
    lm = NGramLM.build([[f"w{i}" for i in range(2000)]], 3)
    lm.order = 6  # 2000 ** 6 does not fit in int64
    assert ngram_tables(lm, ["<blank>"]) is None


def test_plan_breaks_ties_to_the_lower_id() -> None:
    lp = np.log(np.array([[0.1, 0.2, 0.3, 0.2, 0.2], [0.96, 0.01, 0.01, 0.01, 0.01]]))
    rows, cands = frame_plan(lp, 1e-3, 3)
    assert rows == [0, 1] and cands == [[2, 1, 3], [1, 2, 3]]
    assert frame_plan(lp, 0.05, None) == ([0], [[2, 1, 3, 4]])
    assert frame_plan(lp, 1e-3, 3, blank_skip=0.5) == ([0], [[2, 1, 3]])
