"""What the benchmarks share: the real data, the long clip, the model to time, and the timing loop.

Imported by the scripts in ``bench/`` as ``from _shared import ...`` (a script's own folder is on
``sys.path`` when it runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from cslr.config import ModelConfig
from cslr.data.vocab import Vocabulary
from cslr.model.checkpoint import default_checkpoint_path, load_checkpoint
from cslr.model.network import CSLRModel
from cslr.pose.keypoints import DEFAULT_FPS
from cslr.video import read_video, write_video

CLIPS = ["asl_house.mp4", "asl_different.mp4", "autsl-request-color.mp4", "pose-format-test-video.mp4"]
LONG_CLIP_SOURCES = ["asl_house.mp4", "asl_different.mp4"]  # the 320x240 real clips
P90 = 0.9


def data_dir() -> Path:
    """The shared real data (``$CSLR_SHARED_DATA`` or ``../shared/data``); exits without its clips."""
    env = os.environ.get("CSLR_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (path / "video").is_dir():
        sys.exit(f"real clips not found under {path}/video: set CSLR_SHARED_DATA")
    return path


def make_long_clip(videos: Path, repeat: int, out: Path) -> int:
    """Re-encode the 320x240 real clips ``repeat`` times into one H.264 file ``out``; returns its frames."""
    clips = [read_video(videos / name).frames for name in LONG_CLIP_SOURCES]
    frames = [frame for _ in range(repeat) for clip in clips for frame in clip]
    write_video(out, frames, DEFAULT_FPS)
    return len(frames)


def load_model(checkpoint: str | None, temporal: str) -> tuple[CSLRModel, Vocabulary, str]:
    """The checkpoint given, else the bundled model, else a seeded model of the default size."""
    path = Path(checkpoint) if checkpoint else default_checkpoint_path()
    if path.is_file():
        model, _cfg, vocab, _extra = load_checkpoint(path)
        return model, vocab, str(path)
    torch.manual_seed(0)
    vocab = Vocabulary.from_glosses(["hello", "thankyou"])
    model = CSLRModel(ModelConfig(temporal=temporal, vocab_size=len(vocab))).eval()
    return model, vocab, f"seeded {temporal} (default size)"


def latency_arguments(doc: str | None, lengths: tuple[int, ...], runs: int) -> argparse.Namespace:
    """Command line of the latency benchmarks: ``[CHECKPOINT] [--temporal] [--lengths] [--runs]``."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default=None)
    parser.add_argument("--temporal", default="bilstm", help="encoder of the seeded model when none is found")
    parser.add_argument("--lengths", type=int, nargs="+", default=list(lengths))
    parser.add_argument("--runs", type=int, default=runs)
    return parser.parse_args()


def time_ms(
    fn: Callable[[], object], runs: int, warmup: int, sync: Callable[[], None] | None = None
) -> list[float]:
    """Milliseconds per call of ``fn`` over ``runs`` calls after ``warmup`` untimed ones; ``sync`` (e.g.
    ``torch.cuda.synchronize``) is called before the clock starts and before it stops."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        if sync is not None:
            sync()
        start = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def p90(samples: list[float]) -> float:
    """90th percentile."""
    return float(np.quantile(samples, P90))


def fmt(samples: list[float]) -> str:
    """``median / p90`` in milliseconds."""
    return f"{statistics.median(samples):7.3f} / {p90(samples):7.3f}"
