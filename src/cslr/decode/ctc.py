"""CTC decoding: every decoder in the project lives here, as pure functions over log-probabilities.

Two decoders share one result type, :class:`Hypothesis`:

* :func:`greedy_decode` — best path: argmax per frame, collapse repeats, drop blanks.
* :func:`beam_search` — CTC prefix beam search in log space, vectorised per frame with numpy, with
  token pruning (probability floor and top-k), optional n-gram language model (weight and insertion
  bonus) and n-best output. Timings and confidences of every returned hypothesis come from a Viterbi
  forced alignment of its labels against the posteriors (:func:`align`), so they agree with greedy
  decoding whenever the labels do.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

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
    """Best-path decoding of ``log_probs`` ``(T, V)``: argmax per frame, collapse repeats, drop blanks."""
    log_probs = np.asarray(log_probs, dtype=np.float32)
    if log_probs.ndim != 2:
        raise ValueError(f"log_probs must be (T, V), got {log_probs.shape}")
    if log_probs.shape[0] == 0:
        return Hypothesis((), (), (), (), 0.0)
    best = log_probs.argmax(axis=1)
    best_lp = log_probs[np.arange(len(best)), best]
    ids: list[int] = []
    confs: list[float] = []
    starts: list[int] = []
    ends: list[int] = []
    run_start = 0
    for t in range(1, len(best) + 1):
        if t < len(best) and best[t] == best[run_start]:
            continue
        token = int(best[run_start])
        if token != blank_id:
            ids.append(token)
            confs.append(float(np.exp(best_lp[run_start:t]).mean()))
            starts.append(run_start)
            ends.append(t)
        run_start = t
    score = float(best_lp.sum())
    return Hypothesis(tuple(ids), tuple(confs), tuple(starts), tuple(ends), score, acoustic_score=score)


# ----------------------------------------------------------------------------------------------------
# prefix beam search


@dataclass
class _Trie:
    """Prefixes as integer nodes: node 0 is the empty prefix; children are made on demand."""

    parent: list[int]
    token: list[int]
    lm_state: list[Hashable]
    children: dict[tuple[int, int], int]

    @classmethod
    def new(cls, lm_state: Hashable) -> _Trie:
        return cls(parent=[-1], token=[-1], lm_state=[lm_state], children={})

    def child(self, node: int, token: int, lm: TokenLM | None) -> int:
        """The node for prefix ``node`` + ``token`` (created with its LM state when new)."""
        key = (node, token)
        found = self.children.get(key)
        if found is not None:
            return found
        new = len(self.parent)
        self.parent.append(node)
        self.token.append(token)
        self.lm_state.append(lm.advance(self.lm_state[node], token) if lm is not None else None)
        self.children[key] = new
        return new

    def labels(self, node: int) -> tuple[int, ...]:
        """The token ids of prefix ``node``, first to last."""
        out: list[int] = []
        while node > 0:
            out.append(self.token[node])
            node = self.parent[node]
        return tuple(reversed(out))


@dataclass
class _Beams:
    """The live prefixes, one row each: trie node, last token (-1 for none), log P(…blank),
    log P(…non-blank), accumulated weighted LM score and insertion bonuses."""

    node: np.ndarray  # (B,) int64
    parent: np.ndarray  # (B,) int64, trie node of the prefix minus its last token (-1 for the root)
    last: np.ndarray  # (B,) int64
    p_blank: np.ndarray  # (B,) float64
    p_label: np.ndarray  # (B,) float64
    lm_total: np.ndarray  # (B,) float64

    @classmethod
    def start(cls) -> _Beams:
        return cls(
            node=np.zeros(1, np.int64),
            parent=np.full(1, -1, np.int64),
            last=np.full(1, -1, np.int64),
            p_blank=np.zeros(1),
            p_label=np.full(1, NEG_INF),
            lm_total=np.zeros(1),
        )


def frame_candidates(
    log_probs: np.ndarray, min_prob: float, top_k: int | None, blank_id: int = BLANK_ID
) -> list[np.ndarray]:
    """Per frame, the non-blank token ids worth extending with: posterior ``>= min_prob``, at most
    ``top_k`` of them (the most probable). ``log_probs`` ``(T, V)`` → ``T`` arrays of ids ``(K_t,)``."""
    floor = math.log(min_prob) if min_prob > 0 else NEG_INF
    lp = np.asarray(log_probs)
    keep = lp >= floor
    keep[:, blank_id] = False
    keep &= np.isfinite(lp)
    n_kept = keep.sum(axis=1)
    if top_k is not None:
        for t in np.nonzero(n_kept > top_k)[0].tolist():
            row = np.where(keep[t], lp[t], NEG_INF)
            keep[t] = False
            keep[t, np.argpartition(-row, top_k - 1)[:top_k]] = True
    rows, cols = np.nonzero(keep)
    bounds = np.searchsorted(rows, np.arange(lp.shape[0] + 1))
    return [cols[bounds[t] : bounds[t + 1]] for t in range(lp.shape[0])]


def _parent_positions(beams: _Beams) -> np.ndarray:
    """For each beam, the row of its parent prefix among the live beams, or -1: ``(B,)`` int."""
    order = np.argsort(beams.node)
    sorted_nodes = beams.node[order]
    par = beams.parent
    idx = np.minimum(np.searchsorted(sorted_nodes, par), len(order) - 1)
    return np.where(sorted_nodes[idx] == par, order[idx], -1)


def _lm_matrix(
    beams: _Beams,
    trie: _Trie,
    cands: np.ndarray,
    lm: TokenLM | None,
    weight: float,
    bonus: float,
    cache: dict[Hashable, dict[int, float]],
) -> np.ndarray:
    """Weighted LM score plus insertion bonus of every extension ``(B, K)``."""
    if lm is None:
        return np.full((len(beams.node), len(cands)), bonus)
    rows = np.empty((len(beams.node), len(cands)))
    for i, node in enumerate(beams.node.tolist()):
        state = trie.lm_state[node]
        known = cache.setdefault(state, {})
        missing = [c for c in cands.tolist() if c not in known]
        if missing:
            known.update(zip(missing, lm.scores(state, np.asarray(missing)).tolist(), strict=True))
        rows[i] = [known[c] for c in cands.tolist()]
    return weight * rows + bonus


def _extend(beams: _Beams, frame: np.ndarray, cands: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One frame of the CTC prefix recursion (acoustic part).

    Args:
        beams: live prefixes ``B``.
        frame: log-posteriors of this frame ``(V,)``.
        cands: non-blank tokens considered in this frame ``(K,)``.

    Returns:
        ``p_label`` of each prefix staying as it is ``(B,)`` (repeat of its last token, plus mass
        merged in from a live parent's extension), and the extension scores ``(B, K)``, with ``-inf``
        where the extension is itself a live beam (already merged), and ``tot`` ``(B,)``.
    """
    tot = np.logaddexp(beams.p_blank, beams.p_label)
    has_last = beams.last >= 0
    stay_label = np.where(has_last, beams.p_label + frame[np.maximum(beams.last, 0)], NEG_INF)
    same = beams.last[:, None] == cands[None, :]
    ext = np.where(same, beams.p_blank[:, None], tot[:, None]) + frame[cands][None, :]
    ppos = _parent_positions(beams) if len(beams.node) > 1 else np.full(1, -1)
    child_rows = np.nonzero(ppos >= 0)[0]
    if child_rows.size:
        j = ppos[child_rows]
        tok = beams.last[child_rows]
        merged = np.where(tok == beams.last[j], beams.p_blank[j], tot[j]) + frame[tok]
        stay_label[child_rows] = np.logaddexp(stay_label[child_rows], merged)
        r, k = np.nonzero(tok[:, None] == cands[None, :])
        ext[j[r], k] = NEG_INF
    return stay_label, ext, tot


