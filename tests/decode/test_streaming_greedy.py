"""The streaming greedy decoder reproduces greedy_decode over the whole sequence, in any split."""

from __future__ import annotations

import numpy as np
import pytest

from cslr.decode.ctc import StreamingGreedyDecoder, greedy_decode


def random_log_probs(steps: int, vocab: int, seed: int) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(steps, vocab)) * 3
    logits[:, 0] += 2.0  # blank-heavy, like a CTC model
    return (logits - np.log(np.exp(logits).sum(1, keepdims=True))).astype(np.float32)


@pytest.mark.parametrize("split", [1, 2, 5, 17])
def test_streaming_equals_offline_greedy(split: int) -> None:
    lp = random_log_probs(200, 6, seed=split)
    offline = greedy_decode(lp)
    decoder = StreamingGreedyDecoder()
    for start in range(0, len(lp), split):
        decoder.push(lp[start : start + split])
    online = decoder.hypothesis()
    assert len(offline.token_ids) > 5
    assert online.token_ids == offline.token_ids
    assert online.start_frames == offline.start_frames
    assert online.end_frames == offline.end_frames
    np.testing.assert_allclose(online.confidences, offline.confidences, rtol=1e-5)
    assert online.score == pytest.approx(offline.score, rel=1e-5)


def test_greedy_score_is_the_best_path_log_probability() -> None:
    lp = random_log_probs(50, 6, seed=3)
    hyp = greedy_decode(lp)
    assert hyp.score == hyp.acoustic_score == pytest.approx(float(lp.max(axis=1).sum()), rel=1e-6)
    assert hyp.lm_score == 0.0
    empty = greedy_decode(np.zeros((0, 6), np.float32))
    assert empty.token_ids == () and empty.score == 0.0


def test_take_hands_over_labels_once_and_counts_trailing_blanks() -> None:
    lp = np.log(np.full((6, 3), 1e-3, np.float32))
    lp[[0, 1, 2, 3, 4, 5], [1, 1, 0, 2, 0, 0]] = 0.0
    decoder = StreamingGreedyDecoder()
    decoder.push(lp[:4])
    assert [s.token for s in decoder.take()] == [1, 2]
    decoder.push(lp[4:])
    assert decoder.take() == []
    assert decoder.trailing_blank_steps() == 2
