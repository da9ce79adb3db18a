"""The network: shapes, no NaN, gradients everywhere, causal chunking equals the full sequence."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from cslr.config import ModelConfig
from cslr.model.network import CSLRModel, downsample
from cslr.model.temporal import CausalLSTMEncoder

VOCAB = 7
TINY: dict[str, Any] = {
    "pose_hidden": 16,
    "pose_layers": 2,
    "hidden_size": 12,
    "num_layers": 2,
    "vocab_size": VOCAB,
}


def _model(temporal: str, stride: int = 1, dropout: float = 0.0) -> CSLRModel:
    torch.manual_seed(0)
    return CSLRModel(ModelConfig(temporal=temporal, stride=stride, dropout=dropout, **TINY)).eval()


def _batch(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(len(lengths), max(lengths), 300, generator=g), torch.tensor(lengths)


@pytest.mark.parametrize("temporal", ["bilstm", "causal"])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_forward_shapes_and_finite(temporal: str, stride: int) -> None:
    model = _model(temporal, stride)
    x, lengths = _batch([20, 13, 7])
    targets, target_lengths = torch.tensor([[1, 2, 3], [4, 5, 0], [6, 0, 0]]), torch.tensor([3, 2, 1])
    out = model(x, lengths, targets, target_lengths)
    t_out = -(-20 // stride)
    assert out.log_probs.shape == (t_out, 3, VOCAB)
    assert out.out_lengths.tolist() == [-(-n // stride) for n in (20, 13, 7)]
    assert torch.isfinite(out.log_probs).all() and out.loss is not None and torch.isfinite(out.loss)
    assert torch.allclose(out.log_probs.exp().sum(-1), torch.ones(t_out, 3), atol=1e-5)
    assert model(x, lengths).loss is None


@pytest.mark.parametrize("temporal", ["bilstm", "causal"])
def test_every_parameter_gets_a_gradient(temporal: str) -> None:
    model = _model(temporal, stride=2, dropout=0.1).train()
    x, lengths = _batch([16, 11])
    out = model(x, lengths, torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1]))
    assert out.loss is not None
    out.loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("temporal", ["bilstm", "causal"])
def test_padding_does_not_change_outputs(temporal: str) -> None:
    model = _model(temporal, stride=2)
    x, lengths = _batch([15, 9])
    full = model(x, lengths).log_probs
    alone = model(x[1:, :9], lengths[1:]).log_probs
    assert torch.allclose(full[:5, 1], alone[:, 0], atol=1e-5)


@pytest.mark.parametrize(
    ("stride", "chunk"), [(1, 1), (1, 3), (1, 7), (1, 50), (2, 2), (2, 4), (2, 6), (2, 50)]
)
def test_causal_chunked_equals_full(stride: int, chunk: int) -> None:
    model = _model("causal", stride)
    x, lengths = _batch([37, 37])
    full = model(x, lengths).log_probs
    state, pieces = None, []
    with torch.no_grad():
        for start in range(0, 37, chunk):
            out, state = model.forward_chunk(x[:, start : start + chunk], state)
            pieces.append(out)
    chunked = torch.cat(pieces, dim=0)
    assert chunked.shape == full.shape
    torch.testing.assert_close(chunked, full, rtol=0, atol=1e-5)


def test_causal_encoder_state_is_tensors() -> None:
    enc = CausalLSTMEncoder(8, 6, 2, 0.0).eval()
    y, (h, c) = enc.forward_chunk(torch.randn(3, 5, 8))
    assert y.shape == (3, 5, 6) and h.shape == c.shape == (2, 3, 6)


def test_causal_output_ignores_the_future() -> None:
    model = _model("causal")
    x, lengths = _batch([20])
    y = x.clone()
    y[:, 10:] = torch.randn(1, 10, 300)
    torch.testing.assert_close(model(x, lengths).log_probs[:10], model(y, lengths).log_probs[:10])


def test_bilstm_cannot_stream() -> None:
    with pytest.raises(RuntimeError, match="causal"):
        _model("bilstm").forward_chunk(torch.randn(1, 4, 300))


def test_downsample_ignores_padding() -> None:
    x = torch.arange(10.0).view(1, 10, 1).repeat(2, 1, 1)
    y, lengths = downsample(x, torch.tensor([10, 5]), 2)
    assert lengths.tolist() == [5, 3]
    assert y[1, :3, 0].tolist() == [0.5, 2.5, 4.0]


def test_vocab_size_required() -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        CSLRModel(ModelConfig())
