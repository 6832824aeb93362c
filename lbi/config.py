"""Strict ``params.yaml`` -> frozen dataclasses.

Every section of ``params.yaml`` maps one-to-one onto a frozen dataclass owned by the
module that uses it (``EmbeddedConfig`` in :mod:`lbi.data.embedded`, ``ModelConfig`` in
:mod:`lbi.model.config`, ``TrainConfig`` in :mod:`lbi.train`, ...). :func:`from_dict`
builds one from a mapping, and rejects unknown keys, wrong types and out-of-range values
(each dataclass validates its ranges in ``__post_init__``) with an error that names the
file and the dotted key, so a typo never silently falls back to a default. With
``complete=True`` (how :func:`lbi.params.load_params` reads a params file) a missing section
or key is an error too, naming the dotted key and the line to add: the file, not a class
default, says what ran. :func:`load_yaml` rejects a duplicate key (naming it and its
line) and a file that is not UTF-8.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A params file is unreadable, or has an unknown, missing or duplicate key, a wrong
    type or an out-of-range value."""


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, line: int) -> None:
        super().__init__(f"duplicate key {key!r} on line {line}")
        self.key, self.line = key, line


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key repeated in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping strictly (:class:`StrictLoader`); errors name the file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path}: not UTF-8 text (bad byte at offset {e.start}); save it as UTF-8"
        ) from None
    try:
        data = yaml.load(text, Loader=StrictLoader) or {}  # a SafeLoader
    except _DuplicateKey as e:
        raise ConfigError(
            f"{path}: line {e.line}: duplicate key {e.key!r} (YAML would keep only the last "
            "one); remove one of them"
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _convert(
    value: Any, tp: Any, key: str, where: str, complete: bool = False, default: Any = None
) -> Any:
    """Convert ``value`` to type ``tp`` (a typing annotation) or raise ConfigError.

    ``default``: the field's default (for a nested dataclass, named in missing-key errors).
    """
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, where, complete, default)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: key '{key}': {value!r} matches none of {tp}")
    if origin is typing.Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where}: key '{key}': {value!r} is not one of {get_args(tp)}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(
                f"{where}: key '{key}': expected a mapping, got {type(value).__name__}"
            )
        return from_dict(
            tp, value, where=where, prefix=f"{key}.", complete=complete, defaults=default
        )
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: key '{key}': expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{key}[{i}]", where) for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: key '{key}': expected {len(args)} items, got {len(value)}")
        return tuple(
            _convert(v, a, f"{key}[{i}]", where)
            for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    if origin is dict:
        kt, vt = get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(
                f"{where}: key '{key}': expected a mapping, got {type(value).__name__}"
            )
        return {
            _convert(k, kt, key, where): _convert(v, vt, f"{key}.{k}", where)
            for k, v in value.items()
        }
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: key '{key}': expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: key '{key}': expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: key '{key}': expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: key '{key}': expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: key '{key}': unsupported annotation {tp}")


def from_dict(
    cls: type[T],
    data: dict[str, Any] | None,
    *,
    where: str = "<params>",
    prefix: str = "",
    complete: bool = False,
    defaults: Any = None,
) -> T:
    """Build dataclass ``cls`` from ``data``, strictly.

    ``where`` names the file (and section) for error messages; ``prefix`` is the dotted
    path of the section. Unknown keys are errors. Missing keys take the dataclass defaults,
    unless ``complete``: then a missing key (in nested sections too) is an error naming the
    dotted key and the lines to add, with the values of ``defaults`` (an instance of
    ``cls``; default ``cls()``).
    """
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: section '{prefix.rstrip('.')}' must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {[prefix + k for k in unknown]}; "
            f"valid keys in '{prefix.rstrip('.') or cls.__name__}': {sorted(fields)}"
        )
    missing = [k for k in fields if k not in data]
    if complete:
        if defaults is None:
            defaults = cls()
        if missing:
            raise ConfigError(f"{where}: missing {_describe_missing(defaults, prefix, missing)}")
    hints = get_type_hints(cls)
    kwargs = {
        k: _convert(v, hints[k], prefix + k, where, complete, getattr(defaults, k, None))
        for k, v in data.items()
    }
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{where}: section '{prefix.rstrip('.') or cls.__name__}': {e}") from e


def _describe_missing(default: Any, prefix: str, missing: list[str]) -> str:
    """ "key(s) ['a.b']; add under 'a:' ..." and the lines to add (``default``'s values)."""
    values = to_dict(default)
    under = f"under '{prefix.rstrip('.')}:'" if prefix else "at the top level"
    if all(isinstance(values[k], dict) for k in missing):
        return (
            f"section(s) {[prefix + k for k in missing]}; add {under} each with all its keys "
            "(the repository's params.yaml has them, with their defaults)"
        )
    lines = "; ".join(f"{k}: {_flow(values[k])}" for k in missing)
    return f"key(s) {[prefix + k for k in missing]}; add {under} {lines}  (the defaults)"


def _flow(value: Any) -> str:
    """``value`` as one line of YAML (``[64, 48]``, ``0.3``, ``null``)."""
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("...\n").strip()


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a plain (YAML/JSON-friendly) dict; tuples become lists."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(obj)


def section(params: dict[str, Any], name: str, cls: type[T], path: str | Path) -> T:
    """Build ``cls`` from section ``name`` of a loaded params mapping read from ``path``.

    Every key must be present (``complete``): a missing section or key is an error.
    """
    if name not in params:
        raise ConfigError(f"{path}: missing section '{name}'; add it (see the repo's params.yaml)")
    return from_dict(cls, params[name], where=f"{path}", prefix=f"{name}.", complete=True)


def check_range(
    name: str,
    value: float,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
) -> None:
    """Raise ValueError naming ``name`` if ``value`` is outside [lo, hi] (or (lo, hi])."""
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ValueError(f"'{name}' = {value} must be {'>' if lo_open else '>='} {lo}")
    if hi is not None and value > hi:
        raise ValueError(f"'{name}' = {value} must be <= {hi}")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise ValueError naming ``name`` if ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"'{name}' = {value!r} must be one of {list(choices)}")