def _select(scores: np.ndarray, width: int) -> np.ndarray:
    """Indices of the ``width`` best finite ``scores``, best first."""
    finite = np.nonzero(np.isfinite(scores))[0]
    if finite.size > width:
        finite = finite[np.argpartition(-scores[finite], width - 1)[:width]]
    return finite[np.argsort(-scores[finite], kind="stable")]


def _step(
    beams: _Beams,
    frame: np.ndarray,
    blank_lp: float,
    cands: np.ndarray,
    trie: _Trie,
    lm: TokenLM | None,
    lm_weight: float,
    bonus: float,
    width: int,
    cache: dict[Hashable, dict[int, float]],
) -> _Beams:
    """Advance the beams by one frame whose non-blank candidates are ``cands`` ``(K,)``."""
    stay_label, ext, tot = _extend(beams, frame, cands)
    stay_blank = tot + blank_lp
    lm_ext = _lm_matrix(beams, trie, cands, lm, lm_weight, bonus, cache)
    stay_score = np.logaddexp(stay_blank, stay_label) + beams.lm_total
    ext_score = ext + beams.lm_total[:, None] + lm_ext
    picked = _select(np.concatenate([stay_score, ext_score.ravel()]), width)
    n = len(beams.node)
    stays, exts = picked[picked < n], picked[picked >= n] - n
    j, k = np.divmod(exts, len(cands))
    new_tokens = cands[k]
    new_nodes = [
        trie.child(p, c, lm) for p, c in zip(beams.node[j].tolist(), new_tokens.tolist(), strict=True)
    ]
    return _Beams(
        node=np.concatenate([beams.node[stays], np.asarray(new_nodes, np.int64)]),
        parent=np.concatenate([beams.parent[stays], beams.node[j]]),
        last=np.concatenate([beams.last[stays], new_tokens]),
        p_blank=np.concatenate([stay_blank[stays], np.full(len(exts), NEG_INF)]),
        p_label=np.concatenate([stay_label[stays], ext[j, k]]),
        lm_total=np.concatenate([beams.lm_total[stays], beams.lm_total[j] + lm_ext[j, k]]),
    )


