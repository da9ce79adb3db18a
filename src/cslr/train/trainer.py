"""Training loop: optimizer and schedule from config, AMP, clipping, dev WER, checkpoints, resume, DDP.

The loop's mutable progress lives in one :class:`TrainState`; everything else is configuration
(:class:`cslr.config.TrainConfig`).

- **Precision** (``train.amp``): ``auto`` is fp16 autocast with a ``GradScaler`` on CUDA and fp32 on the
  CPU; ``bf16`` is bf16 autocast (CPU or CUDA). bf16 pays off only on CPUs with native bf16 (AVX512-BF16,
  AMX) and changes the numbers a little, so the CPU default stays fp32: measure with
  ``bench/train_throughput.py`` and opt in.
- **Checkpoints**: resumable ones every epoch (and every ``save_every_steps`` steps) through
  :class:`cslr.train.checkpoints.CheckpointManager` (newest 5 kept, atomic writes, ``last.pt``), and
  ``best.pt`` (model only, by dev WER). ``resume`` restores model, optimizer, scheduler, scaler, RNG
  states, epoch and step, and skips the batches of the interrupted epoch that were already trained, so
  a resumed run produces the same weights as an uninterrupted one.
- **Distributed**: under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in
  ``DistributedDataParallel`` (batch norm converted to ``SyncBatchNorm``), each process reads its share
  of every global batch of ``train.batch_size`` through a ``DistributedSampler``, and only rank 0 logs,
  evaluates and writes files.
- **Metrics**: one JSON object per epoch appended to ``metrics.jsonl`` (what the training API reads),
  and a summary in ``metrics.json`` at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from cslr.config import (
    ConfigError,
    ExperimentConfig,
    TrainConfig,
    apply_overrides,
    config_to_dict,
    load_config,
    save_config,
)
from cslr.data.datasets import Augment, Batch, KeypointSequenceDataset, Sentence, build_training_data, collate
from cslr.data.rgb import VideoBatch, VideoSentence, VideoSequenceDataset, collate_video  # issue 4
from cslr.data.vocab import Vocabulary
from cslr.decode.ctc import greedy_decode
from cslr.model.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from cslr.model.inputs import frame_side  # issue 4: frame cache of real corpora
from cslr.model.network import CSLRModel
from cslr.train.checkpoints import CheckpointManager, capture_rng, restore_rng
from cslr.train.metrics import WERResult, word_error_rate

logger = logging.getLogger(__name__)

BEST_CHECKPOINT = "best.pt"
LAST_CHECKPOINT = "last.pt"
METRICS_FILE = "metrics.json"
METRICS_LOG = "metrics.jsonl"
CONFIG_FILE = "config.yaml"
EVAL_BATCH_SIZE = 64


@dataclass(frozen=True)
class EpochRecord:
    """Summary of one epoch (one line of ``metrics.jsonl``)."""

    epoch: int
    train_loss: float
    dev_wer: float | None
    lr: float
    seconds: float
    step: int = 0
    sequences_per_s: float = 0.0
    dev_counts: dict[str, int] | None = None


@dataclass
class TrainState:
    """Everything that changes while training (what a resume restores, with the module states)."""

    epoch: int = 0
    step: int = 0
    batch_in_epoch: int = 0
    best_wer: float = math.inf
    best_epoch: int = -1
    epoch_loss: float = 0.0
    history: list[EpochRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Builtins only (for checkpoints)."""
        out = dataclasses.asdict(self)
        out["best_wer"] = None if math.isinf(self.best_wer) else self.best_wer
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TrainState:
        """Inverse of :meth:`to_dict`."""
        history = [EpochRecord(**r) for r in raw.get("history", [])]
        best = raw.get("best_wer")
        return cls(
            int(raw["epoch"]),
            int(raw["step"]),
            int(raw.get("batch_in_epoch", 0)),
            math.inf if best is None else float(best),
            int(raw.get("best_epoch", -1)),
            float(raw.get("epoch_loss", 0.0)),
            history,
        )


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`run_training`."""

    output_dir: Path
    best_checkpoint: Path
    best_dev_wer: float
    test: WERResult | None
    state: TrainState
    seconds: float


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a (possibly one-process) job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs, evaluates and writes files."""
        return self.rank == 0


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


