"""Export-friendly views of :class:`~cslr.model.network.CSLRModel`: the graphs both exporters trace.

An exported graph serves whole, unpadded sequences (every batch row has the full length ``T``), which is
what serving does (one sequence per call). That lets the bidirectional encoder run its LSTM directly
instead of through ``pack_padded_sequence``, whose lengths would otherwise be frozen into the trace.

Two graphs:

* :class:`FullSequenceGraph` — ``features (B, T, F) -> log_probs (T', B, V)``, ``T' = ceil(T / stride)``.
* :class:`ChunkGraph` (causal encoder only) — ``features (B, t, F), h, c -> log_probs (t', B, V), h', c'``
  with ``h, c`` each ``(num_layers, B, hidden)``: the streaming state goes in and comes out explicitly.
"""

from __future__ import annotations

import torch
from torch import nn

from cslr.model.network import CSLRModel
from cslr.model.temporal import BiLSTMEncoder, CausalLSTMEncoder

FEATURES = "features"
LOG_PROBS = "log_probs"
STATE_IN = ("h_in", "c_in")
STATE_OUT = ("h_out", "c_out")


def pool_full(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Mean over non-overlapping windows of ``stride`` frames of an unpadded ``(B, T, D)`` sequence.

    Equals :func:`cslr.model.network.downsample` when every row has length ``T``; written with tensor ops
    only so the time axis stays dynamic in a trace. Returns ``(B, ceil(T / stride), D)``.
    """
    if stride == 1:
        return x
    b, t, d = x.shape
    pad = (stride - t % stride) % stride
    valid = torch.nn.functional.pad(torch.ones_like(x[..., :1]), (0, 0, 0, pad))
    x = torch.nn.functional.pad(x, (0, 0, 0, pad))
    total = (x * valid).reshape(b, -1, stride, d).sum(2)
    count = valid.reshape(b, -1, stride, 1).sum(2)
    return total / count


class UnsupportedExport(ValueError):
    """The model has a part the exported graphs do not cover (RGB streams, the Transformer encoder)."""


def _pose_stream(model: CSLRModel) -> nn.Module:
    """The pose stream of a pose-only model (the graphs take keypoint features only)."""
    if model.pose is None or model.rgb is not None:
        raise UnsupportedExport(f"cannot export a model with streams {model.cfg.streams}: pose only")
    return model.pose


def _encoder_lstm(model: CSLRModel) -> nn.LSTM:
    """The LSTM inside either temporal encoder."""
    if model.cfg.streams != ("pose",):  # issue 4: the exported graphs take pose features only
        raise UnsupportedExport(f"export supports pose-only models, this one has streams {model.cfg.streams}")
    encoder = model.encoder
    if not isinstance(encoder, BiLSTMEncoder | CausalLSTMEncoder):
        raise UnsupportedExport(
            f"cannot export temporal encoder {type(encoder).__name__} yet: export supports the LSTM encoders"
        )
    return encoder.lstm


class FullSequenceGraph(nn.Module):
    """``features (B, T, F) -> log_probs (T', B, V)`` for unpadded sequences (see the module docstring)."""

    def __init__(self, model: CSLRModel) -> None:
        super().__init__()
        self.model = model
        self.pose = _pose_stream(model)
        self.lstm = _encoder_lstm(model)
        self.stride = model.cfg.stride
        self.eval()  # the exporters restore this mode afterwards: it must be eval, or dropout turns on

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = pool_full(self.pose(features), self.stride)
        y, _ = self.lstm(x)
        return self.model.head(y).log_softmax(-1).transpose(0, 1)


class ChunkGraph(nn.Module):
    """One streaming step: ``features (B, t, F), h, c -> log_probs (t', B, V), h', c'``.

    ``t`` must be a multiple of the model's stride except in a stream's last chunk.
    """

    def __init__(self, model: CSLRModel) -> None:
        super().__init__()
        if not model.streamable:
            raise ValueError(f"chunked export needs the causal encoder, not {model.cfg.temporal!r}")
        self.model = model
        self.pose = _pose_stream(model)
        self.lstm = _encoder_lstm(model)
        self.stride = model.cfg.stride
        self.eval()  # the exporters restore this mode afterwards: it must be eval, or dropout turns on

    def forward(
        self, features: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = pool_full(self.pose(features), self.stride)
        y, (h, c) = self.lstm(x, (h, c))
        return self.model.head(y).log_softmax(-1).transpose(0, 1), h, c


def initial_state(model: CSLRModel, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero LSTM state ``(h, c)``, each ``(num_layers, batch, hidden)``, for :class:`ChunkGraph`."""
    lstm = _encoder_lstm(model)
    shape = (lstm.num_layers, batch, lstm.hidden_size)
    return torch.zeros(shape), torch.zeros(shape)


def chunk_bounds(length: int, chunk: int) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges of consecutive chunks of ``chunk`` frames covering ``length``."""
    return [(s, min(s + chunk, length)) for s in range(0, length, chunk)]
