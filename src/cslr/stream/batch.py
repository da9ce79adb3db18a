"""Model steps for many streams at once: one batched forward per mode and chunk length.

:func:`run_streams` is the whole model side of live recognition; the server's worker thread and
:meth:`cslr.inference.InferenceService.process_frame_stream` both call it. Chunk-mode streams are stacked
``(B, t, 300)`` with their LSTM states concatenated along the batch axis and run through
``model.forward_chunk``; window-mode streams are padded to ``(B, T, 300)`` and run through ``model``.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import torch

from cslr.model.temporal import CausalLSTMEncoder, LSTMState
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
    groups: dict[int, list[tuple[Stream, np.ndarray]]] = defaultdict(list)
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


@torch.inference_mode()
def forward_chunks(
    recognizer: Recognizer, chunks: list[np.ndarray], states: list[LSTMState | None]
) -> tuple[list[np.ndarray], list[LSTMState]]:
    """One ``forward_chunk`` call for ``B`` streams.

    Args:
        recognizer: holds the causal model.
        chunks: ``B`` feature arrays of equal shape ``(t, 300)``.
        states: each stream's ``(h, c)``, each ``(layers, 1, hidden)``, or None for a new stream.

    Returns:
        per stream, log-probs ``(t', V)`` as numpy and the new state.
    """
    model, device = recognizer.model, recognizer.device
    x = torch.from_numpy(np.stack(chunks)).to(device)
    encoder: CausalLSTMEncoder = model.encoder  # type: ignore[assignment]  # forward_chunk checks it
    full = [s if s is not None else encoder.initial_state(1, device) for s in states]
    h = torch.cat([s[0] for s in full], dim=1)
    c = torch.cat([s[1] for s in full], dim=1)
    with torch.autocast(device.type, enabled=recognizer.use_amp):
        log_probs, (h, c) = model.forward_chunk(x, (h, c))
    out = log_probs.float().cpu().numpy()
    return ([out[:, i] for i in range(len(chunks))],
            [(h[:, i : i + 1].clone(), c[:, i : i + 1].clone()) for i in range(len(chunks))])


def _run_windows(recognizer: Recognizer, streams: list[Stream]) -> dict[Stream, list[StreamResult]]:
    """One padded ``model(...)`` call over every due window."""
    windows = [s.next_window() for s in streams]
    start = time.perf_counter()
    log_probs = log_probs_batch(recognizer, windows)
    model_ms = (time.perf_counter() - start) * MS_PER_S
    return {s: s.push_window(lp, model_ms) for s, lp in zip(streams, log_probs, strict=True)}


@torch.inference_mode()
def log_probs_batch(recognizer: Recognizer, features: list[np.ndarray]) -> list[np.ndarray]:
    """Per sequence log-probs ``(T'_i, V)`` for features ``(T_i, 300)`` (empty ones give ``(0, V)``)."""
    vocab = len(recognizer.vocab)
    out: list[np.ndarray] = [np.zeros((0, vocab), np.float32)] * len(features)
    live = [i for i, f in enumerate(features) if len(f)]
    if not live:
        return out
    longest = max(len(features[i]) for i in live)
    x = np.zeros((len(live), longest, features[live[0]].shape[1]), np.float32)
    for row, i in enumerate(live):
        x[row, : len(features[i])] = features[i]
    lengths = torch.tensor([len(features[i]) for i in live], device=recognizer.device)
    with torch.autocast(recognizer.device.type, enabled=recognizer.use_amp):
        result = recognizer.model(torch.from_numpy(x).to(recognizer.device), lengths)
    lp = result.log_probs.float().cpu().numpy()
    for row, i in enumerate(live):
        out[i] = lp[: int(result.out_lengths[row]), row]
    return out
