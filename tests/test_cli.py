"""The ``cslr`` command line: real runs, and a clear message with a non-zero exit for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cslr.cli import EXIT_BAD_INPUT, main


def test_version_through_python_m() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cslr", "--version"], capture_output=True, text=True, check=True
    )
    from cslr import __version__

    assert out.stdout.strip() == __version__


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("empty.mp4", b"", "empty"),
        ("notes.mp4", b"plain text, not a video\n" * 20, "video"),
        ("clip.xyz", b"abc", "unsupported"),
    ],
)
def test_recognize_bad_file_exits_with_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, needle: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["recognize", str(path)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert needle in err.lower()
    assert "Traceback" not in err


def test_recognize_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recognize", str(tmp_path / "nope.mp4")]) == EXIT_BAD_INPUT
    assert "no such file" in capsys.readouterr().err


def test_recognize_empty_frame_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "frames").mkdir()
    assert main(["recognize", str(tmp_path / "frames")]) == EXIT_BAD_INPUT
    assert "no frames" in capsys.readouterr().err.lower()


@pytest.mark.slow
def test_recognize_truncated_video(
    tmp_path: Path, real_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = real_video.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 8])
    assert main(["recognize", str(path)]) == EXIT_BAD_INPUT
    assert "video" in capsys.readouterr().err.lower()


@pytest.mark.slow
def test_recognize_real_video_json(real_video: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recognize", str(real_video), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"gloss", "sentence", "confidence", "frame_count", "fps", "segments"} <= set(result)
    assert result["fps"] == 25.0
    assert result["frame_count"] > 25
