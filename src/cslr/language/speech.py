"""English text → speech as a WAV file, offline by default.

Engines, tried in this order for ``engine="auto"``:

* ``pyttsx3`` driving espeak-ng (offline; ``pip install pyttsx3`` and ``apt-get install espeak-ng``);
* ``espeak-ng`` the command-line program (offline);
* ``gtts`` — Google's online service — only when asked for by name (``engine="gtts"``): it sends the text
  over the network, so it is never chosen automatically.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

Engine = Literal["auto", "pyttsx3", "espeak-ng", "gtts"]
DEFAULT_RATE_WPM = 160  # speaking rate, words per minute
ESPEAK_TIMEOUT_S = 60


class SpeechUnavailableError(RuntimeError):
    """No speech engine could run (none installed, or the one named failed)."""


def synthesize(
    text: str, path: str | Path, engine: Engine = "auto", rate_wpm: int = DEFAULT_RATE_WPM
) -> Path:
    """Speak ``text`` into the WAV file ``path`` and return the path.

    Raises:
        ValueError: ``text`` is empty.
        ImportError: the named Python engine is not installed (the message says what to install).
        SpeechUnavailableError: no engine could produce audio.
    """
    if not text.strip():
        raise ValueError("nothing to speak: the text is empty")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if engine == "gtts":
        return _gtts(text, out)
    engines = ["pyttsx3", "espeak-ng"] if engine == "auto" else [engine]
    errors = []
    for name in engines:
        try:
            (_pyttsx3 if name == "pyttsx3" else _espeak_cli)(text, out, rate_wpm)
        except (ImportError, RuntimeError, OSError) as exc:
            if engine != "auto" and isinstance(exc, ImportError):
                raise
            errors.append(f"{name}: {exc}")
            continue
        if out.exists() and out.stat().st_size > 44:  # more than a bare WAV header
            return out
        errors.append(f"{name}: wrote no audio")
    raise SpeechUnavailableError(
        "no offline speech engine worked (install espeak-ng, e.g. `apt-get install espeak-ng`, and "
        "`pip install pyttsx3`): " + "; ".join(errors)
    )


def available_engines() -> list[str]:
    """The offline engines that look usable here (without running them)."""
    found = []
    try:
        import pyttsx3  # noqa: F401

        if shutil.which("espeak-ng") or shutil.which("espeak"):
            found.append("pyttsx3")
    except ImportError:
        pass
    if shutil.which("espeak-ng"):
        found.append("espeak-ng")
    return found


def _pyttsx3(text: str, out: Path, rate_wpm: int) -> None:
    try:
        import pyttsx3
    except ImportError as exc:
        raise ImportError("speech through pyttsx3 needs it installed: pip install pyttsx3") from exc
    try:
        voice = pyttsx3.init("espeak")
    except Exception as exc:  # the driver raises whatever its native library does
        raise RuntimeError(f"pyttsx3 could not start espeak: {exc}") from exc
    voice.setProperty("rate", rate_wpm)
    voice.save_to_file(text, str(out))
    voice.runAndWait()
    voice.stop()


def _espeak_cli(text: str, out: Path, rate_wpm: int) -> None:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    result = subprocess.run(
        [exe, "-s", str(rate_wpm), "-w", str(out), "--", text],
        capture_output=True,
        timeout=ESPEAK_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"espeak-ng failed: {result.stderr.decode(errors='replace').strip()}")


def _gtts(text: str, out: Path) -> Path:
    """Online: Google Translate's TTS (MP3), converted to WAV with PyAV."""
    try:
        from gtts import gTTS
    except ImportError as exc:
        raise ImportError("the online gtts engine needs it installed: pip install gTTS") from exc
    with tempfile.TemporaryDirectory() as tmp:
        mp3 = Path(tmp) / "speech.mp3"
        gTTS(text).save(str(mp3))
        _mp3_to_wav(mp3, out)
    return out


def _mp3_to_wav(src: Path, dst: Path) -> None:
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format="wav") as outp:
        stream = outp.add_stream("pcm_s16le", rate=inp.streams.audio[0].rate)
        for frame in inp.decode(audio=0):
            for packet in stream.encode(frame):
                outp.mux(packet)
        for packet in stream.encode(None):
            outp.mux(packet)
