"""Mixed precision choices: bf16 autocast trains on the CPU, fp16 is refused there, auto means fp32."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from cslr.config import ConfigError
from cslr.train.trainer import amp_dtype, run_training


def test_precision_per_device() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert amp_dtype("auto", cpu) is None and amp_dtype("auto", cuda) is torch.float16
    assert amp_dtype("bf16", cpu) is torch.bfloat16 and amp_dtype("off", cuda) is None
    with pytest.raises(ConfigError, match="CUDA"):
        amp_dtype("fp16", cpu)


def test_bf16_autocast_trains_on_cpu(tiny_recipe: Path, tmp_path: Path) -> None:
    fp32 = run_training(tiny_recipe, tmp_path / "fp32", {"train.epochs": 1})
    bf16 = run_training(tiny_recipe, tmp_path / "bf16", {"train.epochs": 1, "train.amp": "bf16"})
    a, b = fp32.state.history[0].train_loss, bf16.state.history[0].train_loss
    assert math.isfinite(b) and a != b and b == pytest.approx(a, rel=0.05)  # ran in bf16, same course
