"""Export a checkpoint to ONNX and prove the export right: ``cslr export onnx CHECKPOINT [-o OUT]``.

Writes ``OUT`` (default: the checkpoint's name with ``.onnx``), the full-sequence graph
``features (B, T, 300) -> log_probs (T', B, V)`` with a dynamic batch and time axis, and for a causal
(streamable) model also ``OUT`` with ``.chunk.onnx``: ``features, h_in, c_in -> log_probs, h_out, c_out``,
the streaming state as explicit inputs and outputs. Each file carries the vocabulary and stride in its
metadata. Every export is verified before it is reported done: ONNX Runtime's output must equal PyTorch's
within tolerance at several sequence lengths, and chunk by chunk (state in, state out) for the chunk
graph. Requires the ``onnx`` extra (``pip install 'cslr[onnx]'``).
"""

from __future__ import annotations

import io
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
    FEATURES,
    LOG_PROBS,
    STATE_IN,
    STATE_OUT,
    ChunkGraph,
    FullSequenceGraph,
    initial_state,
)
from cslr.export.parity import (
    CHUNK_FRAMES,
    CHUNK_PARITY_LENGTH,
    PARITY_LENGTHS,
    ParityReport,
    check_chunked,
    check_close,
    check_lengths,
    chunk_size,
    random_features,
    stream_in_chunks,
)
from cslr.export.runtime import CHUNK_SUFFIX, chunk_step
from cslr.model.network import CSLRModel

OPSET = 17  # LayerNormalization is native from opset 17
META_VOCAB = "cslr.vocab"
META_STRIDE = "cslr.stride"
META_KIND = "cslr.graph"


@dataclass(frozen=True)
class OnnxExport:
    """Paths written by :func:`export_onnx` and the parity they were verified to."""

    model_path: Path
    chunk_path: Path | None
    parity: ParityReport


def _require_onnx() -> tuple[Any, Any]:
    """Import ``onnx`` and ``onnxruntime`` or say which extra to install."""
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("ONNX export needs the onnx extra: pip install 'cslr[onnx]'") from exc
    return onnx, onnxruntime


