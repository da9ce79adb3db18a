"""Per-frame latency of the two-stream model's parts: RGB stream, pose stream, fusion.

Prints milliseconds per frame for the RGB stream (ResNet18 at 224x224, batch 1 and 16 frames), the pose
stream (MLP and graph convolution) and the gated attention fusion, on this CPU and, when one is present,
on a CUDA GPU, beside the original specification's RTX 3050 figures (RGB 8 ms, pose 2 ms, fusion 1 ms).

    .venv/bin/python bench/two_stream.py [--repeats 10] [--threads 2]

Then whole shipped two-stream models as the server runs them (:class:`~cslr.stream.recognizer.Recognizer`,
PHOENIX-sized 1,000-gloss head, random weights): ``two-stream-live`` (GCN + ResNet18 at 160 px with hand
and face crops, causal LSTM) per live chunk of 4 frames, and ``two-stream-fused`` (MLP + ResNet18 at
224 px, BiLSTM) per 64-frame window; milliseconds per frame, so under 40 ms is real time at 25 fps.

Timings are medians over ``--repeats`` runs after warm-up, under ``torch.inference_mode``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from cslr.config import ModelConfig, load_config
from cslr.data.vocab import Vocabulary
from cslr.export.parity import random_inputs
from cslr.model.fusion import GatedAttentionFusion
from cslr.model.inputs import frame_side
from cslr.model.network import CSLRModel
from cslr.model.pose_stream import build_pose_stream
from cslr.model.rgb_stream import RGBStream
from cslr.stream.recognizer import Recognizer

SPEC_RTX3050_MS = {"rgb": 8.0, "pose": 2.0, "fusion": 1.0, "model": 11.0}  # model: the three together
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
LIVE_CHUNK = 4  # frames per live chunk (STREAM_CHUNK_FRAMES)
WINDOW = 64  # frames per sliding window (CLIP_LENGTH)
GLOSSES = 1000  # a PHOENIX-sized head
IMAGE_SIDE = 224
RGB_BATCHES = (1, 16)
POSE_FRAMES = 64  # frames per pose/fusion call (one sliding window)
WARMUP = 2


def median_ms(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall time of ``fn()`` in milliseconds (CUDA synchronised)."""
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def bench_device(device: torch.device, repeats: int) -> list[tuple[str, str, float]]:
    """``(part, setting, ms per frame)`` rows for one device."""
    cfg = ModelConfig(streams=("pose", "rgb"), rgb_backbone="resnet18", rgb_size=IMAGE_SIDE)
    rows = []
    rgb = RGBStream(cfg).to(device).eval()
    for batch in RGB_BATCHES:
        frames = torch.randint(
            0, 256, (1, batch, 3, IMAGE_SIDE, IMAGE_SIDE), dtype=torch.uint8, device=device
        )
        ms = median_ms(lambda f=frames: rgb(f), repeats, device)
        rows.append(("rgb", f"resnet18 224x224, batch {batch}", ms / batch))
        if device.type == "cuda":  # what USE_AMP=true serves with
            with torch.autocast("cuda", dtype=torch.float16):
                ms = median_ms(lambda f=frames: rgb(f), repeats, device)
            rows.append(("rgb", f"resnet18 224x224, batch {batch}, fp16", ms / batch))
    features = torch.randn(1, POSE_FRAMES, cfg.input_dim, device=device)
    for encoder in ("mlp", "gcn"):
        pose = build_pose_stream(ModelConfig(pose_encoder=encoder)).to(device).eval()
        ms = median_ms(lambda p=pose: p(features), repeats, device)
        rows.append(("pose", f"{encoder}, {POSE_FRAMES} frames", ms / POSE_FRAMES))
    fusion = GatedAttentionFusion([cfg.pose_hidden, cfg.rgb_dim], cfg.fusion_dim, cfg.fusion_heads, 0.0)
    fusion = fusion.to(device).eval()
    streams = [torch.randn(1, POSE_FRAMES, n, device=device) for n in (cfg.pose_hidden, cfg.rgb_dim)]
    ms = median_ms(lambda: fusion(streams), repeats, device)
    rows.append(("fusion", f"gated attention, {POSE_FRAMES} frames", ms / POSE_FRAMES))
    return rows + model_rows(device, repeats)


def model_rows(device: torch.device, repeats: int) -> list[tuple[str, str, float]]:
    """Whole two-stream models through the Recognizer: a live chunk and a sliding window."""
    vocab = Vocabulary.from_glosses([f"G{i}" for i in range(GLOSSES - 1)])
    rows = []
    for name, frames in (("two-stream-live", LIVE_CHUNK), ("two-stream-fused", WINDOW)):
        cfg = dataclasses.replace(load_config(CONFIGS / f"{name}.yaml").model, vocab_size=len(vocab))
        torch.manual_seed(0)
        recognizer = Recognizer(CSLRModel(cfg, pretrained=False), vocab, device=device.type)
        side = frame_side(cfg) or cfg.rgb_size
        if recognizer.model.streamable:
            chunk = random_inputs(cfg, frames, batch=1, image=(side, side))
            state = recognizer.chunk_state(1)
            ms = median_ms(lambda r=recognizer, c=chunk, s=state: r.forward_chunk(c, s), repeats, device)
            setting = f"{name}, live chunk of {frames}"
        else:
            window = random_inputs(cfg, frames, batch=None, image=(side, side))
            ms = median_ms(lambda r=recognizer, w=window: r.log_probs(w), repeats, device)
            setting = f"{name}, {frames}-frame window"
        rows.append(("model", setting, ms / frames))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    else:
        print("(no CUDA GPU here: CUDA figures skipped)")
    print(f"{'device':<28} {'part':<7} {'setting':<38} {'ms/frame':>9} {'spec RTX 3050':>14}")
    with torch.inference_mode():
        for device in devices:
            name = (
                torch.cuda.get_device_name(device)
                if device.type == "cuda"
                else f"cpu ({torch.get_num_threads()} threads)"
            )
            for part, setting, ms in bench_device(device, args.repeats):
                print(f"{name:<28} {part:<7} {setting:<38} {ms:>9.3f} {SPEC_RTX3050_MS[part]:>14.1f}")


if __name__ == "__main__":
    main()
