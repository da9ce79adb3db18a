"""Punctuation and capitalisation."""

from __future__ import annotations

from cslr.language.postprocess import capitalise, end_punctuation, finish_sentence, join_words


def test_join_words_attaches_punctuation() -> None:
    assert join_words(["hello", ",", "world", "'s", "end", "."]) == "hello, world's end."


def test_capitalise_sentences_and_i() -> None:
    assert capitalise("i think so. yes, i am") == "I think so. Yes, I am"
    assert capitalise("it is ix-1") == "It is ix-1"


def test_end_punctuation() -> None:
    assert end_punctuation("hi,") == "hi."
    assert end_punctuation("where", question=True) == "where?"
    assert end_punctuation("wow", exclaim=True) == "wow!"
    assert end_punctuation("done.") == "done."
    assert end_punctuation("") == ""


def test_finish_sentence() -> None:
    assert finish_sentence(["what", "is", "your", "name"], question=True) == "What is your name?"
