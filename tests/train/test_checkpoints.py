"""Checkpoint manager: rotation, atomic writes, damaged files skipped; RNG capture and restore."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from cslr.train.checkpoints import CheckpointManager, atomic_torch_save, capture_rng, restore_rng


def test_keeps_the_newest_and_links_last(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, keep=5)
    for step in range(1, 9):
        manager.save({"step": torch.tensor(step)}, epoch=step // 3, step=step)
    kept = manager.checkpoints()
    assert [int(p.name.split("-s")[1][:-3]) for p in kept] == [4, 5, 6, 7, 8]
    assert torch.load(tmp_path / "last.pt", weights_only=True)["step"].item() == 8
    assert manager.latest() == kept[-1]


def test_damaged_newest_file_and_stale_temporaries_are_not_trusted(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, keep=5)
    good = manager.save({"step": torch.tensor(1)}, epoch=0, step=1)
    # what a crash in a non-atomic writer would leave: a truncated file under a real name
    broken = manager.folder / "ckpt-e0000-s000000002.pt"
    broken.write_bytes(good.read_bytes()[:100])
    stale = manager.folder / ".ckpt-e0000-s000000003.pt.999999.tmp"  # a kill between write and rename
    stale.write_bytes(b"partial")
    assert manager.latest() == good
    manager.save({"step": torch.tensor(4)}, epoch=0, step=4)
    assert not stale.exists()


def test_atomic_save_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    atomic_torch_save({"a": torch.zeros(3)}, path)
    atomic_torch_save({"a": torch.ones(3)}, path)
    assert torch.load(path, weights_only=True)["a"].sum().item() == 3
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]


def test_rng_states_round_trip_through_a_checkpoint(tmp_path: Path) -> None:
    state = capture_rng()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    atomic_torch_save({"rng": state}, tmp_path / "rng.pt")
    random.random(), np.random.rand(), torch.rand(1)
    restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
