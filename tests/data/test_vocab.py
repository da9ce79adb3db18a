"""The gloss vocabulary: blank first, round trips, clear errors."""

from __future__ import annotations

import pytest

from cslr.data.vocab import BLANK_TOKEN, Vocabulary
from cslr.decode.ctc import BLANK_ID


def test_build_puts_blank_first_and_sorts() -> None:
    vocab = Vocabulary.build([["thankyou", "hello"], ["hello"]])
    assert vocab.tokens == (BLANK_TOKEN, "hello", "thankyou")
    assert vocab.id_of(BLANK_TOKEN) == BLANK_ID == 0
    assert vocab.glosses == ("hello", "thankyou")


def test_encode_decode_round_trip() -> None:
    vocab = Vocabulary.build([["A", "B", "C"]])
    glosses = ["C", "A", "A", "B"]
    assert vocab.decode(vocab.encode(glosses)) == glosses
    assert vocab.decode([BLANK_ID, 1, BLANK_ID]) == ["A"]


def test_list_round_trip() -> None:
    vocab = Vocabulary.build([["X", "Y"]])
    assert Vocabulary.from_list(vocab.to_list()) == vocab


def test_errors() -> None:
    vocab = Vocabulary.build([["X"]])
    with pytest.raises(KeyError, match="'Z'"):
        vocab.encode(["Z"])
    with pytest.raises(IndexError):
        vocab.decode([5])
    with pytest.raises(ValueError, match="blank"):
        Vocabulary(("X", BLANK_TOKEN))
    with pytest.raises(ValueError, match="unique"):
        Vocabulary((BLANK_TOKEN, "X", "X"))


def test_corpus_markers_are_not_glosses() -> None:
    from cslr.data.vocab import clean_glosses

    transcript = ["__ON__", "REGEN", "__EMOTION__", "loc-NORD", "<blank>", "__OFF__", "__PU__"]
    assert clean_glosses(transcript) == ["REGEN", "loc-NORD"]
    vocab = Vocabulary.build([transcript])
    assert vocab.tokens == ("<blank>", "REGEN", "loc-NORD")
