"""Streaming best-path CTC decoding: log-probabilities arrive a chunk at a time, the past is never re-decoded.

Feeding ``(T, V)`` log-probabilities in any split gives exactly the labels, frames and confidences of
:func:`cslr.decode.ctc.greedy_decode` over the whole ``(T, V)``: each step only extends or closes the
current run of equal argmax tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cslr.decode.ctc import BLANK_ID, Hypothesis


@dataclass(frozen=True)
class TokenSpan:
    """One emitted label: model steps ``[start, end)`` (absolute in the stream) and mean posterior."""

    token: int
    start: int
    end: int
    confidence: float


class StreamingGreedyDecoder:
    """Incremental :func:`~cslr.decode.ctc.greedy_decode`; :meth:`take` hands closed labels to the caller.

    Args:
        blank_id: index of the CTC blank.
    """

    def __init__(self, blank_id: int = BLANK_ID) -> None:
        self.blank_id = blank_id
        self.reset()

    def reset(self) -> None:
        """Start from step 0 with nothing decoded."""
        self.steps = 0  # log-prob frames consumed
        self._closed: list[TokenSpan] = []
        self._run_token = -1
        self._run_start = 0
        self._run_prob_sum = 0.0
        self._last_label_end = 0  # step after the last non-blank frame

    def push(self, log_probs: np.ndarray) -> None:
        """Consume the next ``(n, V)`` log-probabilities."""
        if len(log_probs) == 0:
            return
        best = log_probs.argmax(axis=1)
        probs = np.exp(log_probs[np.arange(len(best)), best].astype(np.float64))
        for token, prob in zip(best.tolist(), probs.tolist(), strict=True):
            self._step(token, prob)

    def _step(self, token: int, prob: float) -> None:
        if token != self._run_token:
            self._close_run()
            self._run_token, self._run_start, self._run_prob_sum = token, self.steps, 0.0
        self._run_prob_sum += prob
        self.steps += 1
        if token != self.blank_id:
            self._last_label_end = self.steps

    def _close_run(self) -> None:
        if self._run_token >= 0 and self._run_token != self.blank_id:
            count = self.steps - self._run_start
            self._closed.append(TokenSpan(self._run_token, self._run_start, self.steps,
                                          self._run_prob_sum / count))

    def spans(self) -> list[TokenSpan]:
        """Labels not yet taken: the closed ones and the open run (which may still grow)."""
        spans = list(self._closed)
        if self._run_token >= 0 and self._run_token != self.blank_id:
            count = self.steps - self._run_start
            spans.append(TokenSpan(self._run_token, self._run_start, self.steps, self._run_prob_sum / count))
        return spans

    def take(self) -> list[TokenSpan]:
        """Return and forget every label so far, the open run included (the next frame starts a new run)."""
        spans = self.spans()
        self._closed = []
        if self._run_token != self.blank_id:
            self._run_token = -1
        return spans

    def trailing_blank_steps(self) -> int:
        """Steps since the last non-blank frame (all steps when none was seen)."""
        return self.steps - self._last_label_end

    def hypothesis(self) -> Hypothesis:
        """The labels not yet taken as a :class:`~cslr.decode.ctc.Hypothesis` (score not tracked: 0)."""
        spans = self.spans()
        return Hypothesis(
            tuple(s.token for s in spans), tuple(s.confidence for s in spans),
            tuple(s.start for s in spans), tuple(s.end for s in spans), 0.0,
        )
