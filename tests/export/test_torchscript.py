"""TorchScript export: the traced file equals PyTorch at several lengths, and chunk by chunk when causal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cslr.cli import main
from cslr.export.graphs import initial_state
from cslr.export.parity import ATOL, ParityError, as_tensors, random_inputs, torch_log_probs
from cslr.export.torchscript import export_torchscript, load_torchscript, verify_torchscript
from cslr.model.network import CSLRModel
from tests.export.conftest import VOCAB, tiny_model


def test_export_matches_torch_at_several_lengths(model: CSLRModel, tmp_path: Path) -> None:
    result = export_torchscript(model, VOCAB, tmp_path / "m.ts.pt")
    assert result.parity.worst < ATOL
    module, vocab = load_torchscript(result.path)
    assert vocab == VOCAB
    with torch.inference_mode():
        for frames in (2, 33, 64, 180):  # other lengths than the trace example (7)
            x = random_inputs(model.cfg, frames, seed=5)
            got = module(as_tensors(x)["features"]).numpy()
            assert got.shape == (-(-frames // model.cfg.stride), 1, len(VOCAB))
            np.testing.assert_allclose(got, torch_log_probs(model, x), atol=ATOL)


def test_causal_export_has_forward_chunk_with_state(tmp_path: Path) -> None:
    model = tiny_model("causal", stride=2)
    result = export_torchscript(model, VOCAB, tmp_path / "m.ts.pt")
    assert result.parity.chunk_max_abs_diff is not None
    module, _ = load_torchscript(result.path)
    x = random_inputs(model.cfg, 70, seed=1)
    features = as_tensors(x)["features"]
    h, c = initial_state(model)
    pieces = []
    with torch.inference_mode():
        for start in range(0, 70, 12):  # 12 is a multiple of the stride; the last chunk (10) is partial
            log_probs, h, c = module.forward_chunk(features[:, start : start + 12], h, c)
            pieces.append(log_probs.numpy())
    np.testing.assert_allclose(np.concatenate(pieces), torch_log_probs(model, x), atol=ATOL)
    assert h.shape == c.shape == (model.cfg.num_layers, 1, model.cfg.hidden_size)


def test_bidirectional_export_has_no_forward_chunk(tmp_path: Path) -> None:
    module, _ = load_torchscript(export_torchscript(tiny_model("bilstm"), VOCAB, tmp_path / "m.ts.pt").path)
    assert not hasattr(module, "forward_chunk")


def test_verification_catches_a_wrong_export(tmp_path: Path) -> None:
    path = export_torchscript(tiny_model("bilstm", seed=0), VOCAB, tmp_path / "m.ts.pt").path
    with pytest.raises(ParityError):
        verify_torchscript(tiny_model("bilstm", seed=1), path)


def test_cli_export_torchscript(
    causal_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.ts.pt"
    assert main(["export", "torchscript", str(causal_checkpoint), "-o", str(out)]) == 0
    assert out.is_file()
    assert "chunked" in capsys.readouterr().out
