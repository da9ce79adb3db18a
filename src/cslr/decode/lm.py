"""Gloss n-gram language model: interpolated Kneser-Ney, built from transcripts, stored as ARPA.

The model is kept as ARPA tables (log10 probabilities and back-off weights), so a model built here and
one read from any ARPA file (KenLM, SRILM) score the same way: ``P(w | h)`` is the stored probability of
``h w`` when present, else ``bow(h) * P(w | h[1:])``. Scores handed to the decoder are natural logs.

Smoothing: interpolated Kneser-Ney with one absolute discount per order, ``D = n1 / (n1 + 2 n2)`` from
that order's count-of-counts; lower orders use continuation counts (how many distinct words precede an
n-gram); the unigram level is interpolated with the uniform distribution over the vocabulary, so every
word of the vocabulary (``<unk>`` and ``</s>`` included) gets a probability and they sum to one.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
DEFAULT_ORDER = 3
LOG10_ZERO = -99.0  # ARPA's "impossible" (used for <s>, which is never predicted)
LN10 = math.log(10.0)
MIN_DISCOUNT, MAX_DISCOUNT = 0.1, 0.9  # keeps D sane when count-of-counts are degenerate (tiny data)

Gram = tuple[str, ...]


def read_transcripts(path: str | Path) -> list[list[str]]:
    """Gloss sentences from a text file: one sentence per line, glosses separated by spaces; an STM line
    (``id channel speaker start end glosses...``) is reduced to its glosses. Empty lines are skipped."""
    sentences = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) > 5 and _looks_like_stm(fields):
            fields = fields[5:]
        if fields:
            sentences.append(fields)
    return sentences


def _looks_like_stm(fields: list[str]) -> bool:
    try:
        float(fields[3]), float(fields[4])
    except ValueError:
        return False
    return True


class NGramLM:
    """An n-gram model as ARPA tables.

    Args:
        order: the n of the model.
        probs: log10 ``P(w | h)`` per n-gram ``h + (w,)``, orders 1..``order``.
        backoffs: log10 back-off weight per context n-gram (absent means 0).
    """

    def __init__(self, order: int, probs: dict[Gram, float], backoffs: dict[Gram, float]) -> None:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        self.order = order
        self.probs = probs
        self.backoffs = backoffs
        self.vocab = sorted({g[0] for g in probs if len(g) == 1})
        if (UNK,) not in probs:
            raise ValueError("an n-gram model needs a <unk> unigram")

    # -- building ------------------------------------------------------------------------------------

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], order: int = DEFAULT_ORDER) -> NGramLM:
        """Estimate an interpolated Kneser-Ney model from gloss ``sentences``."""
        counts = _count(sentences, order)
        if not counts[1]:
            raise ValueError("no sentences to build a language model from")
        kn = _kn_counts(counts, order)
        discounts = {n: _discount(kn[n]) for n in range(1, order + 1)}
        vocab = {g[0] for g in counts[1]} - {BOS} | {UNK, EOS}
        probs: dict[Gram, float] = {}
        backoffs: dict[Gram, float] = {}
        uni = _interpolate_unigrams(kn[1], discounts[1], vocab)
        probs.update({(w,): math.log10(p) for w, p in uni.items()})
        probs[(BOS,)] = LOG10_ZERO
        lower: dict[Gram, float] = {(w,): p for w, p in uni.items()}
        for n in range(2, order + 1):
            lower, bows = _interpolate_order(kn[n], discounts[n], lower)
            probs.update({g: math.log10(p) for g, p in lower.items()})
            backoffs.update({h: math.log10(b) for h, b in bows.items()})
        return cls(order, probs, backoffs)

    # -- ARPA ----------------------------------------------------------------------------------------

    def save_arpa(self, path: str | Path) -> None:
        """Write the model in ARPA format (readable by KenLM, SRILM, pyctcdecode, flashlight)."""
        by_order: dict[int, list[Gram]] = defaultdict(list)
        for g in self.probs:
            by_order[len(g)].append(g)
        lines = ["", "\\data\\"]
        lines += [f"ngram {n}={len(by_order[n])}" for n in range(1, self.order + 1)]
        for n in range(1, self.order + 1):
            lines += ["", f"\\{n}-grams:"]
            for g in sorted(by_order[n]):
                bow = self.backoffs.get(g)
                tail = f"\t{bow:.6f}" if bow is not None and n < self.order else ""
                lines.append(f"{self.probs[g]:.6f}\t{' '.join(g)}{tail}")
        lines += ["", "\\end\\", ""]
        Path(path).write_text("\n".join(lines), encoding="utf-8")

    @classmethod
    def load_arpa(cls, path: str | Path) -> NGramLM:
        """Read an ARPA file (any tool's)."""
        probs: dict[Gram, float] = {}
        backoffs: dict[Gram, float] = {}
        order, section = 0, 0
        for raw in Path(path).read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line == "\\data\\" or line.startswith("ngram "):
                if line.startswith("ngram "):
                    order = max(order, int(line.split()[1].split("=")[0]))
                continue
            if line.startswith("\\") and line.endswith("-grams:"):
                section = int(line[1:].split("-")[0])
                continue
            if line == "\\end\\":
                break
            fields = line.split()
            gram = tuple(fields[1 : 1 + section])
            probs[gram] = float(fields[0])
            if len(fields) > 1 + section:
                backoffs[gram] = float(fields[1 + section])
        probs.setdefault((UNK,), LOG10_ZERO)
        return cls(order, probs, backoffs)

    # -- scoring -------------------------------------------------------------------------------------

    def log10_prob(self, word: str, context: Sequence[str]) -> float:
        """log10 ``P(word | context)`` with ARPA back-off (unknown words score as ``<unk>``)."""
        if (word,) not in self.probs:
            word = UNK
        h = tuple(context[-(self.order - 1) :]) if self.order > 1 else ()
        penalty = 0.0
        while True:
            p = self.probs.get((*h, word))
            if p is not None:
                return penalty + p
            penalty += self.backoffs.get(h, 0.0)
            h = h[1:]

    def logprob(self, word: str, context: Sequence[str]) -> float:
        """Natural-log ``P(word | context)``."""
        return self.log10_prob(word, context) * LN10

    def sentence_logprob(self, words: Sequence[str]) -> float:
        """Natural-log probability of a whole sentence, ``</s>`` included, after ``<s>``."""
        context: list[str] = [BOS]
        total = 0.0
        for w in [*words, EOS]:
            total += self.logprob(w, context)
            context.append(w)
        return total

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """Per-token perplexity (``</s>`` counted as a token, as SRILM and KenLM do)."""
        total, tokens = 0.0, 0
        for s in sentences:
            total += self.sentence_logprob(s)
            tokens += len(s) + 1
        if tokens == 0:
            raise ValueError("no tokens to measure perplexity on")
        return math.exp(-total / tokens)

    def for_tokens(self, id_to_gloss: Sequence[str], blank_id: int = 0) -> GlossTokenLM:
        """This model over decoder token ids (``id_to_gloss[i]`` is the gloss of id ``i``)."""
        return GlossTokenLM(self, id_to_gloss, blank_id)


class NGramTables(NamedTuple):
    """An :class:`NGramLM` over decoder token ids as sorted arrays, for the compiled beam search.

    A word is a digit ``1..W`` (its index in the model's sorted word list plus one; ``W + 1`` stands for
    a gloss the model does not know); an n-gram ``(w1, ..., wn)`` is the number whose digits in
    ``base = W + 2`` are those of its words (0 is the empty context). A search state is the code of its
    context (the last ``order - 1`` glosses), exactly as :class:`GlossTokenLM` keeps them as tuples.

    Attributes:
        keys: ``(N,)`` int64, sorted: every n-gram with a probability or a back-off weight.
        log10_probs: ``(N,)`` log10 ``P(w | h)`` of each key (NaN where it only has a back-off weight).
        log10_backoffs: ``(N,)`` log10 back-off weight of each key as a context (0 where absent).
        context_digits: ``(V,)`` the digit of each token id when it joins a context.
        predict_digits: ``(V,)`` the digit of each token id when it is predicted (unknown → ``<unk>``).
        base: the digit base ``W + 2``.
        keep_mod: ``base ** (order - 1)``: a context code modulo this keeps its last ``order - 1`` words.
        begin: the code of the sentence-start context.
        eos: the digit of ``</s>``.
    """

    keys: np.ndarray
    log10_probs: np.ndarray
    log10_backoffs: np.ndarray
    context_digits: np.ndarray
    predict_digits: np.ndarray
    base: int
    keep_mod: int
    begin: int
    eos: int


MAX_CODE = 2**62  # n-gram codes must stay well inside int64


def ngram_tables(lm: NGramLM, id_to_gloss: Sequence[str]) -> NGramTables | None:
    """``lm`` over token ids (``id_to_gloss[i]`` is the gloss of id ``i``) as :class:`NGramTables`;
    ``None`` when its n-grams do not fit in int64 codes (huge vocabulary times a high order)."""
    words = sorted({w for g in (*lm.probs, *lm.backoffs) for w in g})
    base = len(words) + 2
    if base**lm.order >= MAX_CODE:
        return None
    digit = {w: i + 1 for i, w in enumerate(words)}
    grams = sorted({*lm.probs, *lm.backoffs}, key=len)
    codes = np.array([_code(g, digit, base) for g in grams], np.int64)
    order = np.argsort(codes)
    probs = np.array([lm.probs.get(g, math.nan) for g in grams])
    bows = np.array([lm.backoffs.get(g, 0.0) for g in grams])
    keep = max(lm.order - 1, 0)
    return NGramTables(
        keys=codes[order],
        log10_probs=probs[order],
        log10_backoffs=bows[order],
        context_digits=np.array([digit.get(w, base - 1) for w in id_to_gloss], np.int64),
        predict_digits=np.array(
            [digit[w] if (w,) in lm.probs else digit[UNK] for w in id_to_gloss], np.int64
        ),
        base=base,
        keep_mod=base**keep,
        begin=digit[BOS] if keep and BOS in digit else (base - 1 if keep else 0),
        eos=digit[EOS] if (EOS,) in lm.probs else digit[UNK],
    )


def _code(gram: Gram, digit: dict[str, int], base: int) -> int:
    code = 0
    for w in gram:
        code = code * base + digit[w]
    return code


class GlossTokenLM:
    """Adapter: an :class:`NGramLM` as the beam search's ``TokenLM`` (states are context tuples).

    :meth:`tables` gives the same model as arrays, which lets the beam search run compiled."""

    def __init__(self, lm: NGramLM, id_to_gloss: Sequence[str], blank_id: int = 0) -> None:
        self.lm = lm
        self.glosses = list(id_to_gloss)
        self.blank_id = blank_id
        self._keep = max(lm.order - 1, 0)
        self._tables: NGramTables | None = None
        self._tables_made = False

    def tables(self) -> NGramTables | None:
        """The model as :class:`NGramTables` (built on first call, then kept)."""
        if not self._tables_made:
            self._tables = ngram_tables(self.lm, self.glosses)
            self._tables_made = True
        return self._tables

    def begin(self) -> Hashable:
        return (BOS,)[-self._keep :] if self._keep else ()

    def scores(self, state: Hashable, token_ids: np.ndarray) -> np.ndarray:
        context: tuple[str, ...] = tuple(state)  # type: ignore[arg-type]
        return np.array([self.lm.logprob(self.glosses[t], context) for t in token_ids.tolist()])

    def advance(self, state: Hashable, token_id: int) -> Hashable:
        if not self._keep:
            return ()
        return (*tuple(state), self.glosses[token_id])[-self._keep :]  # type: ignore[arg-type]

    def end_score(self, state: Hashable) -> float:
        return self.lm.logprob(EOS, tuple(state))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------------
# Kneser-Ney estimation


def _count(sentences: Iterable[Sequence[str]], order: int) -> dict[int, Counter[Gram]]:
    counts: dict[int, Counter[Gram]] = {n: Counter() for n in range(1, order + 1)}
    for s in sentences:
        padded = [BOS, *s, EOS]
        for n in range(1, order + 1):
            for i in range(max(len(padded) - n + 1, 0)):
                counts[n][tuple(padded[i : i + n])] += 1
    return counts


def _kn_counts(counts: dict[int, Counter[Gram]], order: int) -> dict[int, Counter[Gram]]:
    """Raw counts at the top order (and for n-grams starting at ``<s>``); continuation counts below."""
    kn: dict[int, Counter[Gram]] = {order: counts[order]}
    for n in range(order - 1, 0, -1):
        cont: Counter[Gram] = Counter()
        for g in counts[n + 1]:
            cont[g[1:]] += 1
        for g, c in counts[n].items():
            if g[0] == BOS:
                cont[g] = c
        kn[n] = cont
    return kn


def _discount(counts: Counter[Gram]) -> float:
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    d = n1 / (n1 + 2 * n2) if n1 + n2 > 0 else MAX_DISCOUNT
    return min(max(d, MIN_DISCOUNT), MAX_DISCOUNT)


def _interpolate_unigrams(kn1: Counter[Gram], d: float, vocab: set[str]) -> dict[str, float]:
    """``P(w) = max(c(w) - D, 0) / N + D * types / N / |V|`` over ``vocab``."""
    counts = {g[0]: c for g, c in kn1.items() if g[0] != BOS}
    total = sum(counts.values())
    leftover = d * len(counts) / total
    return {w: max(counts.get(w, 0) - d, 0.0) / total + leftover / len(vocab) for w in vocab}


def _interpolate_order(
    kn: Counter[Gram], d: float, lower: dict[Gram, float]
) -> tuple[dict[Gram, float], dict[Gram, float]]:
    """One order of interpolated KN: returns ``P(w | h)`` of the seen n-grams and each context's
    back-off weight ``gamma(h) = D * N1+(h .) / c(h)``."""
    totals: Counter[Gram] = Counter()
    types: Counter[Gram] = Counter()
    for g, c in kn.items():
        totals[g[:-1]] += c
        types[g[:-1]] += 1
    gamma = {h: d * types[h] / totals[h] for h in totals}
    probs = {}
    for g, c in kn.items():
        h = g[:-1]
        probs[g] = max(c - d, 0.0) / totals[h] + gamma[h] * _lower_prob(lower, g[1:])
    return probs, gamma


def _lower_prob(lower: dict[Gram, float], g: Gram) -> float:
    """``P(g[-1] | g[:-1])`` from the next lower order (back-off chains are already folded in there for
    seen n-grams; unseen ones cannot occur because every n-gram's suffix was counted)."""
    p = lower.get(g)
    if p is None:
        raise KeyError(f"suffix {g} missing from the lower order")
    return p
