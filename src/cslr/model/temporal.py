"""Temporal encoders: a bidirectional LSTM or a Transformer for offline use, a causal LSTM for live streaming.

Both map ``(B, T, D)`` features and ``(B,)`` lengths to ``(B, T, output_dim)``; lengths None means every row
has the full length ``T`` (the unpadded path: plain tensor ops only, so the exported graphs trace it with
a dynamic time axis). The causal encoder also has
``forward_chunk(x, state) -> (y, new_state)`` with the state an explicit tuple of tensors ``(h, c)``; feeding
a sequence chunk by chunk gives the same output as feeding it whole, so a live connection never re-runs
the past.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

LSTMState = tuple[torch.Tensor, torch.Tensor]  # h, c: each (num_layers, B, hidden)


class TemporalEncoder(nn.Module):
    """Base of the temporal encoders: ``forward(x (B, T, D), lengths (B,) | None) -> (B, T, output_dim)``."""

    output_dim: int

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


class BiLSTMEncoder(TemporalEncoder):
    """Bidirectional LSTM over packed sequences (padding never leaks into the backward direction)."""

    def __init__(self, input_dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            input_dim,
            hidden,
            layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.output_dim = 2 * hidden

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """``(B, T, D)``, lengths ``(B,)`` -> ``(B, T, 2 * hidden)`` (zeros after each length); lengths None:
        unpadded rows, run without packing."""
        if lengths is None:
            return self.lstm(x)[0]
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out


class CausalLSTMEncoder(TemporalEncoder):
    """Unidirectional LSTM: output at frame t depends only on frames <= t."""

    def __init__(self, input_dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            input_dim, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.output_dim = hidden

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """``(B, T, D)``, lengths ``(B,)`` or None -> ``(B, T, hidden)``; outputs after a length: padding."""
        del lengths  # causal: padding at the end cannot affect earlier frames
        out, _ = self.lstm(x)
        return out

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> LSTMState:
        """Zero state for ``batch`` streams."""
        shape = (self.lstm.num_layers, batch, self.lstm.hidden_size)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def forward_chunk(
        self, x: torch.Tensor, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, LSTMState]:
        """Process the next chunk ``(B, t, D)`` given the state after the previous one (None: start).

        Returns:
            output ``(B, t, hidden)`` and the new state ``(h, c)``, each ``(num_layers, B, hidden)``.
        """
        if state is None:
            state = self.initial_state(x.shape[0], x.device)
        out, (h, c) = self.lstm(x, state)
        return out, (h, c)


# --- issue 4 (two-stream model): Transformer encoder ---
FEEDFORWARD_FACTOR = 4  # transformer feed-forward width = this x hidden
POSITION_BASE = 10000.0  # sinusoidal position encoding wavelength base


def sinusoidal_positions(length: int, dim: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(length, dim)`` sine/cosine position encodings (even columns sine, odd cosine); an odd ``dim`` drops
    the last cosine. Built without in-place writes so a trace keeps ``length`` dynamic."""
    pos = torch.arange(length, dtype=torch.float32, device=device)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device) * (-math.log(POSITION_BASE) / dim))
    angles = pos * freq  # (length, ceil(dim / 2))
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)[:, :dim]


class TransformerEncoder(TemporalEncoder):
    """Pre-norm Transformer encoder over the whole (padded) sequence; padding is masked out of attention.

    Args:
        input_dim: features per step.
        hidden: model width (output width too).
        layers: encoder layers.
        dropout: dropout in attention and feed-forward.
        heads: attention heads (``hidden`` must divide by it).
    """

    def __init__(self, input_dim: int, hidden: int, layers: int, dropout: float, heads: int = 4) -> None:
        super().__init__()
        self.proj = nn.Linear(input_dim, hidden)
        layer = nn.TransformerEncoderLayer(
            hidden, heads, FEEDFORWARD_FACTOR * hidden, dropout, activation="gelu", batch_first=True,
            norm_first=True,
        )  # fmt: skip
        self.encoder = nn.TransformerEncoder(
            layer, layers, norm=nn.LayerNorm(hidden), enable_nested_tensor=False
        )
        self.output_dim = hidden

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """``(B, T, D)``, lengths ``(B,)`` -> ``(B, T, hidden)`` (zeros after each length); lengths None:
        unpadded rows, no mask."""
        t = x.shape[1]
        h = self.proj(x) + sinusoidal_positions(t, self.output_dim, x.device).to(x.dtype)
        if lengths is None:
            return self.encoder(h)
        pad = torch.arange(t, device=x.device)[None] >= lengths.to(x.device)[:, None]  # (B, T)
        out = self.encoder(h, src_key_padding_mask=pad)
        return out.masked_fill(pad[..., None], 0.0)


TEMPORAL_ENCODERS: dict[str, type[TemporalEncoder]] = {
    "bilstm": BiLSTMEncoder,
    "causal": CausalLSTMEncoder,
    "transformer": TransformerEncoder,
}


def build_temporal(
    name: str, input_dim: int, hidden: int, layers: int, dropout: float, heads: int = 4
) -> TemporalEncoder:
    """The encoder registered under ``name`` (see ``TEMPORAL_ENCODERS``); ``heads``: transformer only."""
    if name not in TEMPORAL_ENCODERS:
        raise ValueError(f"unknown temporal encoder {name!r}; choose from {sorted(TEMPORAL_ENCODERS)}")
    if name == "transformer":
        return TransformerEncoder(input_dim, hidden, layers, dropout, heads)
    return TEMPORAL_ENCODERS[name](input_dim, hidden, layers, dropout)


# --- end issue 4 ---
