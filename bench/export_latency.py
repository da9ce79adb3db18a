"""Model latency per window: PyTorch vs ONNX Runtime on this CPU (target: ONNX Runtime 1.5x faster or better).

Usage::

    .venv/bin/python bench/export_latency.py                  # the bundled model (or a seeded one if absent)
    .venv/bin/python bench/export_latency.py CHECKPOINT --lengths 32 64 128 --runs 50

Both runtimes compute the same thing the server does per request: ``features (T, 300) -> log_probs (T', V)``
for one unpadded sequence, through :meth:`Recognizer.log_probs` (PyTorch) and :class:`OnnxRuntimeBackend`.
Prints the median and 90th percentile per length and the speed-up; the 64-frame row is the live window
(``CLIP_LENGTH``). Figures are noisy on a shared machine: compare runs made together.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from _shared import latency_arguments, load_model, p90, time_ms
from cslr.export.onnx import export_onnx
from cslr.export.runtime import OnnxRuntimeBackend
from cslr.stream.recognizer import Recognizer

LENGTHS = (16, 64, 256)
WINDOW = 64  # the live sliding window (CLIP_LENGTH)
WARMUP_RUNS = 5
RUNS = 30
TARGET_SPEEDUP = 1.5


def main() -> None:
    args = latency_arguments(__doc__, LENGTHS, RUNS)

    model, vocab, name = load_model(args.checkpoint, args.temporal)
    recognizer = Recognizer(model, vocab, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_onnx(model, vocab, Path(tmp) / "model.onnx", chunk=False).model_path
        ort_backend = OnnxRuntimeBackend(onnx_path, device="cpu")
        print(f"model: {name}; torch {torch.__version__}, {torch.get_num_threads()} threads; CPU")
        print(f"{'frames':>6} | {'torch ms (median/p90)':>22} | {'onnxruntime ms':>18} | speed-up")
        rng = np.random.default_rng(0)
        for frames in args.lengths:
            x = rng.standard_normal((frames, model.cfg.input_dim)).astype(np.float32)
            t = time_ms(lambda x=x: recognizer.log_probs(x), args.runs, WARMUP_RUNS)
            o = time_ms(lambda x=x: ort_backend.log_probs(x), args.runs, WARMUP_RUNS)
            ratio = statistics.median(t) / statistics.median(o)
            mark = "  <- live window" if frames == WINDOW else ""
            print(f"{frames:>6} | {statistics.median(t):>10.2f} / {p90(t):>9.2f} | "
                  f"{statistics.median(o):>7.2f} / {p90(o):>8.2f} | {ratio:>5.2f}x{mark}")
    print(f"target: ONNX Runtime >= {TARGET_SPEEDUP}x faster than PyTorch per {WINDOW}-frame window")


if __name__ == "__main__":
    main()
