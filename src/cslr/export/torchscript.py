"""Export a checkpoint to TorchScript: ``cslr export torchscript CHECKPOINT [-o OUT]``.

Writes one file (default: the checkpoint's name with ``.ts.pt``) loadable with ``torch.jit.load`` and no
cslr code (``import torchvision`` first for a model with ROI crops: ``roi_align`` is a torchvision op). Its
``forward(*inputs) -> log_probs (T', B, V)`` serves unpadded sequences of any length, the inputs being those
the model's streams need, in order (:func:`cslr.export.graphs.graph_inputs`: ``features (B, T, F)``,
``frames (B, T, 3, H, W)`` uint8, ``boxes (B, T, R, 4)``); a streamable model also gets
``forward_chunk(*inputs, h, c) -> (log_probs, h, c)``, the streaming state in and out. The vocabulary and
the input names are stored in the file's extra files (``vocab.json``, ``inputs.json``). The export is
traced, so it is verified before it is reported done: its output must equal PyTorch's within tolerance at
several sequence lengths (a length frozen into the trace would fail here), and chunk by chunk.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cslr.data.vocab import Vocabulary
from cslr.export.graphs import (
    ChunkGraph,
    FullSequenceGraph,
    example_inputs,
    graph_inputs,
    initial_state,
    tracing_mode,
)
from cslr.export.parity import CHUNK_FRAMES, ParityReport, as_tensors, check_chunked, check_lengths
from cslr.model.inputs import ModelInputs
from cslr.model.network import CSLRModel

VOCAB_FILE = "vocab.json"
INPUTS_FILE = "inputs.json"


class _Exported(torch.nn.Module):
    """Both graphs under one module, so one file holds ``forward`` and ``forward_chunk``."""

    def __init__(self, model: CSLRModel) -> None:
        super().__init__()
        self.full = FullSequenceGraph(model)
        self.chunk = ChunkGraph(model) if model.streamable else None
        self.eval()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.full(*inputs)

    def forward_chunk(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        assert self.chunk is not None
        return self.chunk(*inputs)


@dataclass(frozen=True)
class TorchScriptExport:
    """The written file and the parity it was verified to."""

    path: Path
    parity: ParityReport


def trace(model: CSLRModel) -> torch.jit.ScriptModule:
    """Trace ``forward`` (and ``forward_chunk`` for a streamable model) of a CPU model in eval mode."""
    wrapper = _Exported(model.cpu().eval())
    inputs: dict[str, tuple[torch.Tensor, ...]] = {"forward": example_inputs(model)}
    if model.streamable:
        inputs["forward_chunk"] = (*example_inputs(model, CHUNK_FRAMES), *initial_state(model))
    with warnings.catch_warnings(), tracing_mode():
        warnings.simplefilter("ignore")  # deprecation notices; a frozen length is caught by the parity check
        return torch.jit.trace_module(wrapper, inputs, check_trace=False)


def export_torchscript(
    model: CSLRModel, vocab: Vocabulary, out: str | Path, *, verify: bool = True
) -> TorchScriptExport:
    """Trace ``model``, save it to ``out`` with the vocabulary, reload it and verify parity."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scripted = trace(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.save announces its deprecation
        extra = {VOCAB_FILE: json.dumps(vocab.to_list()), INPUTS_FILE: json.dumps(graph_inputs(model.cfg))}
        torch.jit.save(scripted, str(out), _extra_files=extra)
    report = verify_torchscript(model, out) if verify else ParityReport({})
    return TorchScriptExport(out, report)


def load_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, Vocabulary]:
    """The exported module (CPU) and its vocabulary."""
    extra = {VOCAB_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return module, Vocabulary.from_list(json.loads(extra[VOCAB_FILE]))


@torch.inference_mode()
def verify_torchscript(
    model: CSLRModel, path: str | Path, lengths: Sequence[int] | None = None
) -> ParityReport:
    """Reload ``path`` and compare it with ``model`` at each of ``lengths`` (default
    :func:`~cslr.export.parity.parity_lengths`), and chunked when streamable.

    Raises:
        cslr.export.parity.ParityError: a shape or a log-probability differs beyond tolerance.
    """
    model = model.cpu().eval()
    module, _vocab = load_torchscript(path)
    names = graph_inputs(model.cfg)
    diffs = check_lengths(model, lambda x: module(*_ordered(x, names)).numpy(), lengths)
    chunk_diff = _verify_chunked(model, module) if model.streamable else None
    return ParityReport(diffs, chunk_diff)


def _ordered(inputs: ModelInputs, names: Sequence[str]) -> tuple[torch.Tensor, ...]:
    """The tensors of ``inputs`` in graph input order."""
    named = as_tensors(inputs)
    return tuple(named[name] for name in names)


def _verify_chunked(model: CSLRModel, module: torch.jit.ScriptModule) -> float:
    """Stream a sequence through ``forward_chunk``; output must match the full-sequence forward."""
    names = graph_inputs(model.cfg)

    def step(piece: ModelInputs, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[np.ndarray, Any]:
        log_probs, h, c = module.forward_chunk(*_ordered(piece, names), *state)
        return log_probs.numpy(), (h, c)

    return check_chunked(model, step, initial_state(model))[0]
