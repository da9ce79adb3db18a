"""CTC decoding: every decoder in the project lives here, as pure functions over log-probabilities.

Two decoders share one result type, :class:`Hypothesis`:

* :func:`greedy_decode` — best path: argmax per frame, collapse repeats, drop blanks. It is
  :class:`StreamingGreedyDecoder` (the live decoder: chunks in, the past never re-decoded) fed at once.
* :func:`beam_search` — CTC prefix beam search with token pruning (probability floor and top-k),
  optional n-gram language model (weight and insertion bonus) and n-best output. Each label's frames
  and confidence come from the search itself (see :func:`beam_search`); :func:`align` gives Viterbi
  forced alignments of any label sequences.

The search runs compiled (numba, :mod:`cslr.decode.ctc_kernel`) without a language model or with one
that has an array form (``tables()``, as :class:`cslr.decode.lm.GlossTokenLM`); any other
:class:`TokenLM` runs the plain-Python search here, which does the same arithmetic and is the
reference the compiled one is tested against.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol, cast

import numpy as np

if TYPE_CHECKING:
    from cslr.decode.lm import NGramTables

BLANK_ID = 0
DEFAULT_BEAM_WIDTH = 10
DEFAULT_TOKEN_MIN_PROB = 1e-3  # a token below this posterior in a frame is not considered there
DEFAULT_TOKEN_TOP_K = 20  # at most this many non-blank tokens are considered per frame
DEFAULT_LM_WEIGHT = 0.5
NEG_INF = -np.inf

_FROM_SAME, _FROM_PREV, _FROM_SKIP = 0, 1, 2  # Viterbi back-pointers over the blank-extended labels


@dataclass(frozen=True)
class Hypothesis:
    """One decoded label sequence.

    Attributes:
        token_ids: label ids, blanks and repeats collapsed.
        confidences: per label, the mean posterior of its frames (in [0, 1]).
        start_frames: per label, first frame (inclusive) of the encoder output where it was emitted.
        end_frames: per label, last frame (exclusive).
        score: log-probability of the hypothesis (plus LM terms where a decoder used one).
        acoustic_score: the CTC log-probability alone (summed over alignments for the beam search,
            best path for greedy decoding).
        lm_score: the weighted LM log-probability plus insertion bonuses (0 without an LM).
    """

    token_ids: tuple[int, ...]
    confidences: tuple[float, ...]
    start_frames: tuple[int, ...]
    end_frames: tuple[int, ...]
    score: float
    acoustic_score: float = 0.0
    lm_score: float = 0.0


class TokenLM(Protocol):
    """What the beam search needs from a language model over token ids (natural-log scores).

    States must be hashable; equal states must mean equal futures (an n-gram context is one).
    :meth:`cslr.decode.lm.NGramLM.for_tokens` builds one from a gloss n-gram model.
    """

    def begin(self) -> Hashable:
        """The state before any token (sentence start)."""
        ...

    def scores(self, state: Hashable, token_ids: np.ndarray) -> np.ndarray:
        """``log P(token | state)`` for each of ``token_ids`` ``(K,)`` → ``(K,)`` float."""
        ...

    def advance(self, state: Hashable, token_id: int) -> Hashable:
        """The state after ``token_id`` has been appended."""
        ...

    def end_score(self, state: Hashable) -> float:
        """``log P(</s> | state)``: the cost of ending the sentence here."""
        ...


def greedy_decode(log_probs: np.ndarray, blank_id: int = BLANK_ID) -> Hypothesis:
    """Best-path decoding of ``log_probs`` ``(T, V)``: argmax per frame, collapse repeats, drop blanks.

    :class:`StreamingGreedyDecoder` fed the whole ``(T, V)`` at once; ``score`` and ``acoustic_score``
    are the best path's log-probability.
    """
    log_probs = np.asarray(log_probs, dtype=np.float32)
    if log_probs.ndim != 2:
        raise ValueError(f"log_probs must be (T, V), got {log_probs.shape}")
    decoder = StreamingGreedyDecoder(blank_id)
    decoder.push(log_probs)
    return decoder.hypothesis()


@dataclass(frozen=True)
class TokenSpan:
    """One emitted label: steps ``[start, end)`` (counted from the decoder's reset) and mean posterior."""

    token: int
    start: int
    end: int
    confidence: float


class StreamingGreedyDecoder:
    """Best-path CTC decoding, incremental: log-probabilities arrive a chunk at a time, the past is
    never re-decoded.

    Feeding ``(T, V)`` in any split gives exactly the labels and frames of one push of the whole (and
    the same confidences and score up to float rounding): each chunk only extends or closes the
    current run of equal argmax tokens. :meth:`take` hands the labels so far to the caller.

    Args:
        blank_id: index of the CTC blank.
    """

    def __init__(self, blank_id: int = BLANK_ID) -> None:
        self.blank_id = blank_id
        self.reset()

    def reset(self) -> None:
        """Start from step 0 with nothing decoded."""
        self.steps = 0  # log-prob frames consumed
        self.score = 0.0  # log-probability of the best path over every step consumed
        self._closed: list[TokenSpan] = []
        self._run_token = -1
        self._run_start = 0
        self._run_prob_sum = 0.0
        self._last_label_end = 0  # step after the last non-blank frame

    def push(self, log_probs: np.ndarray) -> None:
        """Consume the next ``(n, V)`` log-probabilities (one pass over the runs of equal argmax)."""
        log_probs = np.asarray(log_probs)
        n = len(log_probs)
        if n == 0:
            return
        best = log_probs.argmax(axis=1)
        best_lp = log_probs[np.arange(n), best]
        self.score += float(best_lp.sum())
        starts = np.flatnonzero(np.diff(best, prepend=-1))  # first step of each run
        sums = np.add.reduceat(np.exp(best_lp.astype(np.float64)), starts)
        ends = [*(starts[1:] + self.steps).tolist(), self.steps + n]
        for token, end, prob_sum in zip(best[starts].tolist(), ends, sums.tolist(), strict=True):
            if token != self._run_token:  # the run before ends at self.steps
                self._close_run()
                self._run_token, self._run_start, self._run_prob_sum = token, self.steps, 0.0
            self._run_prob_sum += prob_sum
            self.steps = end
            if token != self.blank_id:
                self._last_label_end = end

    def _open_span(self) -> TokenSpan | None:
        """The current run as a label (None when it is blank or there is none)."""
        if self._run_token < 0 or self._run_token == self.blank_id:
            return None
        count = self.steps - self._run_start
        return TokenSpan(self._run_token, self._run_start, self.steps, self._run_prob_sum / count)

    def _close_run(self) -> None:
        if (span := self._open_span()) is not None:
            self._closed.append(span)

    def spans(self) -> list[TokenSpan]:
        """Labels not yet taken: the closed ones and the open run (which may still grow)."""
        open_span = self._open_span()
        return [*self._closed, open_span] if open_span is not None else list(self._closed)

    def take(self) -> list[TokenSpan]:
        """Return and forget every label so far, the open run included (the next frame starts a new run)."""
        spans = self.spans()
        self._closed = []
        if self._run_token != self.blank_id:
            self._run_token = -1
        return spans

    def trailing_blank_steps(self) -> int:
        """Steps since the last non-blank frame (all steps when none was seen)."""
        return self.steps - self._last_label_end

    def hypothesis(self) -> Hypothesis:
        """The labels not yet taken as a :class:`Hypothesis`; ``score`` and ``acoustic_score`` are the
        best path's log-probability over every step since :meth:`reset`."""
        spans = self.spans()
        return Hypothesis(
            tuple(s.token for s in spans), tuple(s.confidence for s in spans),
            tuple(s.start for s in spans), tuple(s.end for s in spans), self.score,
            acoustic_score=self.score,
        )


# ----------------------------------------------------------------------------------------------------
# prefix beam search
#
# The search runs in probability space with one shared scale per frame (``log_scale``), so a frame
# costs a few float multiplications per beam and candidate. Frames with no candidate token
# (``frame_plan``) only let each prefix stay (blank or repeat of its last label): they are applied as
# a run, with no selection or merging to do. The loop below (``_stay_run``, ``_step``, ``_prune``) is
# the reference; ``cslr.decode.ctc_kernel.search`` is the same loop compiled, operation for operation,
# which is what ``beam_search`` runs unless the LM has no array form (tests hold the two equal).


@dataclass
class _Trie:
    """Prefixes as integer nodes: node 0 is the empty prefix; children are made on demand. Per node:
    its parent, last token, LM state, the frame it was (last) created at, and the end frame of its
    parent's last label at that moment (for the spans of the returned hypotheses)."""

    parent: list[int]
    token: list[int]
    lm_state: list[Hashable]
    start: list[int]
    parent_end: list[int]
    children: dict[tuple[int, int], int]

    @classmethod
    def new(cls, lm_state: Hashable) -> _Trie:
        return cls(parent=[-1], token=[-1], lm_state=[lm_state], start=[0], parent_end=[0], children={})

    def child(self, node: int, token: int, lm: TokenLM | None) -> int:
        """The node for prefix ``node`` + ``token`` (created with its LM state when new)."""
        found = self.children.get((node, token))
        if found is not None:
            return found
        new = len(self.parent)
        self.parent.append(node)
        self.token.append(token)
        self.lm_state.append(lm.advance(self.lm_state[node], token) if lm is not None else None)
        self.start.append(0)
        self.parent_end.append(0)
        self.children[(node, token)] = new
        return new


class _Final(NamedTuple):
    """What a search leaves: the surviving beams in rank order, each ``(node, p_blank, p_label, LM
    total, start, end)``, the raw LM end-of-sentence score of each, the log of the common scale of
    the probabilities, and the trie as per-node lists (parent, token, start, parent's label end)."""

    beams: list[tuple[int, float, float, float, int, int]]
    end_scores: list[float]
    log_scale: float
    parent: list[int]
    token: list[int]
    start: list[int]
    parent_end: list[int]

    def labels_and_spans(self, node: int, start: int, end: int) -> tuple[list[int], list[int], list[int]]:
        """Token ids, start and end frames of prefix ``node`` whose last label spans ``[start, end)``."""
        ids: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        while node > 0:
            ids.append(self.token[node])
            starts.append(min(start, end - 1))
            ends.append(end)
            end = max(min(self.parent_end[node], starts[-1]), 1)
            node = self.parent[node]
            start = self.start[node]
        return ids[::-1], starts[::-1], ends[::-1]


# A live prefix: [p_blank, p_label (both scaled by the search's common factor), weighted LM score
# plus insertion bonuses (log), last token (-1 for none), first frame of the last label, end frame
# (exclusive) of the last label's frames where it beats blank].
_Beam = list
_PB, _PL, _LM, _LAST, _START, _END = range(6)


def frame_candidates(
    log_probs: np.ndarray, min_prob: float, top_k: int | None, blank_id: int = BLANK_ID
) -> list[np.ndarray]:
    """Per frame, the non-blank token ids worth extending with: posterior ``>= min_prob``, at most
    ``top_k`` of them (the most probable). ``log_probs`` ``(T, V)`` → ``T`` arrays of ids ``(K_t,)``."""
    rows, cands = frame_plan(log_probs, min_prob, top_k, blank_id)
    out = [np.zeros(0, np.int64)] * np.asarray(log_probs).shape[0]
    for t, c in zip(rows, cands, strict=True):
        out[t] = np.asarray(c, np.int64)
    return out


def frame_plan(
    log_probs: np.ndarray,
    min_prob: float,
    top_k: int | None,
    blank_id: int = BLANK_ID,
    blank_skip: float | None = None,
) -> tuple[list[int], list[list[int]]]:
    """The frames that have candidate tokens, and their candidates, best first.

    Args:
        log_probs: ``(T, V)`` log-posteriors.
        min_prob: a non-blank token is a candidate in a frame where its posterior is at least this.
        top_k: at most this many candidates per frame (``None``: no limit).
        blank_id: index of the blank.
        blank_skip: frames whose blank posterior is at least this get no candidates (``None``: off).

    Returns:
        The frame indices with at least one candidate (ascending), and per such frame its candidate
        ids (most probable first, ties to the lower id). Every other frame is blank-or-repeat only for
        the search.
    """
    rows, top, n_kept = _plan(_check(log_probs), min_prob, top_k, blank_id, blank_skip)
    return rows.tolist(), [row[:n] for row, n in zip(top.tolist(), n_kept.tolist(), strict=True)]


def _plan(
    lp: np.ndarray, min_prob: float, top_k: int | None, blank_id: int, blank_skip: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`frame_plan` as arrays: frames ``(R,)``, candidates ``(R, k)`` best first, and how many of
    each row are candidates ``(R,)`` (compiled: :func:`cslr.decode.ctc_kernel.plan`). Thresholds are
    compared in the dtype of ``lp``, as numpy compares an array with a Python float."""
    from cslr.decode.ctc_kernel import plan

    as_lp = lp.dtype.type
    threshold = as_lp(math.log(min_prob) if min_prob > 0 else NEG_INF)
    skip_below = as_lp(NEG_INF if blank_skip is None or blank_skip <= 0 else math.log(blank_skip))
    top = lp.shape[1] if top_k is None else max(top_k, 0)
    return plan(lp, threshold, min_prob <= 0, top, blank_id, skip_below, blank_skip is not None)


def _lm_scores(
    lm: TokenLM | None,
    state: Hashable,
    cands: list[int],
    weight: float,
    bonus: float,
    cache: dict[Hashable, dict[int, float]],
) -> list[float]:
    """Weighted LM score plus insertion bonus of each candidate after ``state``."""
    if lm is None:
        return [bonus] * len(cands)
    known = cache.setdefault(state, {})
    missing = [c for c in cands if c not in known]
    if missing:
        known.update(zip(missing, lm.scores(state, np.asarray(missing)).tolist(), strict=True))
    return [weight * known[c] + bonus for c in cands]


def _step(
    beams: dict[int, _Beam],
    t: int,
    row: np.ndarray,
    blank_id: int,
    cands: list[int],
    trie: _Trie,
    lm: TokenLM | None,
    lm_weight: float,
    bonus: float,
    cache: dict[Hashable, dict[int, float]],
) -> tuple[dict[int, _Beam], list[tuple[float, float, int, int]]]:
    """One frame with candidates ``cands``: every prefix stays (blank, repeat) or grows by a candidate.

    Returns the staying prefixes by trie node (growths that reach a live prefix merged into it: where
    the growth brings more than the prefix already had, its last label starts again here), and
    the other growths as ``(p_label, lm_total, parent node, token)``; trie nodes for these are only
    made for the ones that survive pruning (:func:`_prune`)."""
    b = math.exp(row[blank_id])
    xs = [math.exp(v) for v in row[cands].tolist()]
    stays: dict[int, _Beam] = {}
    grows: list[tuple[float, float, int, int]] = []
    moved: dict[int, int] = {}  # live child -> its parent's label end, should its growth win
    children = trie.children
    lm_ext = [bonus] * len(cands)
    for node, (pb, pl, lm_total, last, start, end) in beams.items():
        tot = pb + pl
        r = math.exp(row[last]) if last >= 0 else 0.0
        stay = stays.get(node)
        new_end = t + 1 if end == t and r >= b else end
        if stay is None:
            stays[node] = [tot * b, pl * r, lm_total, last, start, new_end]
        else:  # a parent's growth reached it first; the larger share decides the label's span
            if tot * b + pl * r >= stay[_PL]:
                stay[_START], stay[_END] = start, new_end
            else:
                trie.parent_end[node] = moved[node]
            stay[_PB] += tot * b
            stay[_PL] += pl * r
        if lm is not None:
            lm_ext = _lm_scores(lm, trie.lm_state[node], cands, lm_weight, bonus, cache)
        for c, x, lm_c in zip(cands, xs, lm_ext, strict=True):
            p = (pb if c == last else tot) * x
            child = children.get((node, c))
            if child is None or child not in beams:
                grows.append((p, lm_total + lm_c, node, c))
            elif (live := stays.get(child)) is not None:
                if p > live[_PB] + live[_PL]:  # the label really starts here
                    live[_START], live[_END] = t, t + 1
                    trie.parent_end[child] = min(new_end, t)
                live[_PL] += p
            else:  # its own stay is added when its turn comes
                stays[child] = [0.0, p, lm_total + lm_c, c, t, t + 1]
                moved[child] = min(new_end, t)
    return stays, grows


def _prune(
    stays: dict[int, _Beam],
    grows: list[tuple[float, float, int, int]],
    width: int,
    t: int,
    trie: _Trie,
    lm: TokenLM | None,
) -> tuple[dict[int, _Beam], float]:
    """Keep the ``width`` best prefixes (acoustic times LM), make trie nodes for the kept growths, and
    rescale so the best acoustic total is 1; returns the beams and the log of the factor divided out."""
    entries: list[tuple[int, tuple[float, float, int, int] | None]] = [(node, None) for node in stays]
    entries += [(-1, g) for g in grows]
    scores = [_rank(b[_PB] + b[_PL], b[_LM]) for b in stays.values()]
    scores += [_rank(g[0], g[1]) for g in grows]
    order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:width]
    beams: dict[int, _Beam] = {}
    for i in order:
        node, g = entries[i]
        if g is None:
            beams[node] = stays[node]
            continue
        p, lm_total, parent, c = g
        child = trie.child(parent, c, lm)
        trie.start[child], trie.parent_end[child] = t, min(stays[parent][_END], t)
        beams[child] = [0.0, p, lm_total, c, t, t + 1]
    top = max(b[_PB] + b[_PL] for b in beams.values())
    if top <= 0.0 or not math.isfinite(top):
        return beams, 0.0
    inv = 1.0 / top
    for b in beams.values():
        b[_PB] *= inv
        b[_PL] *= inv
    return beams, math.log(top)


def _rank(p: float, lm_total: float) -> float:
    return math.log(p) + lm_total if p > 0.0 else NEG_INF


def _stay_run(beams: dict[int, _Beam], lp: np.ndarray, t0: int, t1: int, blank_id: int) -> float:
    """Frames ``t0..t1-1`` have no candidate: each prefix only stays (blank or repeat of its last
    label), so no selection or merging is needed. Updates ``beams`` in place; returns the log of the
    factor divided out (each frame is divided by its blank posterior to keep the numbers in range)."""
    if t1 <= t0:
        return 0.0
    cols = [max(b[_LAST], 0) for b in beams.values()]
    *labels, blank = lp[t0:t1, [*cols, blank_id]].T.tolist()  # B rows of (n,) and (n,)
    norm = [v if v > NEG_INF else 0.0 for v in blank]
    q = [math.exp(v - m) for v, m in zip(blank, norm, strict=True)]
    for b, lab in zip(beams.values(), labels, strict=True):
        if b[_LAST] < 0:
            b[_PB] = (b[_PB] + b[_PL]) * math.prod(q)
            continue
        pb, pl, end = b[_PB], b[_PL], b[_END]
        for j, v in enumerate(lab):
            pb, pl = (pb + pl) * q[j], pl * math.exp(v - norm[j])
            if end == t0 + j and v >= blank[j]:
                end += 1
        b[_PB], b[_PL], b[_END] = pb, pl, end
    return math.fsum(norm)


def beam_search(
    log_probs: np.ndarray,
    beam_width: int = DEFAULT_BEAM_WIDTH,
    lm: TokenLM | None = None,
    lm_weight: float = DEFAULT_LM_WEIGHT,
    insertion_bonus: float = 0.0,
    token_min_prob: float = DEFAULT_TOKEN_MIN_PROB,
    token_top_k: int | None = DEFAULT_TOKEN_TOP_K,
    nbest: int | None = None,
    blank_id: int = BLANK_ID,
    blank_skip: float | None = None,
    compiled: bool = True,
) -> list[Hypothesis]:
    """CTC prefix beam search over ``log_probs`` ``(T, V)`` (natural-log posteriors, blank ``blank_id``).

    Each prefix keeps two probabilities (ending in blank / in its last label); per frame every live
    prefix stays or grows by one candidate token, prefixes that meet are merged, and the
    ``beam_width`` best by ``acoustic + lm_weight * log P_lm + insertion_bonus * len`` survive. Runs
    of frames without candidates are applied in one pass (only blank and repeat transitions exist
    there, so nothing is pruned or merged).

    Args:
        log_probs: ``(T, V)`` log-posteriors of one utterance.
        beam_width: live prefixes kept per frame (1 gives best-path decoding on peaky input).
        lm: optional token language model (:class:`TokenLM`); its end-of-sentence score is added at
            the end.
        lm_weight: multiplier of the LM log-probability.
        insertion_bonus: added per emitted token (counters the LM's preference for short outputs).
        token_min_prob: tokens with a lower posterior in a frame are not extended with there.
        token_top_k: at most this many non-blank tokens per frame (``None``: no limit).
        nbest: how many hypotheses to return (default: all surviving, at most ``beam_width``).
        blank_id: index of the CTC blank.
        blank_skip: frames whose blank posterior is at least this are treated as blank-only (no
            prefix grows there); ``None`` (default) turns this approximation off.
        compiled: run the compiled search where it applies (no ``lm``, or one with ``tables()``);
            ``False`` runs the plain-Python one (same results, many times slower).

    Returns:
        Up to ``nbest`` hypotheses, best first. Each label's frames run from the frame its prefix was
        created at to the last following frame where that label's posterior is at least the blank's
        (contiguous); its confidence is its mean posterior over those frames.
    """
    lp = _check(log_probs)
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    rows, top, n_kept = _plan(lp, token_min_prob, token_top_k, blank_id, blank_skip)
    tables = _tables(lm, lp.shape[1]) if compiled and lm is not None else None
    if compiled and (lm is None or tables is not None):
        final = _search_compiled(
            lp, rows, top, n_kept, beam_width, blank_id, tables, lm_weight, insertion_bonus
        )
    else:
        cands = [row[:n] for row, n in zip(top.tolist(), n_kept.tolist(), strict=True)]
        final = _search_python(lp, rows.tolist(), cands, beam_width, blank_id, lm, lm_weight, insertion_bonus)
    return _finish(final, lp, lm_weight if lm is not None else None, nbest or beam_width)


WARMUP_SHAPE = (16, 8)  # steps x classes of the dummy posteriors that compile the kernels


def warm_up_beam_search() -> float:
    """Compile the beam-search kernels (or load them from numba's cache) now, for float32 posteriors
    (what the models give), so no request pays for it. Returns the seconds it took."""
    start = time.perf_counter()
    logits = np.random.default_rng(0).standard_normal(WARMUP_SHAPE).astype(np.float32)
    beam_search(logits - np.log(np.exp(logits).sum(1, keepdims=True)), beam_width=2)
    return time.perf_counter() - start


def _tables(lm: TokenLM, vocab: int) -> NGramTables | None:
    """The array form of ``lm`` when it has one covering ``vocab`` token ids."""
    tables_of = getattr(lm, "tables", None)
    tables = tables_of() if callable(tables_of) else None
    if tables is None or len(tables.context_digits) < vocab:
        return None
    return cast("NGramTables", tables)


def _search_python(
    lp: np.ndarray,
    rows: list[int],
    cands: list[list[int]],
    width: int,
    blank_id: int,
    lm: TokenLM | None,
    lm_weight: float,
    bonus: float,
) -> _Final:
    """The search in Python over the candidate frames ``rows`` and their candidates ``cands``."""
    trie = _Trie.new(lm.begin() if lm is not None else None)
    beams: dict[int, _Beam] = {0: [1.0, 0.0, 0.0, -1, 0, 0]}
    cache: dict[Hashable, dict[int, float]] = {}
    log_scale = 0.0
    done = 0
    for t, cand in zip(rows, cands, strict=True):
        log_scale += _stay_run(beams, lp, done, t, blank_id)
        stays, grows = _step(beams, t, lp[t], blank_id, cand, trie, lm, lm_weight, bonus, cache)
        beams, shift = _prune(stays, grows, width, t, trie, lm)
        log_scale += shift
        done = t + 1
    log_scale += _stay_run(beams, lp, done, lp.shape[0], blank_id)
    ends = [lm.end_score(trie.lm_state[node]) if lm is not None else 0.0 for node in beams]
    kept = [(node, b[_PB], b[_PL], b[_LM], b[_START], b[_END]) for node, b in beams.items()]
    return _Final(kept, ends, log_scale, trie.parent, trie.token, trie.start, trie.parent_end)


def _search_compiled(
    lp: np.ndarray,
    rows: np.ndarray,
    top: np.ndarray,
    n_kept: np.ndarray,
    width: int,
    blank_id: int,
    tables: NGramTables | None,
    lm_weight: float,
    bonus: float,
) -> _Final:
    """The same search, compiled (:func:`cslr.decode.ctc_kernel.search`)."""
    from cslr.decode.ctc_kernel import search
    from cslr.decode.lm import NGramTables

    no_ints, no_floats = np.zeros(0, np.int64), np.zeros(0)
    lm_args = tables or NGramTables(no_ints, no_floats, no_floats, no_ints, no_ints, 1, 1, 0, 0)
    out = search(
        lp, rows, top, n_kept, width, blank_id, tables is not None,
        lm_args.keys, lm_args.log10_probs, lm_args.log10_backoffs, lm_args.context_digits,
        lm_args.predict_digits, lm_args.base, lm_args.keep_mod, lm_args.begin, lm_args.eos,
        float(lm_weight), float(bonus),
    )
    node, pb, pl, lm_total, start, end, end_lm, log_scale, parent, token, tstart, tpend = out
    beams = list(zip(*(a.tolist() for a in (node, pb, pl, lm_total, start, end)), strict=True))
    return _Final(
        beams, end_lm.tolist(), float(log_scale), parent.tolist(), token.tolist(), tstart.tolist(),
        tpend.tolist(),
    )


def _check(log_probs: np.ndarray) -> np.ndarray:
    lp = np.asarray(log_probs)
    if lp.ndim != 2:
        raise ValueError(f"log_probs must be (T, V), got {lp.shape}")
    if lp.dtype not in (np.float32, np.float64):
        lp = lp.astype(np.float64)
    return np.ascontiguousarray(lp)


def _finish(final: _Final, lp: np.ndarray, lm_weight: float | None, nbest: int) -> list[Hypothesis]:
    """Rank the surviving prefixes (with the LM's end-of-sentence term unless ``lm_weight`` is None);
    spans for the best ``nbest``."""
    ranked = []
    for (node, pb, pl, lm_sum, start, end), end_score in zip(final.beams, final.end_scores, strict=True):
        tot = pb + pl
        acoustic = math.log(tot) + final.log_scale if tot > 0.0 else NEG_INF
        lm_total = lm_sum + (lm_weight * end_score if lm_weight is not None else 0.0)
        if math.isfinite(acoustic):
            ranked.append((acoustic + lm_total, acoustic, lm_total, node, start, end))
    ranked.sort(key=lambda r: -r[0])
    out = []
    for total, acoustic, lm_total, node, start, end in ranked[:nbest]:
        ids, starts, ends = final.labels_and_spans(node, start, end)
        out.append(
            Hypothesis(
                tuple(ids),
                _confidences(lp, ids, starts, ends),
                tuple(starts),
                tuple(ends),
                float(total),
                float(acoustic),
                float(lm_total),
            )
        )
    return out


def _confidences(lp: np.ndarray, ids: list[int], starts: list[int], ends: list[int]) -> tuple[float, ...]:
    """Mean posterior of each label over its frames ``[start, end)``."""
    if not ids:
        return ()
    post = np.exp(lp[:, ids].astype(np.float64))  # (T, L)
    cum = np.vstack([np.zeros((1, len(ids))), np.cumsum(post, axis=0)])
    cols = np.arange(len(ids))
    s, e = np.asarray(starts), np.asarray(ends)
    return tuple(((cum[e, cols] - cum[s, cols]) / np.maximum(e - s, 1)).tolist())


# ----------------------------------------------------------------------------------------------------
# forced alignment (timings and confidences)

Alignment = tuple[tuple[float, ...], tuple[int, ...], tuple[int, ...]]


def align(
    log_probs: np.ndarray, label_seqs: Sequence[Sequence[int]], blank_id: int = BLANK_ID
) -> list[Alignment]:
    """Viterbi CTC alignment of each label sequence against ``log_probs`` ``(T, V)``, batched.

    Returns, per sequence, ``(confidences, start_frames, end_frames)``: for each label, the mean
    posterior over the frames the best path gives it, its first frame and its end (exclusive). A
    sequence no valid path fits (more frames needed than there are) gets confidence 0 and empty spans.
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    n = len(label_seqs)
    if n == 0:
        return []
    width = 2 * max(len(s) for s in label_seqs) + 1
    ext = np.full((n, width), blank_id, np.int64)
    valid = np.zeros((n, width), bool)
    for i, seq in enumerate(label_seqs):
        ext[i, 1 : 2 * len(seq) : 2] = seq
        valid[i, : 2 * len(seq) + 1] = True
    can_skip = np.zeros((n, width), bool)
    can_skip[:, 2:] = (ext[:, 2:] != blank_id) & (ext[:, 2:] != ext[:, :-2])
    if lp.shape[0] == 0:
        return [_unaligned(len(seq)) for seq in label_seqs]
    emit = lp[:, ext]  # (T, N, S)
    back, delta = _viterbi(emit, valid, can_skip)
    paths = _backtrack(back, delta, valid.sum(axis=1) - 1)
    return [_spans(lp, paths[:, i], ext[i], len(seq)) for i, seq in enumerate(label_seqs)]


def _unaligned(n_labels: int) -> Alignment:
    return (0.0,) * n_labels, (0,) * n_labels, (0,) * n_labels


def _viterbi(emit: np.ndarray, valid: np.ndarray, can_skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best-path DP over blank-extended labels.

    Args:
        emit: ``(T, N, S)`` log-posterior of each extended label at each frame.
        valid: ``(N, S)`` which extended positions exist for each sequence.
        can_skip: ``(N, S)`` whether position ``s`` may be entered from ``s - 2``.

    Returns:
        Back-pointers ``(T, N, S)`` int8 (how many positions back the best predecessor is) and the
        final path scores ``(N, S)``.
    """
    T, n, S = emit.shape
    delta = np.full((n, S), NEG_INF)
    delta[:, : min(2, S)] = emit[0, :, : min(2, S)]
    delta[~valid] = NEG_INF
    back = np.zeros((T, n, S), np.int8)
    stacked = np.full((3, n, S), NEG_INF)
    skip_mask = ~can_skip[:, 2:]
    for t in range(1, T):
        stacked[_FROM_SAME] = delta
        stacked[_FROM_PREV, :, 1:] = delta[:, :-1]
        stacked[_FROM_SKIP, :, 2:] = delta[:, :-2]
        stacked[_FROM_SKIP, :, 2:][skip_mask] = NEG_INF
        back[t] = stacked.argmax(axis=0)
        delta = stacked.max(axis=0) + emit[t]
        delta[~valid] = NEG_INF
    return back, delta


def _backtrack(back: np.ndarray, delta: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Best paths ``(T, N)`` (extended-label position per frame; -1 where no path fits) from the
    back-pointers ``(T, N, S)``, final scores ``(N, S)`` and each sequence's last position ``(N,)``."""
    T, n, _ = back.shape
    rows = np.arange(n)
    before = np.maximum(last - 1, 0)
    s = np.where(delta[rows, last] >= delta[rows, before], last, before)
    fits = np.isfinite(delta[rows, s])
    paths = np.empty((T, n), np.int64)
    for t in range(T - 1, -1, -1):
        paths[t] = s
        s = s - back[t, rows, s]
    paths[:, ~fits] = -1
    return paths


def _spans(lp: np.ndarray, path: np.ndarray, ext: np.ndarray, n_labels: int) -> Alignment:
    """Per-label confidence and span from one best path ``(T,)`` over extended labels ``(S,)``."""
    if n_labels == 0:
        return (), (), ()
    if path[0] < 0:
        return _unaligned(n_labels)
    on_label = np.nonzero(path % 2 == 1)[0]
    k = path[on_label] // 2
    post = np.exp(lp[on_label, ext[path[on_label]]])
    counts = np.bincount(k, minlength=n_labels)
    confs = np.bincount(k, weights=post, minlength=n_labels) / np.maximum(counts, 1)
    starts = np.full(n_labels, len(path))
    np.minimum.at(starts, k, on_label)
    ends = np.zeros(n_labels, np.int64)
    np.maximum.at(ends, k, on_label + 1)
    return tuple(confs.tolist()), tuple(starts.tolist()), tuple(ends.tolist())
