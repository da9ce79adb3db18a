"""Resumable training checkpoints: atomic writes, the newest ``keep`` kept, RNG state capture.

A training checkpoint is a model checkpoint (:mod:`cslr.model.checkpoint`: weights, config, vocabulary,
``extra``; loadable by :func:`cslr.model.checkpoint.load_checkpoint`) plus a ``train_state`` entry with
the optimizer, scheduler, grad scaler and RNG states, the epoch and the step. Files are
``checkpoints/ckpt-e<epoch>-s<step>.pt`` in the run folder; ``last.pt`` is a hard link to the newest.

Atomicity: each file is written under a temporary name in the same folder, flushed to disk (``fsync``)
and renamed over the final name, then the folder is synced. A process killed at any moment leaves either
the previous files or the new one complete, never a truncated checkpoint under a real name; a stale
``*.tmp`` left behind by a kill is ignored and removed on the next save.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_DIR = "checkpoints"
LAST_LINK = "last.pt"
_NAME = re.compile(r"^ckpt-e(\d+)-s(\d+)\.pt$")


def atomic_torch_save(obj: Any, path: Path) -> Path:
    """``torch.save`` to ``path`` through a synced temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _sync_dir(path.parent)
    return path


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class CheckpointManager:
    """Writes resumable checkpoints into ``run_dir/checkpoints`` and keeps the newest ``keep``.

    Args:
        run_dir: the training output folder.
        keep: how many resumable checkpoints to keep (the best model is ``best.pt``, kept separately).
    """

    def __init__(self, run_dir: str | Path, keep: int = 5) -> None:
        self.run_dir = Path(run_dir)
        self.folder = self.run_dir / CHECKPOINT_DIR
        self.keep = keep

    def save(self, payload: dict[str, Any], epoch: int, step: int) -> Path:
        """Write ``payload`` as the checkpoint of (``epoch``, ``step``), point ``last.pt`` at it, prune."""
        path = atomic_torch_save(payload, self.folder / f"ckpt-e{epoch:04d}-s{step:09d}.pt")
        self._link_last(path)
        self._prune()
        return path

    def checkpoints(self) -> list[Path]:
        """Resumable checkpoints, oldest first (by step)."""
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.iterdir() if _NAME.match(p.name)]
        return sorted(found, key=lambda p: int(_NAME.match(p.name).group(2)))  # type: ignore[union-attr]

    def latest(self) -> Path | None:
        """The newest checkpoint that loads, or None (a damaged file is skipped, never trusted)."""
        for path in reversed(self.checkpoints()):
            try:
                torch.load(path, map_location="cpu", weights_only=True)
            except Exception:  # torch raises assorted errors for damaged files
                continue
            return path
        return None

    def _link_last(self, path: Path) -> None:
        last = self.run_dir / LAST_LINK
        tmp = last.with_name(f".{LAST_LINK}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, last)

    def _prune(self) -> None:
        for old in self.checkpoints()[: -self.keep]:
            old.unlink(missing_ok=True)
        for stale in self.folder.glob(".*.tmp"):
            if not stale.name.endswith(f".{os.getpid()}.tmp"):
                stale.unlink(missing_ok=True)


def capture_rng() -> dict[str, Any]:
    """The Python, NumPy, torch (and CUDA) random states, as tensors and builtins (``weights_only``-safe)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    assert isinstance(keys, np.ndarray)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    random.setstate(_as_tuple(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    """Lists back to tuples, recursively (``random.setstate`` wants tuples)."""
    if isinstance(value, list | tuple):
        return tuple(_as_tuple(v) for v in value)
    return value