def multistep_factor(step: int, warmup: int, milestones: Sequence[int], gamma: float) -> float:
    """Warm-up, then ``gamma ** (milestones passed)``; ``milestones`` in steps."""
    if step < warmup:
        return (step + 1) / warmup
    return float(gamma ** sum(step >= m for m in milestones))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (with momentum) over all trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(
    opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int, steps_per_epoch: int = 1
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step schedule with linear warm-up: cosine (:func:`lr_factor`), multistep or constant."""
    warmup = min(cfg.warmup_steps, max(1, total_steps // 2))
    if cfg.scheduler == "multistep":
        milestones = [m * steps_per_epoch for m in cfg.milestones]
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: multistep_factor(step, warmup, milestones, cfg.gamma)
        )
    if cfg.scheduler == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / warmup))
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: lr_factor(step, warmup, total_steps, cfg.min_lr_ratio)
    )


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``train.amp`` on ``device`` (None: full precision)."""
    if mode == "auto":
        return torch.float16 if device.type == "cuda" else None
    if mode == "fp16":
        if device.type != "cuda":
            raise ConfigError("train.amp=fp16 needs a CUDA device; use bf16 or off on the CPU")
        return torch.float16
    return torch.bfloat16 if mode == "bf16" else None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` for ``dtype``, or a no-op context when it is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def greedy_glosses(log_probs: torch.Tensor, out_lengths: torch.Tensor, vocab: Vocabulary) -> list[list[str]]:
    """Greedy-decode a batch of ``log_probs`` ``(T', B, V)`` with lengths ``(B,)`` into gloss lists."""
    lp = log_probs.detach().float().cpu().numpy()
    return [
        vocab.decode(greedy_decode(lp[: int(n), b]).token_ids) for b, n in enumerate(out_lengths.tolist())
    ]


@torch.no_grad()
def transcribe(
    model: torch.nn.Module,
    loader: DataLoader,
    vocab: Vocabulary,
    device: torch.device,
    dtype: torch.dtype | None = None,
) -> tuple[list[list[str]], list[list[str]]]:
    """References and greedy hypotheses over ``loader`` (model put in eval mode)."""
    model.eval()
    refs: list[list[str]] = []
    hyps: list[list[str]] = []
    for batch in loader:
        batch = batch.to(device)
        with autocast(device, dtype):
            out = model(batch.features, batch.lengths, **model_inputs(batch))  # issue 4: frames, boxes
        hyps += greedy_glosses(out.log_probs, out.out_lengths, vocab)
        refs += [
            vocab.decode(t[: int(n)].tolist())
            for t, n in zip(batch.targets, batch.target_lengths, strict=True)
        ]
    return refs, hyps


def evaluate(
    model: torch.nn.Module,
    loader: DataLoader,
    vocab: Vocabulary,
    device: torch.device,
    dtype: torch.dtype | None = None,
) -> WERResult:
    """Corpus WER of greedy decoding over ``loader``."""
    return word_error_rate(*transcribe(model, loader, vocab, device, dtype))


class ResumableSampler(DistributedSampler):
    """A ``DistributedSampler`` (one process: the whole dataset) that can start an epoch part-way.

    ``set_epoch(epoch, skip)`` reshuffles with ``seed + epoch`` and drops this rank's first ``skip``
    indices (the batches already trained before an interruption).
    """

    def __init__(self, dataset: Any, dist_info: DistInfo, seed: int) -> None:
        super().__init__(dataset, dist_info.world, dist_info.rank, shuffle=True, seed=seed)
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        super().set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.skip :])

    def __len__(self) -> int:
        return max(0, super().__len__() - self.skip)


class Trainer:
    """Fits one model on one train / dev split and keeps the best checkpoint by dev WER.

    Args:
        cfg: the experiment (its ``model.vocab_size`` must match ``vocab``).
        model: the network to train (wrapped in DDP here when ``dist_info.world > 1``).
        vocab: gloss vocabulary (saved in checkpoints).
        train_data: training sentences per epoch (``train_for_epoch``) or one fixed list.
        dev_loader: loader of dev :class:`Batch` es (used on rank 0 only).
        output_dir: where checkpoints and metrics go.
        device: where to train.
        dist_info: this process's rank and the world size.
    """

    def __init__(
        self,
        cfg: ExperimentConfig,
        model: CSLRModel,
        vocab: Vocabulary,
        train_data: Any,
        dev_loader: DataLoader,
        output_dir: Path,
        device: torch.device,
        dist_info: DistInfo | None = None,
    ) -> None:
        self.cfg, self.vocab, self.device = cfg, vocab, device
        self.dist = dist_info or DistInfo()
        self.model = model.to(device)
        self.net: torch.nn.Module = self.model
        if self.dist.world > 1:
            self.net = DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None
            )
        self.train_data, self.dev_loader, self.output_dir = train_data, dev_loader, output_dir
        self.augment = Augment.from_config(cfg.data)
        self.per_rank_batch = cfg.train.batch_size // self.dist.world
        self.steps_per_epoch = math.ceil(self._epoch_sentence_count() / cfg.train.batch_size)
        self.optimizer = make_optimizer(self.model, cfg.train)
        self.scheduler = make_scheduler(
            self.optimizer, cfg.train, cfg.train.epochs * self.steps_per_epoch, self.steps_per_epoch
        )
        self.dtype = amp_dtype(cfg.train.amp, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.dtype == torch.float16)
        self.checkpoints = CheckpointManager(output_dir, cfg.train.keep_checkpoints)
        self.state = TrainState()
        self._loader_for: tuple[Sequence[Any], DataLoader] | None = None  # built for these sentences

    # ----------------------------------------------------------------------------------- the loop

    def fit(self) -> TrainState:
        """Train until ``cfg.train.epochs`` epochs are done (or dev WER <= ``stop_wer``)."""
        tc = self.cfg.train
        for epoch in range(self.state.epoch, tc.epochs):
            start, sequences = time.perf_counter(), self.train_epoch(epoch)
            seconds = time.perf_counter() - start
            result = None
            if (epoch + 1) % tc.eval_every == 0 or epoch + 1 == tc.epochs:
                result = self._dev_result()
            self.state.epoch, self.state.batch_in_epoch = epoch + 1, 0
            record = EpochRecord(
                epoch + 1,
                self.state.epoch_loss,
                None if result is None else result.wer,
                float(self.scheduler.get_last_lr()[0]),
                round(time.perf_counter() - start, 3),
                self.state.step,
                round(sequences / max(seconds, 1e-9), 2),
                None if result is None else _counts(result),
            )
            self._record(record)
            wer = record.dev_wer
            if wer is not None and tc.stop_wer is not None and wer <= tc.stop_wer:
                logger.info("dev WER %.4f <= stop_wer %.4f: stopping", wer, tc.stop_wer)
                break
        return self.state

    def train_epoch(self, epoch: int) -> int:
        """Train the rest of epoch ``epoch`` (from ``state.batch_in_epoch``); returns sequences seen
        (all processes). The mean loss is kept in ``state.epoch_loss``."""
        self.net.train()
        loader = self._loader(epoch)
        total = self.state.epoch_loss * self.state.batch_in_epoch
        sequences, batches = 0, self.state.batch_in_epoch + len(loader)
        for batch in loader:
            loss = self.train_step(batch.to(self.device))
            self.state.batch_in_epoch += 1
            total += loss
            self.state.epoch_loss = total / self.state.batch_in_epoch
            sequences += len(batch.lengths) * self.dist.world
            every = self.cfg.train.save_every_steps
            if every and self.state.step % every == 0 and self.state.batch_in_epoch < batches:
                self.save_resumable()
        return sequences

    def train_step(self, batch: Batch | VideoBatch) -> float:
        """Forward (autocast), backward (scaled for fp16), unscale, clip, step; returns the batch loss."""
        with autocast(self.device, self.dtype):
            out = self.net(
                batch.features, batch.lengths, batch.targets, batch.target_lengths, **model_inputs(batch)
            )  # issue 4: frames and boxes of a VideoBatch
        assert out.loss is not None
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(out.loss).backward()
        if self.cfg.train.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        scale = self.scaler.get_scale()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scaler.get_scale() >= scale:  # fp16 lowers the scale when it skips a step (inf gradients)
            self.scheduler.step()  # so the schedule follows the optimizer steps really taken
        self.state.step += 1
        loss = out.loss.detach()
        if self.dist.world > 1:
            dist.all_reduce(loss)
            loss /= self.dist.world
        return float(loss)

    # ------------------------------------------------------------------------------- checkpoints

    def save(self, name: str) -> Path:
        """Write a model-only checkpoint ``output_dir / name`` with the train state summary in ``extra``."""
        extra = {"epoch": self.state.epoch, "step": self.state.step, "best_dev_wer": self.state.best_wer}
        return save_checkpoint(self.output_dir / name, self.model, self.cfg, self.vocab, extra)

    def save_resumable(self) -> Path | None:
        """Write a resumable checkpoint (rank 0; every rank's RNG state is gathered into it)."""
        rng = [capture_rng()]
        if self.dist.world > 1:
            rng = [None] * self.dist.world  # type: ignore[list-item]
            dist.all_gather_object(rng, capture_rng())
        if not self.dist.is_main:
            return None
        payload = {
            "format": CHECKPOINT_FORMAT,
            "config": config_to_dict(self.cfg),
            "vocab": self.vocab.to_list(),
            "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "extra": {"epoch": self.state.epoch, "step": self.state.step},
            "train_state": {
                "state": self.state.to_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": rng,
                "world": self.dist.world,
            },
        }
        return self.checkpoints.save(payload, self.state.epoch, self.state.step)

    def resume(self, path: Path) -> None:
        """Restore everything from a resumable checkpoint written by :meth:`save_resumable`."""
        payload = torch.load(path, map_location=self.device, weights_only=True)
        if "train_state" not in payload:
            raise ValueError(f"{path} is a model checkpoint without training state; cannot resume from it")
        saved = payload["config"]
        if saved["model"] != config_to_dict(self.cfg)["model"]:
            raise ValueError(f"{path}: the model config differs from the one being trained")
        ts = payload["train_state"]
        self.model.load_state_dict(payload["state_dict"])
        self.optimizer.load_state_dict(ts["optimizer"])
        self.scheduler.load_state_dict(ts["scheduler"])
        self.scaler.load_state_dict(ts["scaler"])
        rng = ts["rng"]
        restore_rng(rng[self.dist.rank] if len(rng) == self.dist.world else rng[0])
        self.state = TrainState.from_dict(ts["state"])
        if self.dist.is_main:
            _rewrite_metrics_log(self.output_dir / METRICS_LOG, self.state.history)
        logger.info("resumed from %s: epoch %d, step %d", path, self.state.epoch, self.state.step)

    # ---------------------------------------------------------------------------------- helpers

    def _epoch_sentence_count(self) -> int:
        return len(self._sentences(0))

    def _sentences(self, epoch: int) -> Sequence[Sentence]:
        if hasattr(self.train_data, "train_for_epoch"):
            sentences: Sequence[Sentence] = self.train_data.train_for_epoch(self.cfg.data, epoch)
            return sentences
        return self.train_data

    def _loader(self, epoch: int) -> DataLoader:
        """This rank's loader for ``epoch``, starting after the batches already trained. The dataset is
        built again only when the epoch's sentences change (re-stitched ones), not every epoch."""
        sentences = self._sentences(epoch)
        if self._loader_for is None or self._loader_for[0] is not sentences:
            dataset, collate_fn = model_dataset(sentences, self.vocab, self.cfg, self.augment)
            workers = self.cfg.train.num_workers
            sampler = ResumableSampler(dataset, self.dist, self.cfg.train.seed)
            # its own generator: a loader iterator started after a resume must not draw from the global one
            loader = DataLoader(
                dataset,
                batch_size=self.per_rank_batch,
                sampler=sampler,
                collate_fn=collate_fn,
                generator=torch.Generator().manual_seed(self.cfg.train.seed),
                num_workers=workers,
                persistent_workers=workers > 0,
                pin_memory=self.device.type == "cuda",
            )
            self._loader_for = (sentences, loader)
        loader = self._loader_for[1]
        assert isinstance(loader.sampler, ResumableSampler)
        loader.sampler.set_epoch(epoch, self.state.batch_in_epoch * self.per_rank_batch)
        return loader

    def _dev_result(self) -> WERResult | None:
        """Dev WER on rank 0, shared with every rank."""
        result = None
        if self.dist.is_main:
            result = evaluate(self.model, self.dev_loader, self.vocab, self.device, self.dtype)
        if self.dist.world > 1:
            box = [result]
            dist.broadcast_object_list(box, src=0)
            result = box[0]
        return result

    def _record(self, record: EpochRecord) -> None:
        """Log an epoch (rank 0), keep the best model and a resumable checkpoint."""
        self.state.history.append(record)
        self.state.epoch_loss = 0.0
        improved = record.dev_wer is not None and record.dev_wer < self.state.best_wer
        if improved:
            self.state.best_wer, self.state.best_epoch = record.dev_wer, record.epoch  # type: ignore[assignment]
        if self.dist.is_main:
            dev = "-" if record.dev_wer is None else f"{record.dev_wer:.4f}"
            logger.info(
                "epoch %d loss %.4f dev WER %s lr %.2e (%.1fs, %.1f seq/s, step %d)",
                record.epoch,
                record.train_loss,
                dev,
                record.lr,
                record.seconds,
                record.sequences_per_s,
                record.step,
            )
            with (self.output_dir / METRICS_LOG).open("a") as fh:
                fh.write(json.dumps(dataclasses.asdict(record)) + "\n")
            if improved:
                self.save(BEST_CHECKPOINT)
        self.save_resumable()


def _counts(result: WERResult) -> dict[str, int]:
    return {
        "substitutions": result.substitutions,
        "deletions": result.deletions,
        "insertions": result.insertions,
        "reference": result.num_reference,
    }


def _rewrite_metrics_log(path: Path, history: Sequence[EpochRecord]) -> None:
    """``metrics.jsonl`` as of a resumed checkpoint (epochs trained after it are dropped)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(dataclasses.asdict(r)) + "\n" for r in history))
    os.replace(tmp, path)


def resolve_device(name: str) -> torch.device:
    """``"auto"`` picks CUDA when available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def init_distributed(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the ``torchrun`` process group when ``WORLD_SIZE`` > 1 (NCCL on CUDA, else gloo)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world, local_rank), device


def prepare_model(model: CSLRModel, dist_info: DistInfo) -> CSLRModel:
    """``SyncBatchNorm`` in place of batch norm when training on several processes."""
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if dist_info.world > 1 and has_bn:
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def make_loader(
    sentences: Sequence[Sentence],
    vocab: Vocabulary,
    batch_size: int,
    seed: int | None,
    cfg: ExperimentConfig | None = None,
) -> DataLoader:
    """A loader of padded :class:`Batch` es (:class:`VideoBatch` es for video sentences, with the ROIs
    of ``cfg.model``); shuffled (seeded) when ``seed`` is given."""
    dataset, collate_fn = model_dataset(sentences, vocab, cfg)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=seed is not None, collate_fn=collate_fn, generator=generator
    )


# --- issue 4: video sentences (RGB-only and fused models) ---
def model_dataset(
    sentences: Sequence[Any], vocab: Vocabulary, cfg: ExperimentConfig | None, augment: Augment | None = None
) -> tuple[Any, Any]:
    """Dataset and collate function for ``sentences``: keypoint :class:`Sentence` s, or
    :class:`VideoSentence` s (frames too, rendered or memory-mapped from a corpus's frame cache; the
    keypoint augmentation does not apply to them)."""
    if sentences and isinstance(sentences[0], VideoSentence):
        rois = cfg.model.rgb_rois if cfg is not None else ()
        return VideoSequenceDataset(sentences, vocab, rois), collate_video
    return KeypointSequenceDataset.from_sentences(sentences, vocab, augment), collate


def model_inputs(batch: Batch | VideoBatch) -> dict[str, torch.Tensor | None]:
    """Keyword inputs of the model beside the pose features: frames and boxes of a :class:`VideoBatch`."""
    return batch.model_inputs() if isinstance(batch, VideoBatch) else {}


# --- end issue 4 ---


def train_experiment(
    cfg: ExperimentConfig, output_dir: str | Path, resume: str | Path | None = None
) -> TrainResult:
    """Build data and model from ``cfg``, train (resuming when asked), then score the best checkpoint on
    the test split.

    Args:
        cfg: the recipe.
        output_dir: run folder (checkpoints, ``metrics.jsonl``, ``config.yaml``).
        resume: a resumable checkpoint, or ``"latest"`` for the newest one in ``output_dir`` (a fresh
            start when there is none).
    """
    start = time.perf_counter()
    output_dir = Path(output_dir)
    device = resolve_device(cfg.train.device)
    dist_info, device = init_distributed(device)
    if cfg.train.batch_size % dist_info.world:
        raise ConfigError(
            f"train.batch_size {cfg.train.batch_size} must divide by {dist_info.world} processes"
        )
    if cfg.train.num_threads > 0:
        torch.set_num_threads(cfg.train.num_threads)
    seed_everything(cfg.train.seed)
    data = build_training_data(cfg.data, frame_side(cfg.model))  # issue 4: frames for an RGB stream
    vocab = Vocabulary.build(s.glosses for s in (*data.train, *data.dev, *data.test))  # closed vocabulary
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, vocab_size=len(vocab)))
    if dist_info.is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, output_dir / CONFIG_FILE)
    model = prepare_model(CSLRModel(cfg.model), dist_info)
    torch.manual_seed(cfg.train.seed + dist_info.rank)  # per-rank dropout / augmentation streams
    dev_loader = make_loader(data.dev, vocab, EVAL_BATCH_SIZE, None, cfg)  # issue 4: cfg for the ROIs
    trainer = Trainer(cfg, model, vocab, data, dev_loader, output_dir, device, dist_info)
    checkpoint = _resume_path(trainer, resume)
    if checkpoint is not None:
        trainer.resume(checkpoint)
    elif dist_info.is_main:
        (output_dir / METRICS_LOG).unlink(missing_ok=True)
    state = trainer.fit()
    best = output_dir / BEST_CHECKPOINT
    test_result = None
    if dist_info.is_main and data.test and best.exists():
        test_result = score_test(best, data.test, device)
    result = TrainResult(output_dir, best, state.best_wer, test_result, state, time.perf_counter() - start)
    if dist_info.is_main:
        _write_metrics(result)
    if dist_info.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return result


def _resume_path(trainer: Trainer, resume: str | Path | None) -> Path | None:
    if resume is None:
        return None
    if str(resume) == "latest":
        latest = trainer.checkpoints.latest()
        if latest is None:
            logger.info("no checkpoint in %s: starting from scratch", trainer.output_dir)
        return latest
    return Path(resume)


def score_test(checkpoint: Path, test: Sequence[Sentence], device: torch.device) -> WERResult:
    """Greedy WER of ``checkpoint`` on ``test``; also stored in the checkpoint's ``extra``."""
    model, cfg, vocab, extra = load_checkpoint(checkpoint, map_location=device)
    result = evaluate(model, make_loader(test, vocab, EVAL_BATCH_SIZE, None, cfg), vocab, device)
    extra.update(test_wer=result.wer, test_counts=dataclasses.asdict(result), test_sentences=len(test))
    save_checkpoint(checkpoint, model, cfg, vocab, extra)
    return result


def run_training(
    config_path: str | Path,
    output_dir: str | Path,
    overrides: Mapping[str, Any] | None = None,
    resume: str | Path | None = None,
) -> TrainResult:
    """Entry point of ``cslr train``: load a YAML recipe, apply dotted-key overrides, train."""
    cfg = apply_overrides(load_config(config_path), overrides)
    return train_experiment(cfg, output_dir, resume)


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
