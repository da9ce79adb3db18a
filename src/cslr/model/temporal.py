"""Temporal encoders: a bidirectional LSTM for offline use, a causal LSTM for live streaming.

Both map ``(B, T, D)`` features and ``(B,)`` lengths to ``(B, T, output_dim)``. The causal encoder also has
``forward_chunk(x, state) -> (y, new_state)`` with the state an explicit tuple of tensors ``(h, c)``; feeding
a sequence chunk by chunk gives the same output as feeding it whole, so a live connection never re-runs
the past.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

LSTMState = tuple[torch.Tensor, torch.Tensor]  # h, c: each (num_layers, B, hidden)


class TemporalEncoder(nn.Module):
    """Base of the temporal encoders: ``forward(x (B, T, D), lengths (B,)) -> (B, T, output_dim)``."""

    output_dim: int

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
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

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)``, lengths ``(B,)`` -> ``(B, T, 2 * hidden)`` (zeros after each length)."""
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

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)``, lengths ``(B,)`` -> ``(B, T, hidden)``; outputs after a length are padding."""
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


TEMPORAL_ENCODERS: dict[str, type[TemporalEncoder]] = {"bilstm": BiLSTMEncoder, "causal": CausalLSTMEncoder}


def build_temporal(name: str, input_dim: int, hidden: int, layers: int, dropout: float) -> TemporalEncoder:
    """The encoder registered under ``name`` (see ``TEMPORAL_ENCODERS``)."""
    if name not in TEMPORAL_ENCODERS:
        raise ValueError(f"unknown temporal encoder {name!r}; choose from {sorted(TEMPORAL_ENCODERS)}")
    return TEMPORAL_ENCODERS[name](input_dim, hidden, layers, dropout)
