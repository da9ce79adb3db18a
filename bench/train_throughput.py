"""Training throughput (sequences/s) of a recipe on this CPU, fp32 against bf16 autocast.

    CSLR_SHARED_DATA=../shared/data .venv/bin/python bench/train_throughput.py [configs/asl-default.yaml]

Builds the recipe's training sentences (default: the bundled model's recipe, ISLR clips stitched into
sentences), then times full training steps (forward, CTC loss, backward, clipping, AdamW step) over the
same batches for each precision, after warm-up steps. Augmentation is applied as the recipe says.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import platform
import time
from pathlib import Path

import torch

from cslr.config import apply_overrides, load_config
from cslr.data.datasets import build_training_data
from cslr.data.vocab import Vocabulary
from cslr.model.network import CSLRModel
from cslr.train.trainer import Trainer, make_loader, seed_everything

DEFAULT_RECIPE = Path(__file__).resolve().parents[1] / "configs" / "asl-default.yaml"


def measure(cfg, data, vocab, amp: str, steps: int, warmup: int) -> float:  # type: ignore[no-untyped-def]
    """Sequences per second over ``steps`` training steps after ``warmup`` steps."""
    seed_everything(0)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, amp=amp))
    dev = make_loader(data.dev[:8], vocab, 8, None)
    trainer = Trainer(
        cfg, CSLRModel(cfg.model), vocab, data, dev, Path("/tmp/cslr-bench"), torch.device("cpu")
    )
    batches = list(itertools.islice(iter(trainer._loader(0)), warmup + steps))
    trainer.net.train()
    for batch in batches[:warmup]:
        trainer.train_step(batch)
    start = time.perf_counter()
    for batch in batches[warmup:]:
        trainer.train_step(batch)
    return sum(len(b.lengths) for b in batches[warmup:]) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(DEFAULT_RECIPE))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="default: the recipe's num_threads")
    args = parser.parse_args()
    cfg = load_config(args.config)
    cfg = apply_overrides(
        cfg, {"data.train_sentences": 16 * (args.steps + args.warmup), "data.restitch": False}
    )
    torch.set_num_threads(args.threads or cfg.train.num_threads or torch.get_num_threads())
    data = build_training_data(cfg.data)
    vocab = Vocabulary.build(s.glosses for s in (*data.train, *data.dev, *data.test))
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, vocab_size=len(vocab)))
    frames = sum(len(s.keypoints) for s in data.train) / len(data.train)
    print(
        f"{cfg.name}: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), batch {cfg.train.batch_size}, {frames:.0f} frames/sentence"
    )
    for amp in ("off", "bf16"):
        rate = measure(cfg, data, vocab, amp, args.steps, args.warmup)
        print(f"  {'fp32' if amp == 'off' else amp:>5}: {rate:7.1f} sequences/s")


if __name__ == "__main__":
    main()
