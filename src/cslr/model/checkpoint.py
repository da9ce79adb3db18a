"""Checkpoints: weights plus everything needed to rebuild the model (configs, vocabulary).

Files are plain ``torch.save`` dictionaries of tensors and builtins, so they load with
``torch.load(weights_only=True)`` (no arbitrary code runs when a checkpoint is opened).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cslr.config import ExperimentConfig, config_from_dict, config_to_dict
from cslr.data.vocab import Vocabulary
from cslr.model.network import CSLRModel

CHECKPOINT_FORMAT = 1
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "assets" / "default" / "model.pt"
_REQUIRED_KEYS = ("format", "config", "vocab", "state_dict")


class CheckpointError(ValueError):
    """A checkpoint file that exists but cannot be read as a cslr checkpoint."""


def default_checkpoint_path() -> Path:
    """Path of the model bundled with the package (``cslr/assets/default/model.pt``)."""
    return DEFAULT_CHECKPOINT


def save_checkpoint(
    path: str | Path,
    model: CSLRModel,
    cfg: ExperimentConfig,
    vocab: Vocabulary,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write weights, ``asdict(cfg)``, the vocabulary and ``extra`` (builtins only) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": config_to_dict(cfg),
        "vocab": vocab.to_list(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # never leave a half-written checkpoint under the real name
    return path


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[CSLRModel, ExperimentConfig, Vocabulary, dict[str, Any]]:
    """Rebuild the model from a checkpoint; it is returned in eval mode.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is not a readable cslr checkpoint.
    """
    payload = _read(Path(path), map_location)
    try:
        cfg = config_from_dict(payload["config"])
        vocab = Vocabulary.from_list(payload["vocab"])
        model = CSLRModel(cfg.model, pretrained=False)  # issue 4: the saved weights follow
        model.load_state_dict(payload["state_dict"])
    except (ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path}: inconsistent checkpoint: {exc}") from exc
    if cfg.model.vocab_size != len(vocab):
        raise CheckpointError(f"{path}: model has {cfg.model.vocab_size} outputs but vocabulary {len(vocab)}")
    model.to(map_location).eval()
    return model, cfg, vocab, dict(payload.get("extra") or {})


def _read(path: Path, map_location: str | torch.device) -> dict[str, Any]:
    """The raw checkpoint dictionary, with clear errors for missing or corrupt files."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files (pickle, zip, runtime)
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or any(k not in payload for k in _REQUIRED_KEYS):
        raise CheckpointError(f"{path}: not a cslr checkpoint (expected keys {_REQUIRED_KEYS})")
    if payload["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: unsupported checkpoint format {payload['format']!r}")
    return payload
