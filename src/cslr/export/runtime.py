"""ONNX Runtime inference for serving, with the ``log_probs`` interface of :class:`~cslr.stream.Recognizer`.

Selected with ``BACKEND=onnx`` (``ONNX_MODEL`` names an exported file; without it the served checkpoint is
exported, and verified, into a cache folder on first start). ``DEVICE`` picks the execution provider
(``cuda`` needs ``onnxruntime-gpu``); ``USE_AMP`` has no effect here: mixed precision is a PyTorch feature,
an fp32 graph runs in fp32.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from cslr.data.vocab import Vocabulary
from cslr.export.graphs import FEATURES
from cslr.model.network import CSLRModel

log = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
CACHE_ENV = "CSLR_CACHE_DIR"
HASH_CHUNK = 1 << 20


class LogProbsBackend(Protocol):
    """Anything that maps features ``(T, F)`` to per-step log-posteriors ``(T', V)``."""

    def log_probs(self, features: np.ndarray) -> np.ndarray: ...


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
    """Runs an exported full-sequence graph (see :mod:`cslr.export.onnx`) with ONNX Runtime.

    Args:
        path: the ``.onnx`` file written by ``cslr export onnx``.
        device: ``cpu``, ``cuda`` or ``auto``.
        threads: intra-op threads; 0 lets ONNX Runtime choose (one per physical core).
    """

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("BACKEND=onnx needs the onnx extra: pip install 'cslr[onnx]'") from exc
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        self.path = Path(path)
        self.providers = select_providers(device, ort.get_available_providers())
        self.session = ort.InferenceSession(str(self.path), options, providers=self.providers)
        self.device = "cuda" if self.session.get_providers()[0] == CUDA_PROVIDER else "cpu"

    def log_probs(self, features: np.ndarray) -> np.ndarray:
        """Per-step log-posteriors ``(T', V)`` for one sequence of features ``(T, F)`` (float32)."""
        x = np.ascontiguousarray(features, dtype=np.float32)[None]
        return np.asarray(self.session.run(None, {FEATURES: x})[0][:, 0])


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


def cached_export(model: CSLRModel, vocab: Vocabulary, checkpoint: Path) -> Path:
    """The verified ONNX export of ``checkpoint`` (whose weights ``model`` holds), made once and reused."""
    from cslr.export.onnx import export_onnx

    target = cache_dir() / f"{checkpoint.stem}-{_file_digest(checkpoint)}.onnx"
    if not target.is_file():
        log.info("exporting %s to %s for ONNX Runtime", checkpoint, target)
        tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.onnx")
        export_onnx(copy.deepcopy(model).cpu(), vocab, tmp, chunk=False)
        tmp.replace(target)
    return target


def onnx_backend_for(
    model: CSLRModel, vocab: Vocabulary, checkpoint: Path, onnx_model: Path | None, device: str
) -> OnnxRuntimeBackend:
    """The ``BACKEND=onnx`` runtime: ``onnx_model`` if given (same vocabulary), else a cached export."""
    from cslr.export.onnx import read_vocab

    path = Path(onnx_model) if onnx_model else cached_export(model, vocab, checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX_MODEL not found: {path}")
    if read_vocab(path) != vocab:
        raise ValueError(f"{path} was exported from a model with another vocabulary than {checkpoint}")
    return OnnxRuntimeBackend(path, device)


WARMUP_LENGTHS = (16, 64, 256)  # frames: a short clip, one live window (CLIP_LENGTH), a long clip
WARMUP_REPEATS = 3


def warmup(
    backend: LogProbsBackend, feature_dim: int, lengths: tuple[int, ...] = WARMUP_LENGTHS,
    repeats: int = WARMUP_REPEATS,
) -> dict[int, list[float]]:
    """Run dummy inferences so the first real request does not pay for lazy initialisation.

    Args:
        backend: anything with ``log_probs(features (T, F)) -> (T', V)`` (a Recognizer, an ONNX backend).
        feature_dim: ``F``, features per frame.
        lengths: sequence lengths ``T`` to run (kernels and allocators warm up per shape).
        repeats: runs per length.

    Returns:
        milliseconds of every run, per length (the first is usually the slow one).
    """
    rng = np.random.default_rng(0)
    timings: dict[int, list[float]] = {}
    for frames in lengths:
        features = rng.standard_normal((frames, feature_dim)).astype(np.float32)
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            backend.log_probs(features)
            runs.append((time.perf_counter() - start) * 1000.0)
        timings[frames] = runs
    return timings
