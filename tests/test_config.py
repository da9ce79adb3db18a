"""Configs: every shipped recipe builds, unknown keys fail by name, overrides and round trips."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cslr.config import (
    ConfigError,
    ExperimentConfig,
    ModelConfig,
    apply_overrides,
    config_from_dict,
    load_config,
    save_config,
)
from cslr.model.network import CSLRModel

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_recipes_exist() -> None:
    names = {p.name for p in CONFIGS}
    assert {"synth-tiny.yaml", "asl-default.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_builds_a_model(path: Path) -> None:
    cfg = load_config(path)
    model = CSLRModel(dataclasses.replace(cfg.model, vocab_size=5))
    assert sum(p.numel() for p in model.parameters()) > 0


def test_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  hiden_size: 12\n")
    with pytest.raises(ConfigError, match=r"model\.hiden_size"):
        load_config(path)


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("optimiser:\n  lr: 1\n")
    with pytest.raises(ConfigError, match="optimiser"):
        load_config(path)


def test_wrong_type_and_bad_value_are_errors() -> None:
    with pytest.raises(ConfigError, match="hidden_size"):
        config_from_dict({"model": {"hidden_size": "big"}})
    with pytest.raises(ConfigError, match="temporal"):
        config_from_dict({"model": {"temporal": "gru"}})


def test_yaml_round_trip(tmp_path: Path) -> None:
    cfg = ExperimentConfig(name="x", model=ModelConfig(temporal="causal", stride=2, vocab_size=7))
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg


def test_overrides_replace_without_mutating() -> None:
    cfg = ExperimentConfig()
    new = apply_overrides(cfg, {"train.epochs": "3", "model.temporal": "causal", "name": "y"})
    assert (new.train.epochs, new.model.temporal, new.name) == (3, "causal", "y")
    assert cfg.train.epochs != 3
    with pytest.raises(ConfigError, match=r"train\.epoch"):
        apply_overrides(cfg, {"train.epoch": 3})
