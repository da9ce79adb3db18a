"""Model steps for many streams at once: one batched forward per mode and chunk length.

:func:`run_streams` is the whole model side of live recognition; the server's worker thread and
:meth:`cslr.inference.InferenceService.process_frame_stream` both call it. Chunk-mode streams are stacked
``(B, t, ...)`` (features, and frames for an RGB model) with their LSTM states concatenated along the
batch axis and run through the recognizer's ``forward_chunk``; window-mode streams go through its
``log_probs_batch`` (padded to ``(B, T, ...)`` for PyTorch). Either runs on the recognizer's backend:
PyTorch, or ONNX Runtime with ``BACKEND=onnx``.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from cslr.export.runtime import ChunkState
from cslr.model.inputs import ModelInputs
from cslr.stream.recognizer import Recognizer
from cslr.stream.session import Stream, StreamResult

MS_PER_S = 1000.0


def run_streams(recognizer: Recognizer, streams: list[Stream]) -> dict[Stream, list[StreamResult]]:
    """Run one model step for each ready stream (batched) and return each stream's new results."""
    results: dict[Stream, list[StreamResult]] = {}
    chunked = [s for s in streams if s.config.mode == "chunk"]
    windowed = [s for s in streams if s.config.mode == "window"]
    if chunked:
        results.update(_run_chunks(recognizer, chunked))
    if windowed:
        results.update(_run_windows(recognizer, windowed))
    return results


def _run_chunks(recognizer: Recognizer, streams: list[Stream]) -> dict[Stream, list[StreamResult]]:
    """``forward_chunk`` over streams grouped by chunk length (equal lengths share one call)."""
    groups: dict[int, list[tuple[Stream, ModelInputs]]] = defaultdict(list)
    for stream in streams:
        rows = stream.next_chunk()
        groups[len(rows)].append((stream, rows))
    results: dict[Stream, list[StreamResult]] = {}
    for length, members in groups.items():
        if length == 0:  # a finishing stream with nothing left: commit without a model step
            for stream, _ in members:
                results[stream] = stream.push_chunk(np.zeros((0, len(recognizer.vocab)), np.float32),
                                                    stream.state, 0.0)
            continue
        start = time.perf_counter()
        log_probs, states = forward_chunks(recognizer, [rows for _, rows in members],
                                           [s.state for s, _ in members])
        model_ms = (time.perf_counter() - start) * MS_PER_S
        for (stream, _), lp, state in zip(members, log_probs, states, strict=True):
            results[stream] = stream.push_chunk(lp, state, model_ms)
    return results


def forward_chunks(
    recognizer: Recognizer, chunks: list[ModelInputs], states: list[ChunkState | None]
) -> tuple[list[np.ndarray], list[ChunkState]]:
    """One :meth:`Recognizer.forward_chunk` call (PyTorch or ONNX Runtime) for ``B`` streams.

    Args:
        recognizer: holds the causal model (and the runtime, where one is configured).
        chunks: ``B`` streams' inputs of equal length ``t``.
        states: each stream's ``(h, c)``, each ``(layers, 1, hidden)``, or None for a new stream.

    Returns:
        per stream, log-probs ``(t', V)`` and the new state.
    """
    fresh = recognizer.chunk_state(1)
    full = [s if s is not None else fresh for s in states]
    state = (np.concatenate([s[0] for s in full], axis=1), np.concatenate([s[1] for s in full], axis=1))
    log_probs, (h, c) = recognizer.forward_chunk(ModelInputs.stack(chunks)[0], state)
    return ([log_probs[:, i] for i in range(len(chunks))],
            [(h[:, i : i + 1].copy(), c[:, i : i + 1].copy()) for i in range(len(chunks))])


def _run_windows(recognizer: Recognizer, streams: list[Stream]) -> dict[Stream, list[StreamResult]]:
    """One padded ``model(...)`` call over every due window."""
    windows = [s.next_window() for s in streams]
    start = time.perf_counter()
    log_probs = recognizer.log_probs_batch(windows)
    model_ms = (time.perf_counter() - start) * MS_PER_S
    return {s: s.push_window(lp, model_ms) for s, lp in zip(streams, log_probs, strict=True)}
