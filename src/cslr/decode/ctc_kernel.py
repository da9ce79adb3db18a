"""Compiled (numba) CTC prefix beam search: the loop of :func:`cslr.decode.ctc.beam_search` over one
utterance, optionally with an n-gram LM given as sorted arrays (:class:`cslr.decode.lm.NGramTables`).

It does, float operation for float operation and in the same order, what the Python search in
:mod:`cslr.decode.ctc` does (``_stay_run``, ``_step``, ``_prune``), so both return the same prefixes,
scores, spans and ties; only the sum of the per-frame scale factors is added plainly instead of with
``math.fsum`` (a difference in the last bits of the scores). Nothing here is public: call
:func:`cslr.decode.ctc.beam_search`.

Prefixes are trie nodes held in arrays; ``children`` maps ``node * V + token`` to the child node. Compiled
on first use and cached on disk next to this file (``cache=True``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.typed import Dict

LN10 = math.log(10.0)


@njit(cache=True)
def _find(keys: np.ndarray, key: int) -> int:
    """Index of ``key`` in the sorted ``keys``, -1 when absent."""
    i = np.searchsorted(keys, key)
    if i < keys.shape[0] and keys[i] == key:
        return int(i)
    return -1


@njit(cache=True)
def _child(children, key):
    """The trie node stored under ``key``, -1 when there is none."""
    if key in children:
        return children[key]
    return -1


@njit(cache=True)
def lm_logprob(
    context: int, digit: int, keys: np.ndarray, probs: np.ndarray, bows: np.ndarray, base: int
) -> float:
    """Natural-log ``P(word | context)`` with ARPA back-off, as ``NGramLM.logprob`` computes it.

    ``context`` is an n-gram code (digits in ``base``, 0 for the empty context), ``digit`` the word's."""
    penalty = 0.0
    while True:
        i = _find(keys, context * base + digit)
        if i >= 0 and not math.isnan(probs[i]):
            return (penalty + probs[i]) * LN10
        if context == 0:
            return -math.inf
        j = _find(keys, context)
        if j >= 0:
            penalty += bows[j]
        top = 1
        while top * base <= context:
            top *= base
        context = context % top


@njit(cache=True)
def _stay_run(lp, pb, pl, last, end, nb, t0, t1, blank_id):
    """Candidate-free frames ``t0..t1-1`` (blank or repeat only), in place; returns the log of the
    factor divided out."""
    if t1 <= t0:
        return 0.0
    n = t1 - t0
    norm = np.empty(n)
    q = np.empty(n)
    total = 0.0
    prod_q = 1.0
    for j in range(n):
        v = np.float64(lp[t0 + j, blank_id])
        norm[j] = v if v > -math.inf else 0.0
        q[j] = math.exp(v - norm[j])
        prod_q *= q[j]
        total += norm[j]
    for i in range(nb):
        if last[i] < 0:
            pb[i] = (pb[i] + pl[i]) * prod_q
            continue
        b_pb, b_pl, b_end = pb[i], pl[i], end[i]
        for j in range(n):
            v = np.float64(lp[t0 + j, last[i]])
            b_pb, b_pl = (b_pb + b_pl) * q[j], b_pl * math.exp(v - norm[j])
            if b_end == t0 + j and v >= np.float64(lp[t0 + j, blank_id]):
                b_end += 1
        pb[i], pl[i], end[i] = b_pb, b_pl, b_end
    return total


