"""Coercion and checking of parameter values against the catalog's rules, and the Problems found.

Shared by the spec resolver and the fake server, so both accept and reject exactly the same values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from reconciler.catalog.types import Kind, Model, Param, show


@dataclass(frozen=True)
class Problem:
    """One way a parameter set breaks the catalog's rules; `param` is None for the set as a whole."""

    param: str | None
    message: str
    hint: str | None = None
    on_key: bool = False  # the problem is the key itself (unknown parameter), not its value


def describe_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class _Invalid(Exception):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _coerce_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise _Invalid(f"expected an integer, got {describe_type(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit() and text.isascii():
            return int(text)
    raise _Invalid(
        f"expected an integer, got {describe_type(value)} {show(value)}"
        if isinstance(value, (str, float))
        else f"expected an integer, got {describe_type(value)}"
    )


def _coerce_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise _Invalid(f"expected a number, got {describe_type(value)}")
    number: float
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _Invalid(f"expected a number, got text {show(value)}") from None
    else:
        raise _Invalid(f"expected a number, got {describe_type(value)}")
    if not math.isfinite(number):
        raise _Invalid(f"expected a finite number, got {show(value)}")
    # 1 and 1.0 must give one request (and one key): keep integral values as integers.
    return int(number) if number.is_integer() else number


def _coerce_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    hint = None
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "yes", "no", "on", "off"}:
        hint = "write true or false without quotes"
    raise _Invalid(f"expected true or false, got {describe_type(value)} {show(value)}", hint)


def _coerce_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    hint = "put the value in quotes" if isinstance(value, (int, float, bool)) else None
    raise _Invalid(f"expected text, got {describe_type(value)} {show(value)}", hint)


def _coerce_uri(value: Any) -> str:
    text = _coerce_string(value)
    if not (text.startswith("https://") or text.startswith("http://")) or len(text) <= 8:
        raise _Invalid(f"expected an http(s) URL, got {show(value)}")
    return text


_COERCE = {
    Kind.INTEGER: _coerce_integer,
    Kind.NUMBER: _coerce_number,
    Kind.BOOLEAN: _coerce_boolean,
    Kind.STRING: _coerce_string,
    Kind.URI: _coerce_uri,
}


def _coerce_checked(param: Param, value: Any) -> Any:
    if value is None:
        if param.has_default and param.default is None:
            return None
        raise _Invalid(f"expected {param.rule()}, got null")
    result: Any = _COERCE[param.kind](value)
    if param.choices is not None and result not in param.choices:
        raise _Invalid(f"{show(value)} is not allowed: must be {param.rule()}")
    if param.minimum is not None and result < param.minimum:
        raise _Invalid(f"{show(value)} is out of range: must be {param.rule()}")
    if param.maximum is not None and result > param.maximum:
        raise _Invalid(f"{show(value)} is out of range: must be {param.rule()}")
    if param.max_length is not None and len(result) > param.max_length:
        raise _Invalid(f"is {len(result)} characters long: at most {param.max_length} allowed")
    if param.required and param.kind is Kind.STRING and not result.strip():
        raise _Invalid("must not be empty")
    return result


def check(
    model: Model,
    given: dict[str, Any],
    *,
    fill_defaults: bool,
    skip: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], list[Problem]]:
    """Coerce and check a parameter set against a model.

    With `fill_defaults` (the reconciler resolving a spec) every parameter that has a default gets
    it, so a missing field is an error only when it has no default. Without it (the fake server
    checking a wire body, as the real service does) a field the page marks required must be sent.
    Parameters named in `skip` are left as given (the spec layer handles local image paths).
    Returns the coerced parameters (all of them on success) and every problem found.
    """
    problems: list[Problem] = []
    out: dict[str, Any] = {}
    for name, value in given.items():
        param = model.by_name.get(name)
        if param is None:
            problems.append(
                Problem(
                    name,
                    f"unknown parameter {name!r} for {model.slug}",
                    did_you_mean(name, tuple(model.by_name))
                    or f"parameters of {model.slug}: " + ", ".join(sorted(model.by_name)),
                    on_key=True,
                )
            )
            continue
        if name in skip:
            out[name] = value
            continue
        try:
            out[name] = _coerce_checked(param, value)
        except _Invalid as exc:
            problems.append(Problem(name, f"{name}: {exc.message}", exc.hint))
    for param in model.params:
        if param.name in given:
            continue
        if param.has_default and (fill_defaults or not param.required):
            if fill_defaults:
                out[param.name] = param.default
            continue
        problems.append(Problem(None, f"missing required parameter {param.name!r} ({param.rule()})"))
    return out, problems


def closest(word: str, candidates: tuple[str, ...] | list[str]) -> list[str]:
    """Candidates ordered by similarity to `word`, closest first."""
    import difflib  # only a mistake needs a suggestion; a valid spec never pays for the import

    return sorted(candidates, key=lambda c: (-difflib.SequenceMatcher(None, word, c).ratio(), c))


def did_you_mean(word: str, candidates: tuple[str, ...] | list[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None
