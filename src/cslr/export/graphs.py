"""Export-friendly views of :class:`~cslr.model.network.CSLRModel`: the graphs both exporters trace.

An exported graph serves whole, unpadded sequences (every batch row has the full length ``T``), which is
what serving does. It calls the model's own modules on their unpadded path (``lengths=None``: no packing,
no masks, no per-row Python logic), so the time axis stays dynamic in a trace, and nothing is computed twice.

Inputs, named, in this order, only those the model's streams need (:func:`graph_inputs`):
``features (B, T, F)`` float32 (pose stream), ``frames (B, T, 3, H, W)`` uint8 (RGB stream; any ``H, W``:
the model resizes them) and ``boxes (B, T, R, 4)`` float32 (``rgb_rois``).

Two graphs:

* :class:`FullSequenceGraph` — ``inputs -> log_probs (T', B, V)``, ``T' = ceil(T / stride)``; every model.
* :class:`ChunkGraph` (streamable models only: causal encoder, per-frame RGB backbone) — ``inputs, h_in,
  c_in -> log_probs (t', B, V), h_out, c_out`` with ``h, c`` each ``(num_layers, B, hidden)``: the
  streaming state goes in and comes out explicitly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from cslr.config import ModelConfig
from cslr.model.network import CSLRModel, downsample
from cslr.model.temporal import CausalLSTMEncoder

FEATURES = "features"
FRAMES = "frames"
BOXES = "boxes"
LOG_PROBS = "log_probs"
STATE_IN = ("h_in", "c_in")
STATE_OUT = ("h_out", "c_out")
INPUT_DTYPES = {FEATURES: np.float32, FRAMES: np.uint8, BOXES: np.float32}
TRACE_FRAMES = 7  # example length for tracing: short (RGB frames are costly), a partial last window
TRACE_IMAGE_PAD = 8  # example frames are this many pixels larger than rgb_size, so the resize is traced


def graph_inputs(cfg: ModelConfig) -> tuple[str, ...]:
    """Names of the inputs an exported graph takes, in order (before ``h_in, c_in`` in the chunk graph)."""
    names = [FEATURES] if "pose" in cfg.streams else []
    if "rgb" in cfg.streams:
        names += [FRAMES, BOXES] if cfg.rgb_rois else [FRAMES]
    return tuple(names)


def dynamic_axes(names: tuple[str, ...]) -> dict[str, dict[int, str]]:
    """ONNX dynamic axes of the named graph inputs: batch and time everywhere, image height and width."""
    axes = {name: {0: "batch", 1: "frames"} for name in names}
    if FRAMES in axes:
        axes[FRAMES].update({3: "height", 4: "width"})
    return axes


class UnsupportedExport(ValueError):
    """The model cannot be exported as asked (a chunk graph of a model that is not causal)."""


def _streaming_encoder(model: CSLRModel) -> CausalLSTMEncoder:
    """The causal encoder of a streamable model, or :class:`UnsupportedExport` saying why there is none."""
    if model.rgb is not None and not model.rgb.causal:
        raise UnsupportedExport(
            f"no chunk graph for RGB backbone {model.cfg.rgb_backbone!r}: it sees future frames; export the "
            "full-sequence graph only (window mode), or use a per-frame backbone for live chunk mode"
        )
    if not isinstance(model.encoder, CausalLSTMEncoder):
        raise UnsupportedExport(
            f"no chunk graph for temporal encoder {model.cfg.temporal!r}: chunked export needs the causal "
            "encoder (temporal: causal); export the full-sequence graph only (window mode)"
        )
    return model.encoder


class _Graph(nn.Module):
    """What both graphs share: the model, its input names, and the per-frame part up to the encoder."""

    def __init__(self, model: CSLRModel) -> None:
        super().__init__()
        self.model = model
        self.input_names = graph_inputs(model.cfg)
        self.eval()  # the exporters restore this mode afterwards: it must be eval, or dropout turns on

    def pooled(self, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Stream features, fused when there are two, pooled to the encoder's rate: ``(B, T', D)``."""
        named = dict(zip(self.input_names, inputs, strict=True))
        x, _gates = self.model.embed(named.get(FEATURES), None, named.get(FRAMES), named.get(BOXES))
        return downsample(x, None, self.model.cfg.stride)[0]

    def log_probs(self, y: torch.Tensor) -> torch.Tensor:
        """Encoder output ``(B, T', H)`` -> log-probs ``(T', B, V)``."""
        return self.model.head(y).log_softmax(-1).transpose(0, 1)


class FullSequenceGraph(_Graph):
    """``inputs -> log_probs (T', B, V)`` for unpadded sequences (see the module docstring)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.log_probs(self.model.encoder(self.pooled(inputs), None))


class ChunkGraph(_Graph):
    """One streaming step: ``inputs, h, c -> log_probs (t', B, V), h', c'``.

    ``t`` must be a multiple of the model's stride except in a stream's last chunk.

    Raises:
        UnsupportedExport: the model is not streamable (not the causal encoder, or a clip RGB backbone).
    """

    def __init__(self, model: CSLRModel) -> None:
        super().__init__(model)
        self.encoder = _streaming_encoder(model)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        *streams, h, c = inputs
        y, (h, c) = self.encoder.forward_chunk(self.pooled(tuple(streams)), (h, c))
        return self.log_probs(y), h, c


def initial_state(model: CSLRModel, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero LSTM state ``(h, c)``, each ``(num_layers, batch, hidden)``, for :class:`ChunkGraph`."""
    return _streaming_encoder(model).initial_state(batch)


def example_inputs(
    model: CSLRModel, frames: int = TRACE_FRAMES, batch: int = 1
) -> tuple[torch.Tensor, ...]:
    """Zero example inputs for tracing, in :func:`graph_inputs` order. Frames are larger than ``rgb_size``
    (so the resize is in the graph, whatever size is served); boxes cover the middle of the frame."""
    cfg = model.cfg
    side = cfg.rgb_size + TRACE_IMAGE_PAD
    shapes = {
        FEATURES: (batch, frames, cfg.input_dim),
        FRAMES: (batch, frames, 3, side, side),
        BOXES: (batch, frames, len(cfg.rgb_rois), 4),
    }
    out = []
    for name in graph_inputs(cfg):
        x = torch.zeros(shapes[name], dtype=torch.uint8 if name == FRAMES else torch.float32)
        if name == BOXES:
            x += torch.tensor([0.25, 0.25, 0.75, 0.75])  # found regions, so roi_align is traced
        out.append(x)
    return tuple(out)


@contextmanager
def tracing_mode() -> Iterator[None]:
    """Turn off PyTorch's fused attention fast path while tracing: its ops (``_native_multi_head_attention``,
    ``_transformer_encoder_layer_fwd``) have no ONNX form; the slow path computes the same thing."""
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


def chunk_bounds(length: int, chunk: int) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges of consecutive chunks of ``chunk`` frames covering ``length``."""
    return [(s, min(s + chunk, length)) for s in range(0, length, chunk)]
