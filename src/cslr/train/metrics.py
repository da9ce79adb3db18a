"""Word (gloss) error rate over corpora of gloss sequences, computed with jiwer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jiwer


@dataclass(frozen=True)
class WERResult:
    """Corpus-level alignment counts; ``wer = (S + D + I) / N`` with N the reference gloss count."""

    substitutions: int
    deletions: int
    insertions: int
    hits: int

    @property
    def num_reference(self) -> int:
        """Glosses in the references."""
        return self.substitutions + self.deletions + self.hits

    @property
    def errors(self) -> int:
        """Total edits."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Error rate (0 for an empty corpus with no insertions; may exceed 1 with many insertions)."""
        if self.num_reference == 0:
            return float(self.insertions > 0)
        return self.errors / self.num_reference


def word_error_rate(references: Sequence[Sequence[str]], hypotheses: Sequence[Sequence[str]]) -> WERResult:
    """Align each hypothesis gloss list with its reference and sum the edits over the corpus.

    Glosses must not contain whitespace (they are joined with spaces for jiwer).
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        return WERResult(0, 0, 0, 0)
    refs = [" ".join(r) for r in references]
    hyps = [" ".join(h) for h in hypotheses]
    out = jiwer.process_words(refs, hyps)
    return WERResult(out.substitutions, out.deletions, out.insertions, out.hits)
