"""DDP through torchrun: 2 CPU processes (gloo) on the same global batch reach the 1-process result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from cslr.train.trainer import DistInfo, prepare_model, run_training

TOLERANCE = 1e-5


def _losses(run: Path) -> list[float]:
    return [json.loads(line)["train_loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tiny_recipe: Path, tmp_path: Path) -> None:
    two = tmp_path / "two"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         "-m", "cslr", "train", str(tiny_recipe), "-o", str(two)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("best dev WER") == 1  # rank 0 alone reports
    assert done.stderr.count("epoch 1 loss") == 1  # ... and logs
    one = run_training(tiny_recipe, tmp_path / "one")

    assert len(_losses(two)) == len(_losses(one.output_dir)) == 2  # rank 0 alone writes metrics
    assert _losses(two) == pytest.approx(_losses(one.output_dir), abs=TOLERANCE)
    want = torch.load(one.output_dir / "last.pt", weights_only=True)["state_dict"]
    got = torch.load(two / "last.pt", weights_only=True)["state_dict"]
    diff = max((got[k] - v).abs().max().item() for k, v in want.items())
    assert diff < TOLERANCE, f"weights differ by {diff:.2e}"
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == [
        "ckpt-e0001-s000000008.pt",
        "ckpt-e0002-s000000016.pt",
    ]


def test_batch_norm_becomes_sync_batch_norm_only_when_distributed() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    assert isinstance(prepare_model(model, DistInfo())[1], nn.BatchNorm1d)  # type: ignore[arg-type]
    synced = prepare_model(model, DistInfo(rank=0, world=2))  # type: ignore[arg-type]
    assert isinstance(synced[1], nn.SyncBatchNorm)
