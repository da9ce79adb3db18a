"""Punctuation and capitalisation of English words produced by the grammar rules (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Sequence

SENTENCE_END = {".", "?", "!"}
ATTACHED_LEFT = {".", ",", "?", "!", ";", ":", "'s", "n't", "%"}


def join_words(words: Sequence[str]) -> str:
    """Words and punctuation → text with English spacing.

    >>> join_words(["hello", ",", "thank you", "!"])
    'hello, thank you!'
    """
    text = ""
    for w in words:
        if not w:
            continue
        text += w if (not text or w in ATTACHED_LEFT) else " " + w
    return text


def capitalise(text: str) -> str:
    """Capitalise the first letter of each sentence and the pronoun "I" (and its contractions).

    >>> capitalise("i think so. yes, i'm sure")
    "I think so. Yes, I'm sure"
    """
    text = re.sub(r"\bi\b(?!-)", "I", text)
    return re.sub(r"(^|[.?!]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


def end_punctuation(text: str, question: bool = False, exclaim: bool = False) -> str:
    """Make sure ``text`` ends with one sentence mark: ``?`` for a question, ``!`` for an exclamation,
    else ``.``; a trailing comma or semicolon is replaced.

    >>> end_punctuation("where do you live", question=True)
    'where do you live?'
    """
    text = text.rstrip().rstrip(",;:").rstrip()
    if not text:
        return ""
    if text[-1] in SENTENCE_END:
        return text
    return text + ("?" if question else "!" if exclaim else ".")


def finish_sentence(words: Sequence[str], question: bool = False, exclaim: bool = False) -> str:
    """Words → a finished sentence: spacing, final mark, capitals.

    >>> finish_sentence(["hello", ",", "thank you"], exclaim=True)
    'Hello, thank you!'
    """
    return capitalise(end_punctuation(join_words(words), question, exclaim))
