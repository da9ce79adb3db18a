"""The gloss vocabulary. Special tokens live here and nowhere else; the blank id comes from the decoder."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cslr.decode.ctc import BLANK_ID

BLANK_TOKEN = "<blank>"
SPECIAL_TOKENS = (BLANK_TOKEN,)
# Corpus annotation markers that are not signs (PHOENIX: __ON__, __OFF__, __EMOTION__, __PU__,
# __LEFTHAND__); removed from transcripts before training and scoring, as the PHOENIX scorer does.
CORPUS_MARKER = re.compile(r"^__[A-Z]+__$")

__all__ = ["BLANK_ID", "BLANK_TOKEN", "CORPUS_MARKER", "SPECIAL_TOKENS", "Vocabulary", "clean_glosses"]


def clean_glosses(glosses: Iterable[str]) -> list[str]:
    """A transcript without corpus markers (``__ON__`` ...) and special tokens; glosses kept in order."""
    return [g for g in glosses if g and g not in SPECIAL_TOKENS and not CORPUS_MARKER.match(g)]


@dataclass(frozen=True)
class Vocabulary:
    """Glosses and their ids; id 0 (``BLANK_ID``) is always the CTC blank ``<blank>``.

    Attributes:
        tokens: all tokens in id order, the blank first.
    """

    tokens: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tokens = tuple(self.tokens)
        if not tokens or tokens[BLANK_ID] != BLANK_TOKEN:
            raise ValueError(f"token {BLANK_ID} must be {BLANK_TOKEN!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must be unique")
        object.__setattr__(self, "tokens", tokens)
        object.__setattr__(self, "_index", {tok: i for i, tok in enumerate(tokens)})

    @classmethod
    def from_glosses(cls, glosses: Iterable[str]) -> Vocabulary:
        """Blank first, then the distinct ``glosses`` sorted, so the same set always gives the same ids."""
        distinct = sorted(set(clean_glosses(glosses)))
        return cls((BLANK_TOKEN, *distinct))

    @classmethod
    def build(cls, transcripts: Iterable[Sequence[str]]) -> Vocabulary:
        """Vocabulary of every gloss in ``transcripts`` (lists of glosses)."""
        return cls.from_glosses(g for sentence in transcripts for g in sentence)

    @classmethod
    def from_list(cls, tokens: Sequence[str]) -> Vocabulary:
        """Inverse of :meth:`to_list` (checkpoints store the vocabulary as a list)."""
        return cls(tuple(tokens))

    def to_list(self) -> list[str]:
        """Tokens in id order, for saving."""
        return list(self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, gloss: object) -> bool:
        return gloss in self._index

    @property
    def glosses(self) -> tuple[str, ...]:
        """The real glosses (no special tokens)."""
        return tuple(t for t in self.tokens if t not in SPECIAL_TOKENS)

    def id_of(self, gloss: str) -> int:
        """Id of one gloss; ``KeyError`` naming it when unknown."""
        try:
            return self._index[gloss]
        except KeyError:
            raise KeyError(f"gloss not in vocabulary: {gloss!r}") from None

    def encode(self, glosses: Iterable[str]) -> list[int]:
        """Gloss strings to ids."""
        return [self.id_of(g) for g in glosses]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids to gloss strings, dropping the blank (ids must be in range)."""
        out = []
        for i in ids:
            if not 0 <= int(i) < len(self.tokens):
                raise IndexError(f"token id {i} out of range for a vocabulary of {len(self.tokens)}")
            if int(i) != BLANK_ID:
                out.append(self.tokens[int(i)])
        return out
