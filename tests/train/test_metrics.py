"""WER with insertions, deletions and substitutions."""

from __future__ import annotations

import pytest

from cslr.train.metrics import word_error_rate


def test_counts_each_edit_kind() -> None:
    refs = [["A", "B", "C"], ["D", "E"], ["F"]]
    hyps = [["A", "X", "C"], ["D", "E", "G"], []]
    result = word_error_rate(refs, hyps)
    assert (result.substitutions, result.insertions, result.deletions, result.hits) == (1, 1, 1, 4)
    assert result.num_reference == 6 and result.wer == pytest.approx(3 / 6)


def test_perfect_and_empty() -> None:
    assert word_error_rate([["A", "B"]], [["A", "B"]]).wer == 0.0
    assert word_error_rate([], []).wer == 0.0
    assert word_error_rate([[]], [["A"]]).insertions == 1


def test_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        word_error_rate([["A"]], [])
