"""Training throughput on a CUDA GPU: fp32 against AMP (fp16 autocast + GradScaler) and bf16.

    .venv/bin/python bench/cuda_amp_train.py [--config configs/asl-default.yaml] [--batch-size 64]

Synthetic features of the recipe's shape (no dataset needed), the recipe's model, full training steps
(forward, CTC loss, backward, unscale + clip, optimizer step). Prints sequences/s per precision and the
speed-up. Exits with status 0 and a message when no GPU is present, so it is safe to run anywhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

from cslr.config import load_config
from cslr.model.network import CSLRModel
from cslr.train.trainer import amp_dtype, autocast, make_optimizer

DEFAULT_RECIPE = Path(__file__).resolve().parents[1] / "configs" / "asl-default.yaml"
VOCAB = 1000  # a PHOENIX-sized output layer
FRAMES = 200  # 8 s at 25 fps
GLOSSES = 10


def run(cfg, mode: str, batch: int, steps: int, warmup: int) -> float:  # type: ignore[no-untyped-def]
    """Sequences/s of ``steps`` training steps in precision ``mode`` (``off``, ``fp16``, ``bf16``)."""
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = CSLRModel(dataclasses.replace(cfg.model, vocab_size=VOCAB)).to(device).train()
    opt = make_optimizer(model, cfg.train)
    dtype = amp_dtype(mode, device)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    x = torch.randn(batch, FRAMES, cfg.model.input_dim, device=device)
    lengths = torch.full((batch,), FRAMES, device=device)
    targets = torch.randint(1, VOCAB, (batch, GLOSSES), device=device)
    target_lengths = torch.full((batch,), GLOSSES, device=device)
    for i in range(warmup + steps):
        if i == warmup:
            torch.cuda.synchronize()
            start = time.perf_counter()
        with autocast(device, dtype):
            loss = model(x, lengths, targets, target_lengths).loss
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        scaler.step(opt)
        scaler.update()
    torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_RECIPE))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU here: nothing to measure (run this where one is present)")
        return 0
    cfg = load_config(args.config)
    print(
        f"{torch.cuda.get_device_name()}, torch {torch.__version__}, {cfg.name} model, batch "
        f"{args.batch_size} x {FRAMES} frames, {VOCAB} classes"
    )
    rates = {
        mode: run(cfg, mode, args.batch_size, args.steps, args.warmup) for mode in ("off", "fp16", "bf16")
    }
    for mode, rate in rates.items():
        name = {"off": "fp32", "fp16": "AMP fp16", "bf16": "bf16"}[mode]
        print(f"  {name:>8}: {rate:8.1f} sequences/s  (x{rate / rates['off']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
