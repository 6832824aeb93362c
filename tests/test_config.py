from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from lbi.config import ConfigError, check_range, from_dict, load_yaml


@dataclass(frozen=True)
class Inner:
    size: tuple[int, int] = (2, 3)
    name: str = "a"


@dataclass(frozen=True)
class Outer:
    lr: float = 0.1
    steps: int = 3
    tags: tuple[str, ...] = ()
    inner: Inner = Inner()
    path: str | None = None

    def __post_init__(self) -> None:
        check_range("lr", self.lr, 0.0, lo_open=True)


def test_builds_nested_and_converts_lists():
    o = from_dict(Outer, {"lr": 1, "tags": ["x", "y"], "inner": {"size": [4, 5]}})
    assert o == Outer(lr=1.0, tags=("x", "y"), inner=Inner(size=(4, 5)))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"lrr": 0.1}, r"params.yaml: unknown key\(s\) \['train.lrr'\]"),
        ({"inner": {"nme": "b"}}, r"unknown key\(s\) \['train.inner.nme'\]"),
        ({"steps": 1.5}, r"key 'train.steps': expected an integer"),
        ({"steps": True}, r"key 'train.steps': expected an integer"),
        ({"inner": {"size": [1, 2, 3]}}, r"key 'train.inner.size': expected 2 items"),
        ({"lr": 0.0}, r"params.yaml: section 'train': 'lr' = 0.0 must be > 0.0"),
        ({"path": 3}, r"key 'train.path'"),
    ],
)
def test_rejects_with_file_and_key(data, match):
    with pytest.raises(ConfigError, match=match):
        from_dict(Outer, data, where="params.yaml", prefix="train.")


def test_repo_params_yaml_loads():
    """Every config file the repository ships loads with the strict loader."""
    from lbi.params import load_params

    root = Path(__file__).resolve().parents[1]
    p = load_params(root / "params.yaml")
    assert p.data.dataset == "embedded"
    assert p.model.input_hw == p.embedded.crop_hw, "model input must match the rendered crop size"


def test_params_unknown_section_and_key(tmp_path):
    from lbi.params import load_params

    root = Path(__file__).resolve().parents[1]
    data = load_yaml(root / "params.yaml")
    data["prune"]["rr"] = 0.5
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"params.yaml: unknown key\(s\) \['prune.rr'\]"):
        load_params(f)
    data["prune"] = {"r": 1.5}
    f.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"'r' = 1.5 must be <= 1.0"):
        load_params(f)