@njit(cache=True)
def search(
    lp,
    rows,
    cands,
    n_cands,
    width,
    blank_id,
    lm_on,
    keys,
    probs,
    bows,
    context_digits,
    predict_digits,
    base,
    keep_mod,
    begin_state,
    eos_digit,
    lm_weight,
    bonus,
):
    """Prefix beam search over ``lp`` ``(T, V)``; candidate frames ``rows`` ``(R,)`` with their
    candidates ``cands`` ``(R, k)`` (the first ``n_cands[r]`` of row ``r`` are used, best first).

    Returns the surviving beams in rank order (node, p_blank, p_label, LM total, start, end, raw LM
    end-of-sentence score), the log of the common scale factor, and the trie (parent, token, start,
    parent's label end) of the first ``n_nodes`` nodes.
    """
    T, V = lp.shape
    n_rows = rows.shape[0]
    max_k = 1
    for r in range(n_rows):
        max_k = max(max_k, n_cands[r])
    cap = 1 + width * n_rows
    parent = np.empty(cap, np.int64)
    token = np.empty(cap, np.int64)
    tstart = np.zeros(cap, np.int64)
    tpend = np.zeros(cap, np.int64)
    lmst = np.zeros(cap, np.int64)
    parent[0], token[0], lmst[0] = -1, -1, begin_state
    n_nodes = 1
    children = Dict.empty(key_type=types.int64, value_type=types.int64)
    live = np.zeros(cap, np.bool_)
    sidx = np.full(cap, -1, np.int64)
    # beams, in rank order
    bn = np.zeros(width, np.int64)
    bpb, bpl, blm = np.zeros(width), np.zeros(width), np.zeros(width)
    blast, bstart, bend = np.full(width, -1, np.int64), np.zeros(width, np.int64), np.zeros(width, np.int64)
    bpb[0] = 1.0
    nb = 1
    # staying prefixes of a frame, in insertion order, and the growths
    sn, smoved = np.zeros(width, np.int64), np.zeros(width, np.int64)
    spb, spl, slm = np.zeros(width), np.zeros(width), np.zeros(width)
    slast, sstart, send = np.zeros(width, np.int64), np.zeros(width, np.int64), np.zeros(width, np.int64)
    n_grow_cap = width * max_k
    gp, glm = np.zeros(n_grow_cap), np.zeros(n_grow_cap)
    gpar, gtok = np.zeros(n_grow_cap, np.int64), np.zeros(n_grow_cap, np.int64)
    scores = np.zeros(width + n_grow_cap)
    sel = np.zeros(width, np.int64)
    sel_score = np.zeros(width)
    xs, lm_ext = np.zeros(max_k), np.zeros(max_k)
    nbn, nlast = np.zeros(width, np.int64), np.zeros(width, np.int64)
    nstart, nend = np.zeros(width, np.int64), np.zeros(width, np.int64)
    npb, npl, nlm = np.zeros(width), np.zeros(width), np.zeros(width)
    log_scale = 0.0
    done = 0
    for r in range(n_rows):
        t = rows[r]
        log_scale += _stay_run(lp, bpb, bpl, blast, bend, nb, done, t, blank_id)
        k = n_cands[r]
        b = math.exp(np.float64(lp[t, blank_id]))
        for j in range(k):
            xs[j] = math.exp(np.float64(lp[t, cands[r, j]]))
            lm_ext[j] = bonus
        for i in range(nb):
            live[bn[i]] = True
        ns = 0
        ng = 0
        # -- _step: stay or grow
        for i in range(nb):
            node, pb, pl, lm_total = bn[i], bpb[i], bpl[i], blm[i]
            last, start, end = blast[i], bstart[i], bend[i]
            tot = pb + pl
            rr = math.exp(np.float64(lp[t, last])) if last >= 0 else 0.0
            new_end = t + 1 if end == t and rr >= b else end
            si = sidx[node]
            if si < 0:
                sidx[node] = ns
                sn[ns], spb[ns], spl[ns], slm[ns] = node, tot * b, pl * rr, lm_total
                slast[ns], sstart[ns], send[ns] = last, start, new_end
                ns += 1
            else:
                if tot * b + pl * rr >= spl[si]:
                    sstart[si], send[si] = start, new_end
                else:
                    tpend[node] = smoved[si]
                spb[si] += tot * b
                spl[si] += pl * rr
            if lm_on:
                for j in range(k):
                    s = lm_logprob(lmst[node], predict_digits[cands[r, j]], keys, probs, bows, base)
                    lm_ext[j] = lm_weight * s + bonus
            for j in range(k):
                c = cands[r, j]
                p = (pb if c == last else tot) * xs[j]
                key = node * V + c
                child = _child(children, key)
                if child < 0 or not live[child]:
                    gp[ng], glm[ng], gpar[ng], gtok[ng] = p, lm_total + lm_ext[j], node, c
                    ng += 1
                elif sidx[child] >= 0:
                    ci = sidx[child]
                    if p > spb[ci] + spl[ci]:
                        sstart[ci], send[ci] = t, t + 1
                        tpend[child] = min(new_end, t)
                    spl[ci] += p
                else:
                    sidx[child] = ns
                    sn[ns], spb[ns], spl[ns], slm[ns] = child, 0.0, p, lm_total + lm_ext[j]
                    slast[ns], sstart[ns], send[ns], smoved[ns] = c, t, t + 1, min(new_end, t)
                    ns += 1
        # -- _prune: the `width` best, stable (earlier entries first among equal scores)
        for i in range(ns):
            tot = spb[i] + spl[i]
            scores[i] = math.log(tot) + slm[i] if tot > 0.0 else -math.inf
        for g in range(ng):
            scores[ns + g] = math.log(gp[g]) + glm[g] if gp[g] > 0.0 else -math.inf
        n_sel = 0
        for e in range(ns + ng):
            s = scores[e]
            if n_sel == width and not s > sel_score[n_sel - 1]:
                continue
            pos = n_sel if n_sel < width else width - 1
            while pos > 0 and s > sel_score[pos - 1]:
                if pos < width:
                    sel[pos], sel_score[pos] = sel[pos - 1], sel_score[pos - 1]
                pos -= 1
            sel[pos], sel_score[pos] = e, s
            if n_sel < width:
                n_sel += 1
        top = -math.inf
        for i in range(n_sel):
            e = sel[i]
            if e < ns:
                nbn[i], npb[i], npl[i], nlm[i] = sn[e], spb[e], spl[e], slm[e]
                nlast[i], nstart[i], nend[i] = slast[e], sstart[e], send[e]
            else:
                g = e - ns
                par, c = gpar[g], gtok[g]
                key = par * V + c
                child = _child(children, key)
                if child < 0:
                    child = n_nodes
                    n_nodes += 1
                    children[key] = child
                    parent[child], token[child] = par, c
                    lmst[child] = (lmst[par] * base + context_digits[c]) % keep_mod if lm_on else 0
                tstart[child], tpend[child] = t, min(send[sidx[par]], t)
                nbn[i], npb[i], npl[i], nlm[i] = child, 0.0, gp[g], glm[g]
                nlast[i], nstart[i], nend[i] = c, t, t + 1
            if npb[i] + npl[i] > top:
                top = npb[i] + npl[i]
        for i in range(nb):
            live[bn[i]] = False
        for i in range(ns):
            sidx[sn[i]] = -1
        nb = n_sel
        bn[:nb], bpb[:nb], bpl[:nb], blm[:nb] = nbn[:nb], npb[:nb], npl[:nb], nlm[:nb]
        blast[:nb], bstart[:nb], bend[:nb] = nlast[:nb], nstart[:nb], nend[:nb]
        if top > 0.0 and math.isfinite(top):
            inv = 1.0 / top
            for i in range(nb):
                bpb[i] *= inv
                bpl[i] *= inv
            log_scale += math.log(top)
        done = t + 1
    log_scale += _stay_run(lp, bpb, bpl, blast, bend, nb, done, T, blank_id)
    end_lm = np.zeros(nb)
    if lm_on:
        for i in range(nb):
            end_lm[i] = lm_logprob(lmst[bn[i]], eos_digit, keys, probs, bows, base)
    return (
        bn[:nb].copy(), bpb[:nb].copy(), bpl[:nb].copy(), blm[:nb].copy(), bstart[:nb].copy(),
        bend[:nb].copy(), end_lm, log_scale, parent[:n_nodes].copy(), token[:n_nodes].copy(),
        tstart[:n_nodes].copy(), tpend[:n_nodes].copy(),
    )


