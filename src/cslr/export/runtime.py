"""ONNX Runtime inference for serving, with the interface of :class:`~cslr.stream.recognizer.Recognizer`.

Selected with ``BACKEND=onnx`` (``ONNX_MODEL`` names an exported file; without it the served checkpoint is
exported, and verified, into a cache folder on first start). Inputs are
:class:`~cslr.model.inputs.ModelInputs` (pose features, uint8 frames, ROI boxes: whichever the model's
streams take), so pose-only, RGB-only and fused models are served alike. Whole sequences (files, window
mode) run the full-sequence graph; live chunk mode runs the chunk graph (``*.chunk.onnx``, written for a
streamable model), with the LSTM state passed in and out as numpy arrays (:data:`ChunkState`), as the
PyTorch path does. ``DEVICE`` picks the execution provider (``cuda`` needs ``onnxruntime-gpu``);
``USE_AMP`` has no effect here: mixed precision is a PyTorch feature, an fp32 graph runs in fp32.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from cslr.config import ModelConfig
from cslr.data.vocab import Vocabulary
from cslr.export.graphs import FRAMES, INPUT_DTYPES, STATE_IN
from cslr.export.parity import random_inputs
from cslr.model.inputs import ModelInputs, frame_side
from cslr.model.network import CSLRModel

log = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
CACHE_ENV = "CSLR_CACHE_DIR"
HASH_CHUNK = 1 << 20


CHUNK_SUFFIX = ".chunk.onnx"  # the chunk graph beside a full-sequence export (see cslr.export.onnx)

ChunkState = tuple[np.ndarray, np.ndarray]  # h, c: each (num_layers, B, hidden) float32


class LogProbsBackend(Protocol):
    """A way to run the model: per-step log-posteriors for whole sequences and for streaming chunks."""

    def log_probs(self, inputs: ModelInputs) -> np.ndarray:
        """Inputs of one sequence (``(T, ...)``, no batch axis) → log-posteriors ``(T', V)``."""
        ...

    def log_probs_batch(self, inputs: list[ModelInputs]) -> list[np.ndarray]:
        """Per sequence ``(T_i, ...)`` (none empty) → ``(T'_i, V)``, batched where the backend can."""
        ...

    def forward_chunk(self, inputs: ModelInputs, state: ChunkState) -> tuple[np.ndarray, ChunkState]:
        """One streaming step of ``B`` streams: inputs ``(B, t, ...)`` and state → ``(t', B, V)`` and the
        new state."""
        ...


def feeds(names: Sequence[str], inputs: ModelInputs) -> dict[str, np.ndarray]:
    """The arrays of ``inputs`` that a graph with input ``names`` takes (state inputs aside), contiguous
    and of the graph's dtype; inputs the graph does not take are left out.

    Raises:
        ValueError: the graph needs an input that ``inputs`` lacks (e.g. frames for an RGB model).
        TypeError: frames are not uint8.
    """
    arrays = inputs.arrays()
    wanted = [name for name in names if name not in STATE_IN]
    out = {}
    for name in wanted:
        if name not in arrays:
            raise ValueError(f"this exported model takes {wanted}: pass {name}")
        if name == FRAMES and arrays[name].dtype != np.uint8:
            raise TypeError(f"frames must be uint8 (0-255), got {arrays[name].dtype}")
        out[name] = np.ascontiguousarray(arrays[name], dtype=INPUT_DTYPES[name])
    return out


def chunk_step(session: Any, inputs: ModelInputs, state: ChunkState) -> tuple[np.ndarray, ChunkState]:
    """Run a chunk-graph session once: inputs ``(B, t, ...)``, ``(h, c)`` → ``(t', B, V)``, ``(h', c')``."""
    named = feeds([i.name for i in session.get_inputs()], inputs)
    named[STATE_IN[0]] = np.ascontiguousarray(state[0], dtype=np.float32)
    named[STATE_IN[1]] = np.ascontiguousarray(state[1], dtype=np.float32)
    log_probs, h, c = session.run(None, named)
    return log_probs, (h, c)


def select_providers(device: str, available: list[str]) -> list[str]:
    """Execution providers for ``DEVICE`` (``cpu``, ``cuda``, ``auto``) among ``available``.

    Raises:
        ValueError: ``cuda`` was asked for but ONNX Runtime has no CUDA provider.
    """
    if device == "cpu":
        return [CPU_PROVIDER]
    has_cuda = CUDA_PROVIDER in available
    if device == "cuda" and not has_cuda:
        raise ValueError("DEVICE=cuda but ONNX Runtime has no CUDA provider (install onnxruntime-gpu)")
    if device not in ("cuda", "auto"):
        raise ValueError(f"DEVICE must be cpu, cuda or auto, got {device!r}")
    return [CUDA_PROVIDER, CPU_PROVIDER] if has_cuda else [CPU_PROVIDER]


class OnnxRuntimeBackend:
    """Runs exported graphs (see :mod:`cslr.export.onnx`) with ONNX Runtime.

    Args:
        path: the full-sequence ``.onnx`` file written by ``cslr export onnx``.
        device: ``cpu``, ``cuda`` or ``auto``.
        threads: intra-op threads; 0 lets ONNX Runtime choose (one per physical core).
        chunk_path: the chunk graph (``*.chunk.onnx``) for live chunk mode; None: no streaming steps.
    """

    def __init__(
        self, path: str | Path, device: str = "auto", threads: int = 0, chunk_path: str | Path | None = None
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("BACKEND=onnx needs the onnx extra: pip install 'cslr[onnx]'") from exc
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        self.path = Path(path)
        self.chunk_path = Path(chunk_path) if chunk_path is not None else None
        self.providers = select_providers(device, ort.get_available_providers())
        self.session = ort.InferenceSession(str(self.path), options, providers=self.providers)
        self.chunk_session = (None if self.chunk_path is None else
                              ort.InferenceSession(str(self.chunk_path), options, providers=self.providers))
        self.device = "cuda" if self.session.get_providers()[0] == CUDA_PROVIDER else "cpu"
        self.input_names = [i.name for i in self.session.get_inputs()]

    def log_probs(self, inputs: ModelInputs) -> np.ndarray:
        """Per-step log-posteriors ``(T', V)`` for the inputs of one sequence (``(T, ...)``)."""
        return self.log_probs_batch([inputs])[0]

    def log_probs_batch(self, inputs: list[ModelInputs]) -> list[np.ndarray]:
        """Per sequence ``(T_i, ...)`` → ``(T'_i, V)``; sequences of equal shapes share one run (the graph
        serves unpadded batches only)."""
        named = [feeds(self.input_names, seq) for seq in inputs]
        groups: dict[tuple[tuple[int, ...], ...], list[int]] = {}
        for i, arrays in enumerate(named):
            groups.setdefault(tuple(a.shape for a in arrays.values()), []).append(i)
        out: list[np.ndarray] = [np.zeros(0)] * len(inputs)
        for members in groups.values():
            batch = {name: np.stack([named[i][name] for i in members]) for name in named[members[0]]}
            lp = self.session.run(None, batch)[0]  # (T', B, V)
            for row, i in enumerate(members):
                out[i] = np.asarray(lp[:, row])
        return out

    def forward_chunk(self, inputs: ModelInputs, state: ChunkState) -> tuple[np.ndarray, ChunkState]:
        """One step of the chunk graph: inputs ``(B, t, ...)``, ``(h, c)`` → ``(t', B, V)``, ``(h', c')``."""
        if self.chunk_session is None:
            raise RuntimeError(f"{self.path} was loaded without its chunk graph ({CHUNK_SUFFIX})")
        return chunk_step(self.chunk_session, inputs, state)


def _file_digest(path: Path) -> str:
    """Short SHA-256 of a file's bytes (names the cached export of a checkpoint)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(HASH_CHUNK):
            digest.update(block)
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """``$CSLR_CACHE_DIR``, else ``$XDG_CACHE_HOME/cslr`` or ``~/.cache/cslr``; temp if unwritable."""
    if os.environ.get(CACHE_ENV):
        path = Path(os.environ[CACHE_ENV])
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cslr"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        path = Path(tempfile.gettempdir()) / "cslr-cache"
        path.mkdir(parents=True, exist_ok=True)
    return path


def cached_export(model: CSLRModel, vocab: Vocabulary, checkpoint: Path) -> tuple[Path, Path | None]:
    """The verified ONNX export of ``checkpoint`` (whose weights ``model`` holds), made once and reused:
    the full-sequence graph, and for a causal model the chunk graph (kept in the cache's ``chunk/``)."""
    from cslr.export.onnx import export_onnx

    name = f"{checkpoint.stem}-{_file_digest(checkpoint)}.onnx"
    target = cache_dir() / name
    chunk_target = cache_dir() / "chunk" / name if model.streamable else None
    if not target.is_file() or (chunk_target is not None and not chunk_target.is_file()):
        log.info("exporting %s to %s for ONNX Runtime", checkpoint, target)
        tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.onnx")
        written = export_onnx(copy.deepcopy(model).cpu(), vocab, tmp)
        if chunk_target is not None and written.chunk_path is not None:
            chunk_target.parent.mkdir(parents=True, exist_ok=True)
            written.chunk_path.replace(chunk_target)
        tmp.replace(target)
    return target, chunk_target


def onnx_backend_for(
    model: CSLRModel, vocab: Vocabulary, checkpoint: Path, onnx_model: Path | None, device: str
) -> OnnxRuntimeBackend:
    """The ``BACKEND=onnx`` runtime: ``onnx_model`` if given (same vocabulary), else a cached export.

    A causal model also gets its chunk graph (``onnx_model`` with ``.chunk.onnx``), so live chunk mode
    runs on ONNX Runtime too; it must exist.
    """
    from cslr.export.onnx import read_vocab

    if onnx_model:
        path = Path(onnx_model)
        chunk_path = path.with_suffix(CHUNK_SUFFIX) if model.streamable else None
    else:
        path, chunk_path = cached_export(model, vocab, checkpoint)
    for file in (path, chunk_path):
        if file is None:
            continue
        if not file.is_file():
            raise FileNotFoundError(f"ONNX_MODEL not found: {file} (`cslr export onnx` writes both graphs)")
        if read_vocab(file) != vocab:
            raise ValueError(f"{file} was exported from a model with another vocabulary than {checkpoint}")
    return OnnxRuntimeBackend(path, device, chunk_path=chunk_path)


WARMUP_LENGTHS = (16, 64, 256)  # frames: a short clip, one live window (CLIP_LENGTH), a long clip
WARMUP_REPEATS = 3


def warmup(
    backend: LogProbsBackend, model: ModelConfig | int, lengths: tuple[int, ...] = WARMUP_LENGTHS,
    repeats: int = WARMUP_REPEATS,
) -> dict[int, list[float]]:
    """Run dummy inferences so the first real request does not pay for lazy initialisation.

    Args:
        backend: anything with ``log_probs(ModelInputs) -> (T', V)`` (a Recognizer, an ONNX backend).
        model: the model's config (dummy inputs of every stream it has: features, frames of the side
            :func:`~cslr.model.inputs.frame_side` keeps, boxes), or just ``F``, pose features per frame,
            for a pose-only model.
        lengths: sequence lengths ``T`` to run (kernels and allocators warm up per shape).
        repeats: runs per length.

    Returns:
        milliseconds of every run, per length (the first is usually the slow one).
    """
    cfg = model if isinstance(model, ModelConfig) else ModelConfig(input_dim=model)
    side = frame_side(cfg) or cfg.rgb_size
    timings: dict[int, list[float]] = {}
    for frames in lengths:
        inputs = random_inputs(cfg, frames, batch=None, image=(side, side))
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            backend.log_probs(inputs)
            runs.append((time.perf_counter() - start) * 1000.0)
        timings[frames] = runs
    return timings
