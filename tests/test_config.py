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
    data["prune"] = {"retention": 1.5}
    f.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"'retention' = 1.5 must be <= 1.0"):
        load_params(f)


def _sections() -> list[str]:
    import dataclasses

    from lbi.params import Params

    return [f.name for f in dataclasses.fields(Params)]


@pytest.mark.parametrize("name", _sections())
def test_params_yaml_equals_dataclass_defaults(name):
    """Defaults live in one place: each params.yaml section equals Params()'s (no drift)."""
    from lbi.params import Params, load_params

    root = Path(__file__).resolve().parents[1]
    assert getattr(load_params(root / "params.yaml"), name) == getattr(Params(), name)


def _repo_params() -> dict:
    return load_yaml(Path(__file__).resolve().parents[1] / "params.yaml")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda d: d["prune"].pop("retention"),
            r"missing key\(s\) \['prune.retention'\]; add under 'prune:' retention: 0.3",
        ),
        (
            lambda d: d["train_stage1"].pop("batch_size"),
            r"missing key\(s\) \['train_stage1.batch_size'\]; add under 'train_stage1:' batch_size: 64",
        ),
        (  # a nested section names the section's own default (not TrainConfig()'s)
            lambda d: d["pretrain2d"]["train"].pop("lr_decay"),
            r"\['pretrain2d.train.lr_decay'\]; add under 'pretrain2d.train:' lr_decay: 0.8",
        ),
        (
            lambda d: d["model"].pop("input_hw"),
            r"\['model.input_hw'\]; add under 'model:' input_hw: \[64, 48\]",
        ),
        (lambda d: d.pop("lifter"), r"missing section\(s\) \['lifter'\]; add at the top level"),
        (
            lambda d: d["model"].update(retention=0.5),
            r"'model.retention' is set by 'prune.retention'; remove it",
        ),
        (lambda d: d.update(baseline=d.pop("lifter")), r"unknown key\(s\) \['baseline'\]"),
    ],
)
def test_params_missing_key_is_an_error(tmp_path, edit, match):
    """No silent class defaults: the file says what ran, or loading fails naming the key."""
    from lbi.params import load_params

    data = _repo_params()
    edit(data)
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"params.yaml: .*" + match):
        load_params(f)


def test_model_retention_comes_from_prune(tmp_path):
    from lbi.params import load_params

    data = _repo_params()
    data["prune"]["retention"] = 0.5
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(data))
    p = load_params(f)
    assert p.prune.retention == p.model.retention == p.lifter.model.retention == 0.5


def test_duplicate_key_names_key_and_line(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("prune:\n  retention: 0.3\nmodel:\n  dim: 64\n  dim: 128\n")
    with pytest.raises(ConfigError, match=r"params.yaml: line 5: duplicate key 'dim'"):
        load_yaml(f)
    f.write_text("prune:\n  retention: 0.3\nprune:\n  retention: 0.5\n")
    with pytest.raises(ConfigError, match=r"line 3: duplicate key 'prune'"):
        load_yaml(f)


def test_not_utf8_is_one_line_error(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_bytes("model:\n  arch: lbi  # caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"params.yaml: not UTF-8 text .*save it as UTF-8") as e:
        load_yaml(f)
    assert "\n" not in str(e.value)
