"""Frozen configuration dataclasses: one per stage, a help text on every field, JSON round trip, CLI generation.

A field is declared with :func:`option`, whose ``help`` is both the field's comment and its ``--flag`` help::

    @dataclass(frozen=True)
    class TrainConfig(Config):
        batch_size: int = option(16, "images per optimisation step (per process)")
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import typing
from typing import Any, TypeVar

from synthvid.errors import InputError

C = TypeVar("C", bound="Config")


def option(default: Any, help: str, *, choices: tuple | None = None, cli: bool = True,
           bounds: tuple[float | None, float | None] | None = None) -> Any:
    """A dataclass field with a default, a help text, optional allowed values or inclusive numeric ``bounds``
    (``(lo, hi)``, either None for open), and whether the CLI exposes it."""
    meta = {"help": help, "choices": choices, "cli": cli, "bounds": bounds}
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults are not allowed in frozen configs; use a tuple")
    return dataclasses.field(default=default, metadata=meta)


class Config:
    """Mixin for frozen dataclass configs: ``to_dict``/``from_dict``/JSON and ``choices`` validation."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices is not None and value not in choices:
                raise InputError(f"{f.name} must be one of {', '.join(map(str, choices))}; got {value!r}")
            for v in value if isinstance(value, tuple) else (value,):
                if isinstance(v, float) and not math.isfinite(v):  # NaN passes every range check (NaN < 0 is False)
                    raise InputError(f"{f.name} must be a finite number, got {v}")
            bounds = f.metadata.get("bounds")
            if bounds is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                lo, hi = bounds
                if (lo is not None and value < lo) or (hi is not None and value > hi):
                    want = f"from {lo} to {hi}" if lo is not None and hi is not None else (
                        f"at least {lo}" if lo is not None else f"at most {hi}")
                    raise InputError(f"{f.name} must be {want}, got {value}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], *, strict: bool = True) -> C:
        """Build from a dict; unknown keys are an error when ``strict`` (a config from a newer or foreign tool)."""
        if not isinstance(data, dict):
            raise InputError(f"{cls.__name__} must be built from a mapping, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - names
        if unknown and strict:
            raise InputError(f"unknown {cls.__name__} setting(s): {', '.join(sorted(unknown))}")
        kwargs = {}
        for name in names & set(data):
            value = data[name]
            if isinstance(value, list) and _is_tuple_type(hints.get(name)):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Config):
        return value.to_dict()
    return value


def _is_tuple_type(tp: Any) -> bool:
    return tp is tuple or typing.get_origin(tp) is tuple


def add_config_arguments(parser: argparse.ArgumentParser, cls: type[Config], *, skip: tuple[str, ...] = ()) -> None:
    """Add one ``--flag`` per CLI-visible field of ``cls`` (defaults left as None so unset flags keep the config's)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in skip or not f.metadata.get("cli", True):
            continue
        flag = "--" + f.name.replace("_", "-")
        tp = hints[f.name]
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": f"{f.metadata.get('help', '')} (default: {f.default})"}
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif _is_tuple_type(tp):
            (inner, *_) = typing.get_args(tp) or (str,)
            kwargs["type"] = _scalar_type(inner)
            kwargs["nargs"] = "+"
        else:
            kwargs["type"] = _scalar_type(tp)
            if f.metadata.get("choices"):
                kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(flag, **kwargs)


def _scalar_type(tp: Any) -> Any:
    if typing.get_origin(tp) is typing.Union:  # Optional[X]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if args else str
    return tp if tp in (int, float, str) else str


def config_from_args(cls: type[C], args: argparse.Namespace, base: C | None = None, **overrides: Any) -> C:
    """Build ``cls`` from parsed CLI arguments: flags the user set override ``base`` (or the defaults)."""
    values = base.to_dict() if base is not None else {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        v = getattr(args, f.name, None)
        if v is not None:
            values[f.name] = v
    values.update({k: v for k, v in overrides.items() if v is not None})
    return cls.from_dict(values)
