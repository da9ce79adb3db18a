"""Gloss-to-English quality on line-aligned files, with sacrebleu (BLEU and chrF)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cslr.language.grammar import Lang, glosses_to_english


@dataclass(frozen=True)
class LanguageScores:
    """Corpus BLEU and chrF (sacrebleu defaults, 0-100) of ``lines`` translated sentences."""

    bleu: float
    chrf: float
    lines: int

    def __str__(self) -> str:
        return f"BLEU={self.bleu:.2f} chrF={self.chrf:.2f}"


def translate_lines(lines: list[str], lang: Lang) -> list[str]:
    """Translate each line of space-separated glosses."""
    return [glosses_to_english(line.split(), lang) for line in lines]


def score(hypotheses: list[str], references: list[str], lowercase: bool = True) -> LanguageScores:
    """Corpus BLEU and chrF of ``hypotheses`` against line-aligned ``references``."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses but {len(references)} references: files must be line aligned"
        )
    bleu = sacrebleu.corpus_bleu(hypotheses, [references], lowercase=lowercase)
    chrf = sacrebleu.corpus_chrf(hypotheses, [references])
    if lowercase:
        chrf = sacrebleu.corpus_chrf([h.lower() for h in hypotheses], [[r.lower() for r in references]])
    return LanguageScores(bleu.score, chrf.score, len(hypotheses))


def evaluate_files(
    gloss_file: str | Path, ref_file: str | Path, lang: Lang = "asl", lowercase: bool = True
) -> LanguageScores:
    """Translate ``gloss_file`` line by line and score it against ``ref_file``.

    ``lowercase`` compares case-insensitively (ASLG-PC12's references are lower case, while
    :func:`glosses_to_english` capitalises sentences)."""
    glosses = Path(gloss_file).read_text(encoding="utf-8").splitlines()
    refs = Path(ref_file).read_text(encoding="utf-8").splitlines()
    return score(translate_lines(glosses, lang), refs, lowercase)
