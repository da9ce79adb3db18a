"""Model latency on a CUDA GPU: fp32 vs mixed precision (``USE_AMP=true``), per window and per batch.

Usage (whenever a GPU is at hand; exits 0 with a message on a machine without one)::

    .venv/bin/python bench/cuda_amp.py                 # the bundled model, or a seeded default-size one
    .venv/bin/python bench/cuda_amp.py CHECKPOINT --runs 200

Runs what the server runs, :meth:`Recognizer.log_probs` with ``DEVICE=cuda`` and ``USE_AMP`` off then on,
for one sequence at several lengths, and a batched forward (``BATCH_SIZE`` sequences of one 64-frame
window). Prints median / p90 milliseconds (CUDA-synchronised), the speed-up, and how far the AMP
log-probabilities are from fp32 (and whether greedy decoding still agrees).
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable

import numpy as np
import torch

from _shared import fmt, latency_arguments, load_model, time_ms
from cslr.model.network import CSLRModel
from cslr.stream.recognizer import Recognizer

LENGTHS = (16, 64, 256, 1024)
WINDOW = 64
BATCH_SIZE = 8
WARMUP_RUNS = 10
RUNS = 100


def time_cuda_ms(fn: Callable[[], object], runs: int) -> list[float]:
    """Milliseconds per call of ``fn``, synchronising CUDA around each, after untimed warm-up calls."""
    return time_ms(fn, runs, WARMUP_RUNS, sync=torch.cuda.synchronize)


def single_sequence_rows(fp32: Recognizer, amp: Recognizer, lengths: list[int], runs: int) -> None:
    """One row per length: fp32 and AMP latency, speed-up, max |diff| and greedy agreement."""
    rng = np.random.default_rng(0)
    header = ("frames", "fp32 ms (med/p90)", "AMP ms (med/p90)", "speed-up", "max|diff|", "argmax")
    print(" | ".join(header))
    for frames in lengths:
        x = rng.standard_normal((frames, fp32.model.cfg.input_dim)).astype(np.float32)
        t32 = time_cuda_ms(lambda x=x: fp32.log_probs(x), runs)
        tamp = time_cuda_ms(lambda x=x: amp.log_probs(x), runs)
        a, b = fp32.log_probs(x), amp.log_probs(x)
        agree = float((a.argmax(-1) == b.argmax(-1)).mean())
        ratio = statistics.median(t32) / statistics.median(tamp)
        diff = float(np.abs(a - b).max())
        print(f"{frames:>6} | {fmt(t32)} | {fmt(tamp)} | {ratio:7.2f}x | {diff:9.2e} | {agree:6.1%}")


def batch_row(model: CSLRModel, runs: int) -> None:
    """``BATCH_SIZE`` windows of ``WINDOW`` frames in one forward, fp32 vs autocast."""
    x = torch.randn(BATCH_SIZE, WINDOW, model.cfg.input_dim, device="cuda")
    lengths = torch.full((BATCH_SIZE,), WINDOW, device="cuda")

    def run(amp: bool) -> None:
        with torch.inference_mode(), torch.autocast("cuda", enabled=amp):
            model(x, lengths)

    t32 = time_cuda_ms(lambda: run(False), runs)
    tamp = time_cuda_ms(lambda: run(True), runs)
    ratio = statistics.median(t32) / statistics.median(tamp)
    print(f"batch {BATCH_SIZE}x{WINDOW}: fp32 {fmt(t32)} ms, AMP {fmt(tamp)} ms, speed-up {ratio:.2f}x")


def main() -> int:
    args = latency_arguments(__doc__, LENGTHS, RUNS)
    if not torch.cuda.is_available():
        print("no CUDA GPU on this machine: nothing to measure (run this script where one is at hand)")
        return 0
    model, vocab, name = load_model(args.checkpoint, args.temporal)
    fp32 = Recognizer(model, vocab, device="cuda", use_amp=False)
    amp = Recognizer(model, vocab, device="cuda", use_amp=True)
    print(f"model: {name}; GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}, "
          f"autocast dtype {torch.get_autocast_dtype('cuda')}")
    single_sequence_rows(fp32, amp, args.lengths, args.runs)
    batch_row(fp32.model, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
