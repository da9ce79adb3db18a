"""Training loop: AdamW/Adam, gradient clipping, warm-up + cosine schedule, dev WER, best checkpoint.

The loop's mutable progress lives in one :class:`TrainState`; everything else is configuration
(:class:`cslr.config.TrainConfig`). Mixed precision, distributed training and resuming are planned as
extensions of :class:`Trainer` (hooks: :meth:`Trainer.train_step`, :meth:`Trainer.save`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from cslr.config import ExperimentConfig, TrainConfig, apply_overrides, load_config, save_config
from cslr.data.datasets import Batch, KeypointSequenceDataset, Sentence, build_splits, collate
from cslr.data.vocab import Vocabulary
from cslr.decode.ctc import greedy_decode
from cslr.model.checkpoint import load_checkpoint, save_checkpoint
from cslr.model.network import CSLRModel
from cslr.train.metrics import WERResult, word_error_rate

logger = logging.getLogger(__name__)

BEST_CHECKPOINT = "best.pt"
LAST_CHECKPOINT = "last.pt"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.yaml"
EVAL_BATCH_SIZE = 64


@dataclass(frozen=True)
class EpochRecord:
    """Summary of one epoch."""

    epoch: int
    train_loss: float
    dev_wer: float | None
    lr: float
    seconds: float


@dataclass
class TrainState:
    """Everything that changes while training (the part a resume would restore)."""

    epoch: int = 0
    step: int = 0
    best_wer: float = math.inf
    best_epoch: int = -1
    history: list[EpochRecord] = field(default_factory=list)


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`run_training`."""

    output_dir: Path
    best_checkpoint: Path
    best_dev_wer: float
    test: WERResult | None
    state: TrainState
    seconds: float


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Learning-rate multiplier: linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam or AdamW over all trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(
    opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step warm-up + cosine schedule (see :func:`lr_factor`)."""
    warmup = min(cfg.warmup_steps, max(1, total_steps // 2))
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: lr_factor(step, warmup, total_steps, cfg.min_lr_ratio)
    )


def greedy_glosses(log_probs: torch.Tensor, out_lengths: torch.Tensor, vocab: Vocabulary) -> list[list[str]]:
    """Greedy-decode a batch of ``log_probs`` ``(T', B, V)`` with lengths ``(B,)`` into gloss lists."""
    lp = log_probs.detach().float().cpu().numpy()
    return [
        vocab.decode(greedy_decode(lp[: int(n), b]).token_ids) for b, n in enumerate(out_lengths.tolist())
    ]


@torch.no_grad()
def evaluate(model: CSLRModel, loader: DataLoader, vocab: Vocabulary, device: torch.device) -> WERResult:
    """Corpus WER of greedy decoding over ``loader`` (model put in eval mode)."""
    model.eval()
    refs: list[list[str]] = []
    hyps: list[list[str]] = []
    for batch in loader:
        batch = batch.to(device)
        out = model(batch.features, batch.lengths)
        hyps += greedy_glosses(out.log_probs, out.out_lengths, vocab)
        refs += [
            vocab.decode(t[: int(n)].tolist())
            for t, n in zip(batch.targets, batch.target_lengths, strict=True)
        ]
    return word_error_rate(refs, hyps)


class Trainer:
    """Fits one model on one train / dev split and keeps the best checkpoint by dev WER.

    Args:
        cfg: the experiment (its ``model.vocab_size`` must match ``vocab``).
        model: the network to train.
        vocab: gloss vocabulary (saved in checkpoints).
        train_loader, dev_loader: loaders yielding :class:`Batch`.
        output_dir: where ``best.pt`` and ``last.pt`` go.
        device: where to train.
    """

    def __init__(
        self,
        cfg: ExperimentConfig,
        model: CSLRModel,
        vocab: Vocabulary,
        train_loader: DataLoader,
        dev_loader: DataLoader,
        output_dir: Path,
        device: torch.device,
    ) -> None:
        self.cfg, self.model, self.vocab = cfg, model.to(device), vocab
        self.train_loader, self.dev_loader = train_loader, dev_loader
        self.output_dir, self.device = output_dir, device
        self.optimizer = make_optimizer(model, cfg.train)
        self.scheduler = make_scheduler(self.optimizer, cfg.train, cfg.train.epochs * len(train_loader))
        self.state = TrainState()

    def fit(self) -> TrainState:
        """Train for ``cfg.train.epochs`` epochs (or until dev WER <= ``stop_wer``)."""
        tc = self.cfg.train
        for epoch in range(self.state.epoch, tc.epochs):
            start = time.perf_counter()
            loss = self.train_epoch()
            wer = None
            if (epoch + 1) % tc.eval_every == 0 or epoch + 1 == tc.epochs:
                wer = evaluate(self.model, self.dev_loader, self.vocab, self.device).wer
            self.state.epoch = epoch + 1
            self._record(
                EpochRecord(
                    epoch + 1, loss, wer, float(self.scheduler.get_last_lr()[0]), time.perf_counter() - start
                )
            )
            if wer is not None and tc.stop_wer is not None and wer <= tc.stop_wer:
                logger.info("dev WER %.4f <= stop_wer %.4f: stopping", wer, tc.stop_wer)
                break
        return self.state

    def train_epoch(self) -> float:
        """One pass over the training data; returns the mean loss."""
        self.model.train()
        total, batches = 0.0, 0
        for batch in self.train_loader:
            total += self.train_step(batch.to(self.device))
            batches += 1
        return total / max(1, batches)

    def train_step(self, batch: Batch) -> float:
        """Forward, backward, clip, step; returns the batch loss."""
        out = self.model(batch.features, batch.lengths, batch.targets, batch.target_lengths)
        assert out.loss is not None
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        if self.cfg.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.state.step += 1
        return float(out.loss.detach())

    def save(self, name: str) -> Path:
        """Write a checkpoint ``output_dir / name`` with the train state in ``extra``."""
        extra = {"epoch": self.state.epoch, "step": self.state.step, "best_dev_wer": self.state.best_wer}
        return save_checkpoint(self.output_dir / name, self.model, self.cfg, self.vocab, extra)

    def _record(self, record: EpochRecord) -> None:
        """Log an epoch, keep the best checkpoint and the latest one."""
        self.state.history.append(record)
        dev = "-" if record.dev_wer is None else f"{record.dev_wer:.4f}"
        logger.info(
            "epoch %d loss %.4f dev WER %s lr %.2e (%.1fs)",
            record.epoch,
            record.train_loss,
            dev,
            record.lr,
            record.seconds,
        )
        if record.dev_wer is not None and record.dev_wer < self.state.best_wer:
            self.state.best_wer, self.state.best_epoch = record.dev_wer, record.epoch
            self.save(BEST_CHECKPOINT)
        self.save(LAST_CHECKPOINT)


def resolve_device(name: str) -> torch.device:
    """``"auto"`` picks CUDA when available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_loader(
    sentences: Sequence[Sentence], vocab: Vocabulary, batch_size: int, seed: int | None
) -> DataLoader:
    """A loader of padded :class:`Batch` es; shuffled (seeded) when ``seed`` is given."""
    dataset = KeypointSequenceDataset.from_sentences(sentences, vocab)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=seed is not None, collate_fn=collate, generator=generator
    )


def train_experiment(cfg: ExperimentConfig, output_dir: str | Path) -> TrainResult:
    """Build data and model from ``cfg``, train, then score the best checkpoint on the test split."""
    start = time.perf_counter()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if cfg.train.num_threads > 0:
        torch.set_num_threads(cfg.train.num_threads)
    seed_everything(cfg.train.seed)
    train, dev, test = build_splits(cfg.data)
    vocab = Vocabulary.build(s.glosses for s in (*train, *dev, *test))  # closed vocabulary
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, vocab_size=len(vocab)))
    save_config(cfg, output_dir / CONFIG_FILE)
    device = resolve_device(cfg.train.device)
    trainer = Trainer(
        cfg,
        CSLRModel(cfg.model),
        vocab,
        make_loader(train, vocab, cfg.train.batch_size, cfg.train.seed),
        make_loader(dev, vocab, EVAL_BATCH_SIZE, None),
        output_dir,
        device,
    )
    state = trainer.fit()
    best = output_dir / BEST_CHECKPOINT
    test_result = score_test(best, test, device) if test else None
    result = TrainResult(output_dir, best, state.best_wer, test_result, state, time.perf_counter() - start)
    _write_metrics(result)
    return result


def score_test(checkpoint: Path, test: Sequence[Sentence], device: torch.device) -> WERResult:
    """Greedy WER of ``checkpoint`` on ``test``; also stored in the checkpoint's ``extra``."""
    model, cfg, vocab, extra = load_checkpoint(checkpoint, map_location=device)
    result = evaluate(model, make_loader(test, vocab, EVAL_BATCH_SIZE, None), vocab, device)
    extra.update(test_wer=result.wer, test_counts=dataclasses.asdict(result), test_sentences=len(test))
    save_checkpoint(checkpoint, model, cfg, vocab, extra)
    return result


def run_training(
    config_path: str | Path, output_dir: str | Path, overrides: Mapping[str, Any] | None = None
) -> TrainResult:
    """Entry point of ``cslr train``: load a YAML recipe, apply dotted-key overrides, train."""
    cfg = apply_overrides(load_config(config_path), overrides)
    return train_experiment(cfg, output_dir)


def _write_metrics(result: TrainResult) -> None:
    """``metrics.json``: per-epoch history, best dev WER and test counts."""
    test = None
    if result.test is not None:
        test = {**dataclasses.asdict(result.test), "wer": result.test.wer}
    payload = {
        "best_dev_wer": result.best_dev_wer,
        "best_epoch": result.state.best_epoch,
        "test": test,
        "seconds": round(result.seconds, 1),
        "history": [dataclasses.asdict(r) for r in result.state.history],
    }
    (result.output_dir / METRICS_FILE).write_text(json.dumps(payload, indent=2))
