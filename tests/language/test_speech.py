"""Offline speech: a real WAV with sound in it."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from cslr.language.speech import available_engines, synthesize

MIN_SECONDS = 0.3
MIN_RMS = 100  # 16-bit samples: silence is ~0


def _need_engine(name: str) -> None:
    if name not in available_engines():
        pytest.skip(f"speech engine {name} not available (apt-get install espeak-ng; pip install pyttsx3)")


@pytest.mark.parametrize("engine", ["pyttsx3", "espeak-ng"])
def test_writes_a_valid_non_silent_wav(tmp_path: Path, engine: str) -> None:
    _need_engine(engine)
    out = synthesize("Hello, thank you!", tmp_path / "out.wav", engine=engine)  # type: ignore[arg-type]
    with wave.open(str(out)) as w:
        assert w.getsampwidth() == 2
        seconds = w.getnframes() / w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    assert seconds > MIN_SECONDS
    assert np.sqrt(np.mean(samples.astype(np.float64) ** 2)) > MIN_RMS


def test_empty_text_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        synthesize("  ", tmp_path / "x.wav")
