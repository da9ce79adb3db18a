"""Live captions: merge the glosses of overlapping recognition windows into sentences.

The one home of caption logic: :class:`cslr.stream.session.Stream` keeps a :class:`CaptionState` per
connection and feeds it every model step (a sliding window, or in chunk mode the streaming decoder's
reading of the utterance so far); its partial and final captions are this module's pending glosses and
committed sentences.

The state is an explicit frozen :class:`CaptionState`; every function returns a new one (one state per
live connection, nothing global). Glosses carry absolute frame spans, which is what makes merging safe:

* a gloss whose span overlaps a kept gloss with the same label is the same sign seen again (not added);
* glosses that lie wholly inside a newer window are replaced by that window's reading (it saw more
  context); glosses that started before the window are kept (the window cannot judge them);
* at an endpoint (a pause with no new gloss for ``pause_frames``, or hands down, told by the caller)
  the pending glosses become a sentence in the bounded history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from cslr.language.grammar import Lang, glosses_to_english

DEFAULT_MAX_HISTORY = 20  # committed sentences kept
DEFAULT_PAUSE_FRAMES = 25  # one second at 25 fps with no new gloss ends a sentence


@dataclass(frozen=True)
class TimedGloss:
    """A gloss with its absolute frame span ``[start, end)`` and the decoder's confidence in it."""

    gloss: str
    start: int
    end: int
    confidence: float = 1.0


@dataclass(frozen=True)
class CaptionState:
    """Pending glosses of the sentence being signed, committed sentences, and the last frame seen."""

    pending: tuple[TimedGloss, ...] = ()
    history: tuple[str, ...] = ()
    last_frame: int = 0
    lang: Lang = "asl"
    max_history: int = DEFAULT_MAX_HISTORY
    pause_frames: int = DEFAULT_PAUSE_FRAMES
    committed_glosses: tuple[tuple[str, ...], ...] = field(default=(), repr=False)
    committed_until: int = -1  # end frame of the last committed gloss: older readings are not re-added


def add_window(
    state: CaptionState, glosses: Sequence[TimedGloss], window_start: int, window_end: int
) -> CaptionState:
    """Merge one window's decoded glosses (absolute frames) covering ``[window_start, window_end)``."""
    kept = [g for g in state.pending if g.start < window_start]
    for g in sorted(glosses, key=lambda g: g.start):
        if g.start < state.committed_until:
            continue
        if any(k.gloss == g.gloss and k.start < g.end and g.start < k.end for k in kept):
            continue
        if kept and g.start < kept[-1].end and g.gloss != kept[-1].gloss and g.start < window_start:
            continue
        kept.append(g)
    return replace(state, pending=tuple(kept), last_frame=max(state.last_frame, window_end))


def is_endpoint(state: CaptionState, hands_down: bool = False) -> bool:
    """Whether the current sentence is over: hands down, or no gloss for ``pause_frames`` frames."""
    if not state.pending:
        return False
    return hands_down or state.last_frame - state.pending[-1].end >= state.pause_frames


def commit(state: CaptionState) -> tuple[CaptionState, str]:
    """End the current sentence: translate the pending glosses, append to the bounded history."""
    if not state.pending:
        return state, ""
    glosses = tuple(g.gloss for g in state.pending)
    sentence = glosses_to_english(glosses, state.lang)
    history = (*state.history, sentence)[-state.max_history :]
    done = (*state.committed_glosses, glosses)[-state.max_history :]
    until = max(state.committed_until, state.pending[-1].end)
    return replace(
        state, pending=(), history=history, committed_glosses=done, committed_until=until
    ), sentence


def partial_text(state: CaptionState) -> str:
    """The live caption of the sentence being signed (translated so far)."""
    return glosses_to_english([g.gloss for g in state.pending], state.lang) if state.pending else ""


def step(
    state: CaptionState,
    glosses: Sequence[TimedGloss],
    window_start: int,
    window_end: int,
    hands_down: bool = False,
) -> tuple[CaptionState, str | None]:
    """Add a window, then commit when at an endpoint. Returns the new state and the committed sentence
    (``None`` when the sentence goes on)."""
    state = add_window(state, glosses, window_start, window_end)
    if is_endpoint(state, hands_down):
        state, sentence = commit(state)
        return state, sentence
    return state, None
