"""Benchmark: cslr's CTC prefix beam search against pyctcdecode and flashlight-text (lexicon-free).

The same peaky log-posteriors (T≈200, V=1300 as PHOENIX-2014, confusions as a recogniser makes them,
see ``cslr.decode.simulate``) go through each decoder at the same beam width and token pruning, without
and with a 3-gram gloss LM (built with ``cslr.decode.lm`` and read from the same ARPA file by every
decoder). Prints time per utterance, ratios, agreement of the best hypotheses and WER against the truth.
cslr runs compiled (numba); ``cslr python`` is the same search in plain Python (``compiled=False``),
and the first line says how long the first call took (loading the compiled code, or compiling it when
there is no cache yet).

    .venv/bin/python bench/ctc_decode.py [--utterances 50] [--beam 10] [--blank-skip 0.98]

``--blank-skip P`` also runs cslr with frames whose blank posterior is at least P taken as blank-only.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jiwer
import numpy as np

from cslr.decode.ctc import beam_search
from cslr.decode.lm import NGramLM
from cslr.decode.simulate import confusion_partners, noisy_posteriors

VOCAB = 1300
TARGET_FRAMES = 200
GLOSSES_PER_UTT = 40  # with the simulator's spike and gap lengths this gives T ≈ 200
TOKEN_MIN_PROB = 1e-3
TOKEN_TOP_K = 20
LM_WEIGHT = 0.3
LM_SENTENCES = 3000

Decoder = Callable[[np.ndarray], list[int]]


def make_data(n: int, rng: np.random.Generator) -> tuple[list[np.ndarray], list[list[int]], list[list[int]]]:
    """Utterances drawn from a random bigram 'grammar' (so an LM can help), their posteriors, and
    separate LM training sentences from the same grammar."""
    successors = rng.integers(1, VOCAB, size=(VOCAB, 4))

    def sentence() -> list[int]:
        out = [int(rng.integers(1, VOCAB))]
        while len(out) < GLOSSES_PER_UTT:
            out.append(
                int(rng.choice(successors[out[-1]])) if rng.random() < 0.9 else int(rng.integers(1, VOCAB))
            )
        return out

    confusion = confusion_partners(VOCAB, 3, rng)
    refs = [sentence() for _ in range(n)]
    posts = [noisy_posteriors(r, VOCAB, rng, confusion).astype(np.float32) for r in refs]
    return posts, refs, [sentence() for _ in range(LM_SENTENCES)]


def names() -> list[str]:
    return ["<blank>", *[f"g{i}" for i in range(1, VOCAB)]]


def ours(beam: int, lm: NGramLM | None, blank_skip: float | None = None, compiled: bool = True) -> Decoder:
    token_lm = lm.for_tokens(names()) if lm is not None else None

    def run(lp: np.ndarray) -> list[int]:
        return list(
            beam_search(
                lp,
                beam,
                lm=token_lm,
                lm_weight=LM_WEIGHT,
                token_min_prob=TOKEN_MIN_PROB,
                token_top_k=TOKEN_TOP_K,
                nbest=1,
                blank_skip=blank_skip,
                compiled=compiled,
            )[0].token_ids
        )

    return run


def pyctc(beam: int, arpa: Path | None) -> Decoder:
    from pyctcdecode import build_ctcdecoder

    labels = ["", *[f"▁{w}" for w in names()[1:]]]  # BPE-style: every label starts a word (a gloss)
    decoder = build_ctcdecoder(
        labels, kenlm_model_path=str(arpa) if arpa else None, alpha=LM_WEIGHT, beta=0.0
    )
    index = {w: i for i, w in enumerate(names())}

    def run(lp: np.ndarray) -> list[int]:
        text = decoder.decode(lp, beam_width=beam, token_min_logp=math.log(TOKEN_MIN_PROB))
        return [index[w] for w in text.split()]

    return run


def flashlight(beam: int, arpa: Path | None) -> Decoder:
    from flashlight.lib.text.decoder import (
        CriterionType,
        KenLM,
        LexiconFreeDecoder,
        LexiconFreeDecoderOptions,
        ZeroLM,
    )
    from flashlight.lib.text.dictionary import Dictionary

    vocab = Dictionary()
    for w in names():
        vocab.add_entry(w)
    lm = KenLM(str(arpa), vocab) if arpa else ZeroLM()
    opts = LexiconFreeDecoderOptions(
        beam_size=beam,
        beam_size_token=TOKEN_TOP_K,
        beam_threshold=1e9,
        lm_weight=LM_WEIGHT if arpa else 0.0,
        sil_score=0.0,
        log_add=True,
        criterion_type=CriterionType.CTC,
    )
    decoder = LexiconFreeDecoder(opts, lm, 0, 0, [])

    def run(lp: np.ndarray) -> list[int]:
        em = np.ascontiguousarray(lp, dtype=np.float32)
        best = decoder.decode(em.ctypes.data, em.shape[0], em.shape[1])[0].tokens
        out, prev = [], -1
        for t in best:
            if t != prev and t != 0 and t >= 0:
                out.append(int(t))
            prev = t
        return out

    return run


def timed(decoder: Decoder, posts: list[np.ndarray]) -> tuple[float, list[list[int]]]:
    decoder(posts[0])  # warm-up
    start = time.perf_counter()
    outs = [decoder(p) for p in posts]
    return (time.perf_counter() - start) / len(posts), outs


def wer(refs: list[list[int]], hyps: list[list[int]]) -> float:
    return jiwer.wer([" ".join(map(str, r)) for r in refs], [" ".join(map(str, h)) or "<none>" for h in hyps])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=50)
    parser.add_argument("--beam", type=int, default=10)
    parser.add_argument("--blank-skip", type=float, default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    posts, refs, lm_text = make_data(args.utterances, rng)
    start = time.perf_counter()
    beam_search(posts[0][:5], args.beam)
    print(f"first call of the compiled search (load or compile): {time.perf_counter() - start:.2f} s")
    print(
        f"{len(posts)} utterances, T≈{np.mean([p.shape[0] for p in posts]):.0f}, V={VOCAB}, "
        f"beam={args.beam}, "
        f"token top-k={TOKEN_TOP_K}, min prob={TOKEN_MIN_PROB}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        arpa = Path(tmp) / "lm.arpa"
        lm = NGramLM.build([[names()[i] for i in s] for s in lm_text], 3)
        lm.save_arpa(arpa)
        for label, use_lm in (("no LM", False), (f"3-gram LM, weight {LM_WEIGHT}", True)):
            print(f"\n== {label}")
            results = {"cslr": timed(ours(args.beam, lm if use_lm else None), posts)}
            results["cslr python"] = timed(ours(args.beam, lm if use_lm else None, compiled=False), posts)
            if args.blank_skip is not None:
                skip = ours(args.beam, lm if use_lm else None, args.blank_skip)
                results[f"cslr skip {args.blank_skip}"] = timed(skip, posts)
            for name, make in (("flashlight-text", flashlight), ("pyctcdecode", pyctc)):
                try:
                    results[name] = timed(make(args.beam, arpa if use_lm else None), posts)
                except ImportError as exc:
                    print(f"{name}: not installed ({exc})")
            _report(results, refs)


def _report(results: dict[str, tuple[float, list[list[int]]]], refs: list[list[int]]) -> None:
    base_time, base_out = results["cslr"]
    for name, (sec, out) in results.items():
        agree = np.mean([a == b for a, b in zip(out, base_out, strict=True)])
        print(
            f"{name:16s} {sec * 1e3:8.2f} ms/utt   time vs cslr x{sec / base_time:5.2f}   "
            f"same best as cslr {agree:6.1%}   WER {wer(refs, out):6.2%}"
        )


if __name__ == "__main__":
    main()
