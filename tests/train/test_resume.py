"""Crash safety: a training process killed with SIGKILL mid-epoch resumes from its last checkpoint and
ends with exactly the weights of a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cslr.train.checkpoints import CheckpointManager
from cslr.train.trainer import run_training

pytestmark = pytest.mark.slow
OVERRIDES = {
    "data.train_sentences": 320,  # 40 steps an epoch
    "train.epochs": 3,
    "train.save_every_steps": 10,
    "model.dropout": 0.1,  # random streams that must be restored, not just the weights
    "data.aug_jitter": 0.01,
    "data.aug_rotate_deg": 10.0,
    "data.aug_hand_dropout": 0.3,
}
STEPS_PER_EPOCH = 40
KILL_AFTER_STEP = 50  # a checkpoint inside epoch 2
TIMEOUT_S = 120.0


def _train_command(recipe: Path, out: Path, *extra: str) -> list[str]:
    sets = [a for k, v in OVERRIDES.items() for a in ("--set", f"{k}={v}")]
    return [sys.executable, "-m", "cslr", "train", str(recipe), "-o", str(out), *sets, *extra]


def _step(path: Path) -> int:
    return int(path.stem.split("-s")[1])


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tiny_recipe: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        _train_command(tiny_recipe, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    manager = CheckpointManager(out)
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not any(_step(p) >= KILL_AFTER_STEP for p in manager.checkpoints()):
            assert proc.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline, "no mid-epoch checkpoint appeared"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    latest = manager.latest()
    assert latest is not None and _step(latest) % STEPS_PER_EPOCH != 0 and _step(latest) < 3 * STEPS_PER_EPOCH

    resumed = subprocess.run(
        _train_command(tiny_recipe, out, "--resume"), capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed from {latest}" in resumed.stderr
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]
    assert _step(manager.checkpoints()[-1]) == 3 * STEPS_PER_EPOCH

    reference = run_training(tiny_recipe, tmp_path / "uninterrupted", OVERRIDES)
    assert reference.state.step == 3 * STEPS_PER_EPOCH
    want = torch.load(tmp_path / "uninterrupted" / "last.pt", weights_only=True)["state_dict"]
    got = torch.load(out / "last.pt", weights_only=True)["state_dict"]
    for name, value in want.items():
        assert torch.equal(got[name], value), f"{name} differs after resume"