@njit(cache=True)
def _above(x, threshold, strict):
    return x > threshold if strict else x >= threshold


@njit(cache=True)
def _count_above(row, threshold, strict):
    n = 0
    if strict:
        for x in row:
            n += x > threshold
    else:
        for x in row:
            n += x >= threshold
    return n


@njit(cache=True)
def plan(lp, threshold, strict, top_k, blank_id, skip_below, skip_on):
    """Candidate frames and tokens of ``lp`` ``(T, V)`` (see :func:`cslr.decode.ctc.frame_plan`).

    A non-blank token is a candidate where its log-posterior is ``>= threshold`` (``> threshold`` when
    ``strict``); with ``skip_on``, frames whose blank log-posterior is not ``< skip_below`` have none.
    At most ``top_k`` per frame, most probable first, ties to the lower id.

    Returns frames ``(R,)``, candidates ``(R, k)`` (first ``n[r]`` of row ``r`` valid) and ``n`` ``(R,)``.
    """
    T, V = lp.shape
    ids = np.empty(V, np.int64)
    vals = np.empty(V)
    rows = np.empty(T, np.int64)
    width = max(min(top_k, V), 1)
    out = np.zeros((T, width), np.int64)
    counts = np.zeros(T, np.int64)
    n_rows = 0
    for t in range(T):
        if skip_on and not lp[t, blank_id] < skip_below:
            continue
        if _count_above(lp[t], threshold, strict) == _above(lp[t, blank_id], threshold, strict):
            continue  # nothing but (perhaps) blank: the common case, checked with a vectorised count
        n = 0
        for v in range(V):
            x = lp[t, v]
            if v != blank_id and _above(x, threshold, strict):
                ids[n], vals[n] = v, -np.float64(x)
                n += 1
        order = np.argsort(vals[:n], kind="mergesort")
        k = min(n, top_k)
        for j in range(k):
            out[n_rows, j] = ids[order[j]]
        rows[n_rows], counts[n_rows] = t, k
        n_rows += 1
    return rows[:n_rows].copy(), out[:n_rows].copy(), counts[:n_rows].copy()
