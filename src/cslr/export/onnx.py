"""Export a checkpoint to ONNX and prove the export right: ``cslr export onnx CHECKPOINT [-o OUT]``.

Writes ``OUT`` (default: the checkpoint's name with ``.onnx``), the full-sequence graph
``inputs -> log_probs (T', B, V)`` with dynamic batch and time axes (and image height and width), where
the inputs are those the model's streams need (:func:`cslr.export.graphs.graph_inputs`: ``features``,
``frames``, ``boxes``); and for a streamable model (causal encoder, per-frame RGB backbone) also ``OUT``
with ``.chunk.onnx``: ``inputs, h_in, c_in -> log_probs, h_out, c_out``, the streaming state as explicit
inputs and outputs. Each file carries the vocabulary and stride in its metadata. Every export is verified
before it is reported done: ONNX Runtime's output must equal PyTorch's within tolerance at several
sequence lengths, and chunk by chunk (state in, state out) for the chunk graph. Requires the ``onnx``
extra (``pip install 'cslr[onnx]'``).
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cslr.data.vocab import Vocabulary
from cslr.export.graphs import (
    LOG_PROBS,
    STATE_IN,
    STATE_OUT,
    ChunkGraph,
    FullSequenceGraph,
    UnsupportedExport,
    dynamic_axes,
    example_inputs,
    graph_inputs,
    initial_state,
    tracing_mode,
)
from cslr.export.parity import (
    CHUNK_FRAMES,
    ParityReport,
    check_chunked,
    check_close,
    check_lengths,
    chunk_parity_length,
    chunk_size,
    random_inputs,
    stream_in_chunks,
    torch_chunk_step,
)
from cslr.export.runtime import CHUNK_SUFFIX, chunk_step, feeds
from cslr.model.inputs import ModelInputs
from cslr.model.network import CSLRModel
from cslr.model.temporal import LSTMState

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
    with warnings.catch_warnings(), tracing_mode(), _dynamic_unflatten():
        warnings.simplefilter("ignore")  # the legacy exporter warns about its own deprecation
        target: Any = buffer  # the stub says a path; a file object works too
        torch.onnx.export(
            graph, example, target, dynamo=False, opset_version=OPSET, input_names=list(inputs),
            output_names=list(outputs), dynamic_axes=dynamic, do_constant_folding=True,
        )
    return buffer.getvalue()


@contextmanager
def _dynamic_unflatten() -> Iterator[None]:
    """Export ``aten::unflatten`` as a Reshape to ``Shape[:dim] + sizes + Shape[dim + 1:]`` meanwhile.

    The built-in symbolic computes the same shape from indices it calculates in the graph, and the
    exporter's shape inference then freezes the other axes at their traced sizes: multi-head self-attention
    (which unflattens its packed q/k/v projection) would accept only the example's length. Slicing with
    constant indices keeps them dynamic.
    """
    from torch.onnx import symbolic_helper

    @symbolic_helper.parse_args("v", "i", "v")
    def unflatten(g: Any, x: Any, dim: int, sizes: Any) -> Any:
        rank = symbolic_helper._get_tensor_rank(x)
        if rank is None:
            raise UnsupportedExport("unflatten of a tensor of unknown rank")
        dim %= rank
        shape = g.op("Shape", x)
        parts = [g.op("Slice", shape, _ints(g, [0]), _ints(g, [dim])), sizes,
                 g.op("Slice", shape, _ints(g, [dim + 1]), _ints(g, [rank]))]
        return g.op("Reshape", x, g.op("Concat", *parts, axis_i=0))

    torch.onnx.register_custom_op_symbolic("aten::unflatten", unflatten, OPSET)
    try:
        yield
    finally:
        torch.onnx.unregister_custom_op_symbolic("aten::unflatten", OPSET)


def _ints(g: Any, values: list[int]) -> Any:
    """An int64 constant in the ONNX graph being built."""
    return g.op("Constant", value_t=torch.tensor(values, dtype=torch.int64))


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
    """The full-sequence graph ``inputs -> log_probs (T', B, V)`` as ONNX bytes."""
    names = graph_inputs(model.cfg)
    dynamic = {**dynamic_axes(names), LOG_PROBS: {0: "steps", 1: "batch"}}
    return _trace_to_onnx(FullSequenceGraph(model), example_inputs(model), names, [LOG_PROBS], dynamic)


def chunk_onnx(model: CSLRModel) -> bytes:
    """The streaming graph ``inputs, h_in, c_in -> log_probs, h_out, c_out`` as ONNX bytes.

    Raises:
        cslr.export.graphs.UnsupportedExport: the model is not streamable.
    """
    graph = ChunkGraph(model)
    names = graph_inputs(model.cfg)
    example = (*example_inputs(model, CHUNK_FRAMES), *initial_state(model))
    dynamic = {**dynamic_axes(names), LOG_PROBS: {0: "steps", 1: "batch"},
               **{name: {1: "batch"} for name in (*STATE_IN, *STATE_OUT)}}
    return _trace_to_onnx(graph, example, [*names, *STATE_IN], [LOG_PROBS, *STATE_OUT], dynamic)


def export_onnx(
    model: CSLRModel, vocab: Vocabulary, out: str | Path, *, chunk: bool | None = None, verify: bool = True
) -> OnnxExport:
    """Export ``model`` to ``out`` (and ``out`` with ``.chunk.onnx`` when streamable), then verify parity.

    Args:
        chunk: also write the chunk graph; None = whenever the model is streamable.
        verify: raise :class:`ParityError` unless ONNX Runtime matches PyTorch (see :func:`verify_onnx`).

    Raises:
        cslr.export.graphs.UnsupportedExport: ``chunk=True`` for a model that is not streamable.
    """
    model = model.cpu().eval()
    out = Path(out)
    chunk_graph = chunk_onnx(model) if (model.streamable if chunk is None else chunk) else None
    _save_with_metadata(full_sequence_onnx(model), out, vocab, model.cfg.stride, "full")
    chunk_path = None
    if chunk_graph is not None:
        chunk_path = out.with_suffix(CHUNK_SUFFIX)
        _save_with_metadata(chunk_graph, chunk_path, vocab, model.cfg.stride, "chunk")
    report = verify_onnx(model, out, chunk_path) if verify else ParityReport({})
    return OnnxExport(out, chunk_path, report)


def _session(path: Path) -> Any:
    """A CPU ONNX Runtime session for parity checks."""
    _, ort = _require_onnx()
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def verify_onnx(
    model: CSLRModel, path: str | Path, chunk_path: str | Path | None = None,
    lengths: Sequence[int] | None = None,
) -> ParityReport:
    """Compare ONNX Runtime with PyTorch at each of ``lengths`` (default
    :func:`~cslr.export.parity.parity_lengths`), and chunk by chunk given ``chunk_path``.

    Raises:
        ParityError: a shape differs or a log-probability differs beyond ``ATOL + RTOL * |ref|``.
    """
    model = model.cpu().eval()
    session = _session(Path(path))
    names = [i.name for i in session.get_inputs()]
    diffs = check_lengths(model, lambda x: session.run(None, feeds(names, x))[0], lengths)
    chunk_diff = None if chunk_path is None else verify_chunked(model, Path(chunk_path))
    return ParityReport(diffs, chunk_diff)


def run_chunked(session: Any, inputs: ModelInputs, state: tuple[np.ndarray, np.ndarray],
                chunk: int = CHUNK_FRAMES) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Stream a batch ``inputs (B, T, ...)`` through a chunk-graph session; returns ``(T', B, V)`` and the
    last state."""
    return stream_in_chunks(lambda piece, st: chunk_step(session, piece, st), inputs, state, chunk)


def verify_chunked(model: CSLRModel, chunk_path: Path, frames: int | None = None) -> float:
    """Stream a sequence through the chunk graph; its output and final state must match PyTorch's.

    The reference output is the full-sequence forward; the reference state is that of
    :meth:`CSLRModel.forward_chunk` fed the same chunks.
    """
    frames = frames or chunk_parity_length(model.cfg)
    session = _session(chunk_path)
    h, c = (s.numpy() for s in initial_state(model))
    diff, (h_out, c_out) = check_chunked(model, lambda x, st: chunk_step(session, x, st), (h, c), frames)
    reference: LSTMState | None = None  # CSLRModel.forward_chunk fed the same chunks
    _, reference = stream_in_chunks(
        torch_chunk_step(model), random_inputs(model.cfg, frames), reference, chunk_size(model.cfg.stride)
    )
    assert reference is not None
    h_ref, c_ref = reference
    check_close("chunked h", h_ref.numpy(), h_out)
    check_close("chunked c", c_ref.numpy(), c_out)
    return diff


def read_vocab(path: str | Path) -> Vocabulary:
    """The vocabulary stored in an exported file's metadata."""
    onnx, _ = _require_onnx()
    proto = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in proto.metadata_props}
    if META_VOCAB not in meta:
        raise ValueError(f"{path}: not a cslr ONNX export (no {META_VOCAB} metadata)")
    return Vocabulary.from_list(json.loads(meta[META_VOCAB]))
