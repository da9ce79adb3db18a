"""Model latency per window: PyTorch vs ONNX Runtime vs TorchScript on this CPU (target: ONNX Runtime 1.5x
faster than PyTorch or better), for a pose-only model and a fused pose + RGB model.

Usage::

    .venv/bin/python bench/export_latency.py                  # the bundled model (or a seeded one if absent)
    .venv/bin/python bench/export_latency.py CHECKPOINT --lengths 32 64 128 --runs 50
    .venv/bin/python bench/export_latency.py --fused-backbone tiny --fused-size 64

Every runtime computes what the server does per request: one unpadded sequence of
:class:`~cslr.model.inputs.ModelInputs` ``-> log_probs (T', V)``, through :meth:`Recognizer.log_probs`
(PyTorch), :class:`OnnxRuntimeBackend` and the traced TorchScript module. Prints the median and 90th
percentile per length for the pose-only model; then the same for the 64-frame live window
(``CLIP_LENGTH``) of a fused model: ``configs/two-stream-fused.yaml`` (pose MLP + RGB, gated attention
fusion, BiLSTM) with random weights, its backbone and image size set by ``--fused-backbone`` and
``--fused-size`` (frames arrive at that size, as :func:`~cslr.model.inputs.model_frames` gives them).
Figures are noisy on a shared machine: compare runs made together.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from _shared import load_model, p90, time_ms
from cslr.config import load_config
from cslr.data.vocab import Vocabulary
from cslr.export.graphs import graph_inputs
from cslr.export.onnx import export_onnx
from cslr.export.parity import as_tensors, random_inputs
from cslr.export.runtime import OnnxRuntimeBackend
from cslr.export.torchscript import export_torchscript, load_torchscript
from cslr.model.inputs import ModelInputs
from cslr.model.network import CSLRModel
from cslr.stream.recognizer import Recognizer

LENGTHS = (16, 64, 256)
WINDOW = 64  # the live sliding window (CLIP_LENGTH)
WARMUP_RUNS = 5
RUNS = 30
FUSED_RUNS = 10  # a fused window runs a CNN per frame: fewer runs
FUSED_WARMUP_RUNS = 2
TARGET_SPEEDUP = 1.5
FUSED_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "two-stream-fused.yaml"
FUSED_VOCAB = Vocabulary.from_glosses([f"sign{i}" for i in range(10)])


def arguments() -> argparse.Namespace:
    """``[CHECKPOINT] [--temporal] [--lengths] [--runs] [--fused-backbone] [--fused-size] [--fused-runs]``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default=None)
    parser.add_argument("--temporal", default="bilstm", help="encoder of the seeded model when none is found")
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--fused-backbone", default="resnet18", help="RGB backbone of the fused model")
    parser.add_argument("--fused-size", type=int, default=112, help="rgb_size of the fused model (pixels)")
    parser.add_argument("--fused-runs", type=int, default=FUSED_RUNS)
    return parser.parse_args()


class Runtimes:
    """PyTorch (the recognizer), ONNX Runtime and TorchScript for one model, exported into ``folder``."""

    def __init__(self, model: CSLRModel, vocab: Vocabulary, folder: Path) -> None:
        self.names = graph_inputs(model.cfg)
        self.recognizer = Recognizer(model, vocab, device="cpu")
        onnx_path = export_onnx(model, vocab, folder / "model.onnx", chunk=False).model_path
        self.onnx = OnnxRuntimeBackend(onnx_path, device="cpu")
        self.script, _vocab = load_torchscript(export_torchscript(model, vocab, folder / "model.ts.pt").path)

    def torchscript(self, inputs: ModelInputs) -> np.ndarray:
        """The traced module on one sequence: ``(T', V)``."""
        named = as_tensors(inputs)
        with torch.inference_mode():
            return self.script(*(named[n][None] for n in self.names))[:, 0].numpy()

    def time(self, inputs: ModelInputs, runs: int, warmup: int) -> list[list[float]]:
        """Milliseconds per call of PyTorch, ONNX Runtime and TorchScript on ``inputs``."""
        calls = (self.recognizer.log_probs, self.onnx.log_probs, self.torchscript)
        return [time_ms(lambda f=f: f(inputs), runs, warmup) for f in calls]  # type: ignore[misc]


def row(label: str, samples: list[list[float]]) -> str:
    """``label | torch | onnxruntime | torchscript | speed-ups`` (median / p90 ms)."""
    cells = " | ".join(f"{statistics.median(s):>8.2f} / {p90(s):>8.2f}" for s in samples)
    torch_ms = statistics.median(samples[0])
    ups = " / ".join(f"{torch_ms / statistics.median(s):.2f}x" for s in samples[1:])
    return f"{label:>6} | {cells} | {ups}"


HEADER = (f"{'frames':>6} | {'torch ms (med/p90)':>19} | {'onnxruntime ms':>19} | {'torchscript ms':>19} | "
          "speed-up ort / ts")


def fused_model(backbone: str, size: int) -> CSLRModel:
    """``two-stream-fused.yaml`` with ``backbone`` at ``size`` pixels, seeded random weights."""
    cfg = dataclasses.replace(load_config(FUSED_CONFIG).model, rgb_backbone=backbone, rgb_size=size,
                              vocab_size=len(FUSED_VOCAB))
    torch.manual_seed(0)
    return CSLRModel(cfg, pretrained=False).eval()


def main() -> None:
    args = arguments()
    model, vocab, name = load_model(args.checkpoint, args.temporal)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; CPU")
    with tempfile.TemporaryDirectory() as tmp:
        runtimes = Runtimes(model, vocab, Path(tmp))
        print(f"\npose-only model: {name} (streams {'+'.join(model.cfg.streams)}, {model.cfg.temporal})")
        print(HEADER)
        for frames in args.lengths:
            inputs = random_inputs(model.cfg, frames, batch=None)
            mark = "  <- live window" if frames == WINDOW else ""
            print(row(str(frames), runtimes.time(inputs, args.runs, WARMUP_RUNS)) + mark)

        fused = fused_model(args.fused_backbone, args.fused_size)
        (Path(tmp) / "fused").mkdir()
        runtimes = Runtimes(fused, FUSED_VOCAB, Path(tmp) / "fused")
        cfg = fused.cfg
        print(f"\nfused model: {FUSED_CONFIG.name} with {cfg.rgb_backbone} at {cfg.rgb_size}x{cfg.rgb_size} "
              f"(pose {cfg.pose_encoder} + rgb, gated attention fusion, {cfg.temporal}); seeded weights")
        print(HEADER)
        inputs = random_inputs(cfg, WINDOW, batch=None, image=(cfg.rgb_size, cfg.rgb_size))
        samples = runtimes.time(inputs, args.fused_runs, FUSED_WARMUP_RUNS)
        print(row(str(WINDOW), samples) + "  <- live window")
    print(f"\ntarget: ONNX Runtime >= {TARGET_SPEEDUP}x faster than PyTorch per {WINDOW}-frame window")


if __name__ == "__main__":
    main()
