"""Training: schedule, a short run that writes checkpoints, and the key end-to-end synthetic test."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

from cslr.cli import main
from cslr.model.checkpoint import load_checkpoint
from cslr.train.trainer import lr_factor, run_training

REPO = Path(__file__).resolve().parents[2]
SYNTH_TINY = REPO / "configs" / "synth-tiny.yaml"
TARGET_WER = 0.05
CPU_BUDGET_S = 120.0


def test_lr_schedule_warms_up_then_decays() -> None:
    factors = [lr_factor(s, warmup=10, total=100, min_ratio=0.1) for s in range(100)]
    assert factors[0] < factors[5] < factors[9] == 1.0
    assert all(a >= b for a, b in itertools.pairwise(factors[9:]))
    assert factors[-1] == pytest.approx(0.1, abs=0.01)


def test_short_run_writes_checkpoints_and_metrics(tmp_path: Path) -> None:
    overrides = {
        "train.epochs": 2,
        "data.train_sentences": 24,
        "data.dev_sentences": 8,
        "data.test_sentences": 8,
        "train.stop_wer": None,
    }
    result = run_training(SYNTH_TINY, tmp_path, overrides)
    assert result.state.epoch == 2 and len(result.state.history) == 2 and result.state.step > 0
    assert (tmp_path / "best.pt").exists() and (tmp_path / "last.pt").exists()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"] is not None and len(metrics["history"]) == 2
    _, cfg, vocab, extra = load_checkpoint(tmp_path / "best.pt")
    assert cfg.train.epochs == 2 and cfg.model.vocab_size == len(vocab) == 11 and extra["epoch"] >= 1


def test_cli_train(tmp_path: Path) -> None:
    code = main(
        [
            "train",
            str(SYNTH_TINY),
            "-o",
            str(tmp_path),
            "--set",
            "train.epochs=1",
            "--set",
            "data.train_sentences=8",
            "--set",
            "data.dev_sentences=4",
            "--set",
            "data.test_sentences=4",
        ]
    )
    assert code == 0 and (tmp_path / "best.pt").exists()
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2


@pytest.mark.slow
def test_learns_synthetic_signer_from_scratch(tmp_path: Path) -> None:
    """THE key test: a tiny model trained from scratch recognises held-out synthetic sentences."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run_training(SYNTH_TINY, tmp_path)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert result.test is not None
    assert result.test.num_reference > 200
    assert result.test.wer <= TARGET_WER, f"test WER {result.test.wer:.3f} > {TARGET_WER}"
    assert cpu < CPU_BUDGET_S, f"took {cpu:.0f}s of CPU (wall {wall:.0f}s)"


def test_loader_worker_processes_give_the_same_training(tiny_recipe: Path, tmp_path: Path) -> None:
    """``train.num_workers`` moves batch reading to worker processes without changing the batches."""
    inline = run_training(tiny_recipe, tmp_path / "inline", {"train.epochs": 2})
    workers = run_training(tiny_recipe, tmp_path / "workers", {"train.epochs": 2, "train.num_workers": 2})
    assert [r.train_loss for r in workers.state.history] == [r.train_loss for r in inline.state.history]
    assert workers.state.step == inline.state.step > 0
