"""Checkpoints: identical outputs after a round trip, config and vocabulary restored, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cslr.config import ExperimentConfig, ModelConfig
from cslr.data.vocab import Vocabulary
from cslr.model.checkpoint import CheckpointError, default_checkpoint_path, load_checkpoint, save_checkpoint
from cslr.model.network import CSLRModel


def _saved(tmp_path: Path, temporal: str) -> tuple[Path, CSLRModel, ExperimentConfig, Vocabulary]:
    vocab = Vocabulary.build([["HELLO", "THANKYOU", "HOUSE"]])
    cfg = ExperimentConfig(
        name="t",
        model=ModelConfig(
            temporal=temporal, pose_hidden=16, hidden_size=8, num_layers=1, stride=2, vocab_size=len(vocab)
        ),
    )
    torch.manual_seed(0)
    model = CSLRModel(cfg.model).eval()
    path = save_checkpoint(tmp_path / "sub" / "m.pt", model, cfg, vocab, {"epoch": 3, "wer": 0.25})
    return path, model, cfg, vocab


@pytest.mark.parametrize("temporal", ["bilstm", "causal"])
def test_round_trip_same_outputs_config_vocab(tmp_path: Path, temporal: str) -> None:
    path, model, cfg, vocab = _saved(tmp_path, temporal)
    loaded, cfg2, vocab2, extra = load_checkpoint(path)
    assert cfg2 == cfg and vocab2 == vocab and extra == {"epoch": 3, "wer": 0.25}
    assert not loaded.training
    x, lengths = torch.randn(2, 11, 300), torch.tensor([11, 6])
    torch.testing.assert_close(loaded(x, lengths).log_probs, model(x, lengths).log_probs, rtol=0, atol=0)


def test_loads_with_weights_only(tmp_path: Path) -> None:
    path, *_ = _saved(tmp_path, "causal")
    payload = torch.load(path, weights_only=True)
    assert payload["vocab"][0] == "<blank>"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_corrupt_file(tmp_path: Path) -> None:
    path, *_ = _saved(tmp_path, "causal")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a cslr checkpoint"):
        load_checkpoint(path)


def test_default_checkpoint_loads_and_streams() -> None:
    path = default_checkpoint_path()
    assert path.name == "model.pt" and path.parent.name == "default"
    if not path.exists():
        pytest.skip("the bundled default model has not been trained yet")
    model, cfg, vocab, extra = load_checkpoint(path)
    assert set(vocab.glosses) == {"hello", "thankyou"}
    assert path.stat().st_size < 5 * 2**20
    assert model.streamable and cfg.model.temporal == "causal"
    assert "test_wer" in extra