def _trace_to_onnx(graph: torch.nn.Module, example: tuple[torch.Tensor, ...], inputs: Sequence[str],
                   outputs: Sequence[str], dynamic: dict[str, dict[int, str]]) -> bytes:
    """Serialise ``graph`` with the TorchScript-based exporter (``dynamo=False`` keeps time dynamic)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter warns about its own deprecation
        target: Any = buffer  # the stub says a path; a file object works too
        torch.onnx.export(
            graph, example, target, dynamo=False, opset_version=OPSET, input_names=list(inputs),
            output_names=list(outputs), dynamic_axes=dynamic, do_constant_folding=True,
        )
    return buffer.getvalue()


def _save_with_metadata(raw: bytes, path: Path, vocab: Vocabulary, stride: int, kind: str) -> None:
    """Check the graph, attach vocabulary/stride/kind metadata and write it to ``path``."""
    onnx, _ = _require_onnx()
    proto = onnx.load_from_string(raw)
    meta = {META_VOCAB: json.dumps(vocab.to_list()), META_STRIDE: str(stride), META_KIND: kind}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))


def full_sequence_onnx(model: CSLRModel) -> bytes:
    """The full-sequence graph ``features (B, T, F) -> log_probs (T', B, V)`` as ONNX bytes."""
    example = (torch.zeros(1, max(PARITY_LENGTHS), model.cfg.input_dim),)
    dynamic = {FEATURES: {0: "batch", 1: "frames"}, LOG_PROBS: {0: "steps", 1: "batch"}}
    return _trace_to_onnx(FullSequenceGraph(model), example, [FEATURES], [LOG_PROBS], dynamic)


def chunk_onnx(model: CSLRModel) -> bytes:
    """The streaming graph ``features, h_in, c_in -> log_probs, h_out, c_out`` as ONNX bytes."""
    h, c = initial_state(model)
    example = (torch.zeros(1, CHUNK_FRAMES, model.cfg.input_dim), h, c)
    state_axes = {1: "batch"}
    dynamic = {FEATURES: {0: "batch", 1: "frames"}, LOG_PROBS: {0: "steps", 1: "batch"},
               **{name: state_axes for name in (*STATE_IN, *STATE_OUT)}}
    return _trace_to_onnx(ChunkGraph(model), example, [FEATURES, *STATE_IN], [LOG_PROBS, *STATE_OUT], dynamic)


def export_onnx(
    model: CSLRModel, vocab: Vocabulary, out: str | Path, *, chunk: bool | None = None, verify: bool = True
) -> OnnxExport:
    """Export ``model`` to ``out`` (and ``out`` with ``.chunk.onnx`` when streamable), then verify parity.

    Args:
        chunk: also write the chunk graph; None = whenever the model is streamable.
        verify: raise :class:`ParityError` unless ONNX Runtime matches PyTorch (see :func:`verify_onnx`).
    """
    model = model.cpu().eval()
    out = Path(out)
    _save_with_metadata(full_sequence_onnx(model), out, vocab, model.cfg.stride, "full")
    chunk_path = None
    if model.streamable if chunk is None else chunk:
        chunk_path = out.with_suffix(CHUNK_SUFFIX)
        _save_with_metadata(chunk_onnx(model), chunk_path, vocab, model.cfg.stride, "chunk")
    report = verify_onnx(model, out, chunk_path) if verify else ParityReport({})
    return OnnxExport(out, chunk_path, report)


def _session(path: Path) -> Any:
    """A CPU ONNX Runtime session for parity checks."""
    _, ort = _require_onnx()
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def verify_onnx(
    model: CSLRModel, path: str | Path, chunk_path: str | Path | None = None,
    lengths: Sequence[int] = PARITY_LENGTHS,
) -> ParityReport:
    """Compare ONNX Runtime with PyTorch at each of ``lengths``, and chunk by chunk given ``chunk_path``.

    Raises:
        ParityError: a shape differs or a log-probability differs beyond ``ATOL + RTOL * |ref|``.
    """
    model = model.cpu().eval()
    session = _session(Path(path))
    diffs = check_lengths(model, lambda x: session.run(None, {FEATURES: x.numpy()})[0], lengths)
    chunk_diff = None if chunk_path is None else verify_chunked(model, Path(chunk_path))
    return ParityReport(diffs, chunk_diff)


def run_chunked(session: Any, features: np.ndarray, state: tuple[np.ndarray, np.ndarray],
                chunk: int = CHUNK_FRAMES) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Stream ``features (1, T, F)`` through a chunk-graph session; returns ``(T', 1, V)``, last state."""
    return stream_in_chunks(lambda piece, st: chunk_step(session, piece, st), features, state, chunk)


def verify_chunked(model: CSLRModel, chunk_path: Path, frames: int = CHUNK_PARITY_LENGTH) -> float:
    """Stream a sequence through the chunk graph; its output and final state must match PyTorch's.

    The reference output is the full-sequence forward; the reference state is that of
    :meth:`CSLRModel.forward_chunk` fed the same chunks.
    """
    session = _session(chunk_path)
    h, c = initial_state(model)
    diff, (h_out, c_out) = check_chunked(
        model, lambda piece, st: chunk_step(session, piece.numpy(), st), (h.numpy(), c.numpy()), frames
    )
    with torch.inference_mode():  # the reference state: CSLRModel.forward_chunk fed the same chunks
        _, (h, c) = stream_in_chunks(lambda piece, st: _numpy_log_probs(*model.forward_chunk(piece, st)),
                                     random_features(model, frames), (h, c), chunk_size(model.cfg.stride))
    check_close("chunked h", h.numpy(), h_out)
    check_close("chunked c", c.numpy(), c_out)
    return diff


def _numpy_log_probs(log_probs: torch.Tensor, state: Any) -> tuple[np.ndarray, Any]:
    return log_probs.numpy(), state


def read_vocab(path: str | Path) -> Vocabulary:
    """The vocabulary stored in an exported file's metadata."""
    onnx, _ = _require_onnx()
    proto = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in proto.metadata_props}
    if META_VOCAB not in meta:
        raise ValueError(f"{path}: not a cslr ONNX export (no {META_VOCAB} metadata)")
    return Vocabulary.from_list(json.loads(meta[META_VOCAB]))
