"""Caption buffer: merging overlapping windows, endpoints, bounded history."""

from __future__ import annotations

from cslr.language.captions import (
    CaptionState,
    TimedGloss,
    add_window,
    commit,
    is_endpoint,
    partial_text,
    step,
)

G = TimedGloss


def test_overlapping_windows_do_not_duplicate() -> None:
    s = add_window(CaptionState(), [G("ME", 5, 10), G("NAME", 20, 26)], 0, 32)
    s = add_window(s, [G("NAME", 21, 27), G("J-O-H-N", 40, 48)], 16, 48)
    assert [g.gloss for g in s.pending] == ["ME", "NAME", "J-O-H-N"]
    assert partial_text(s) == "My name is John."


def test_glosses_before_the_window_are_kept_and_inside_are_revised() -> None:
    s = add_window(CaptionState(), [G("ME", 5, 10), G("HAPPY", 20, 26)], 0, 32)
    s = add_window(s, [G("SAD", 20, 26)], 16, 48)  # the newer window re-reads 20-26
    assert [g.gloss for g in s.pending] == ["ME", "SAD"]


def test_repeated_sign_at_new_time_is_kept() -> None:
    s = add_window(CaptionState(), [G("BOOK", 5, 10)], 0, 32)
    s = add_window(s, [G("BOOK", 5, 10), G("BOOK", 30, 36)], 0, 40)
    assert [g.gloss for g in s.pending] == ["BOOK", "BOOK"]


def test_endpoint_by_pause_and_by_hands_down() -> None:
    s = add_window(CaptionState(pause_frames=10), [G("HELLO", 0, 5)], 0, 12)
    assert not is_endpoint(s)
    assert is_endpoint(s, hands_down=True)
    s = add_window(s, [], 8, 16)
    assert is_endpoint(s)


def test_commit_and_no_reentry_of_committed_glosses() -> None:
    s, out = step(CaptionState(pause_frames=10), [G("HELLO", 0, 5), G("THANKYOU", 6, 9)], 0, 30)
    assert out == "Hello, thank you!" and s.pending == () and s.history == ("Hello, thank you!",)
    s, out = step(s, [G("THANKYOU", 6, 9)], 0, 31)  # an old window reporting the same sign again
    assert out is None and s.pending == ()


def test_history_is_bounded() -> None:
    s = CaptionState(max_history=3)
    for i in range(6):
        s = add_window(s, [G("HELLO", 100 * i, 100 * i + 5)], 100 * i, 100 * i + 10)
        s, _ = commit(s)
    assert len(s.history) == 3


def test_state_is_not_mutated() -> None:
    s0 = CaptionState()
    add_window(s0, [G("HELLO", 0, 5)], 0, 10)
    assert s0.pending == ()