def _blank_step(beams: _Beams, frame: np.ndarray, blank_lp: float) -> _Beams:
    """A frame with no non-blank candidate: prefixes only stay (blank or repeat), none is made."""
    tot = np.logaddexp(beams.p_blank, beams.p_label)
    stay_label = np.where(beams.last >= 0, beams.p_label + frame[np.maximum(beams.last, 0)], NEG_INF)
    return _Beams(beams.node, beams.parent, beams.last, tot + blank_lp, stay_label, beams.lm_total)


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
) -> list[Hypothesis]:
    """CTC prefix beam search over ``log_probs`` ``(T, V)`` (natural-log posteriors, blank ``blank_id``).

    Each prefix keeps two log-probabilities (ending in blank / in its last label); per frame every
    live prefix stays or grows by one candidate token, prefixes that meet are merged, and the
    ``beam_width`` best by ``acoustic + lm_weight * log P_lm + insertion_bonus * len`` survive.

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

    Returns:
        Up to ``nbest`` hypotheses, best first, each with per-label confidence and frames.
    """
    lp = _check(log_probs)
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    trie = _Trie.new(lm.begin() if lm is not None else None)
    beams = _Beams.start()
    cache: dict[Hashable, dict[int, float]] = {}
    blank_col = lp[:, blank_id].tolist()
    for t, cands in enumerate(frame_candidates(lp, token_min_prob, token_top_k, blank_id)):
        if cands.size:
            beams = _step(
                beams, lp[t], blank_col[t], cands, trie, lm, lm_weight, insertion_bonus, beam_width, cache
            )
        else:
            beams = _blank_step(beams, lp[t], blank_col[t])
    return _finish(beams, trie, lp, lm, lm_weight, nbest or beam_width, blank_id)


def _check(log_probs: np.ndarray) -> np.ndarray:
    lp = np.asarray(log_probs, dtype=np.float64)
    if lp.ndim != 2:
        raise ValueError(f"log_probs must be (T, V), got {lp.shape}")
    return lp


def _finish(
    beams: _Beams,
    trie: _Trie,
    lp: np.ndarray,
    lm: TokenLM | None,
    lm_weight: float,
    nbest: int,
    blank_id: int,
) -> list[Hypothesis]:
    """Rank the surviving prefixes (with the LM's end-of-sentence term) and align the best ``nbest``."""
    acoustic = np.logaddexp(beams.p_blank, beams.p_label)
    lm_total = beams.lm_total.copy()
    if lm is not None:
        lm_total += lm_weight * np.array([lm.end_score(trie.lm_state[n]) for n in beams.node.tolist()])
    order = _select(acoustic + lm_total, nbest)
    labels = [trie.labels(n) for n in beams.node[order].tolist()]
    alignments = align(lp, labels, blank_id)
    return [
        Hypothesis(
            lab, conf, start, end, float(acoustic[i] + lm_total[i]), float(acoustic[i]), float(lm_total[i])
        )
        for i, lab, (conf, start, end) in zip(order.tolist(), labels, alignments, strict=True)
    ]


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
