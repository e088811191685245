"""Placeholders in template text: ``((name))``, conditionals ``((name??text))`` and lists.

Rules (contract section 6):
- A placeholder is ``((...))`` with no parentheses inside. Names are matched ignoring case
  and white space (``((First Name))`` takes the key ``firstname``).
- A value of ``None`` or a missing key is missing: ``Missing personalisation: a, b``, names
  as written in the template, in template order. Extra keys are ignored.
- ``((name??text))`` shows ``text`` when the value is truthy (yes, y, true, t, 1, include,
  show; any case), else nothing; ``name`` is then a required placeholder.
- A list value becomes markdown bullets in email bodies and "a, b and c" elsewhere; empty
  and ``None`` items are dropped.
Pure functions only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

import msgspec

PLACEHOLDER = re.compile(r"\(\(([^()]+)\)\)")
_TRUTHY = frozenset({"yes", "y", "true", "t", "1", "include", "show"})

Values = dict[str, object]


class MissingPersonalisation(ValueError):
    def __init__(self, names: list[str]) -> None:
        super().__init__(f"Missing personalisation: {', '.join(names)}")
        self.names = names


class Placeholder(msgspec.Struct, frozen=True):
    name: str  # as written, without the conditional part
    key: str  # normalised: lower case, no white space
    conditional: str | None  # the text after ``??``, or None


def normalise_key(name: str) -> str:
    return "".join(name.split()).lower()


def parse(raw: str) -> Placeholder:
    name, sep, text = raw.partition("??")
    return Placeholder(name.strip(), normalise_key(name), text if sep else None)


def find(text: str) -> list[Placeholder]:
    """Every placeholder of ``text`` in order, conditionals included."""
    return [parse(m[1]) for m in PLACEHOLDER.finditer(text)]


def placeholders(text: str) -> list[str]:
    """The distinct placeholder names of ``text``, as first written, in order."""
    seen: dict[str, str] = {}
    for p in find(text):
        seen.setdefault(p.key, p.name)
    return list(seen.values())


def normalise_values(personalisation: Mapping[str, object]) -> Values:
    return {normalise_key(k): v for k, v in personalisation.items()}


def check_missing(found: Iterable[Placeholder], values: Values) -> None:
    missing: dict[str, str] = {}
    for p in found:
        if values.get(p.key) is None:
            missing.setdefault(p.key, p.name)
    if missing:
        raise MissingPersonalisation(list(missing.values()))


def truthy(value: object) -> bool:
    return str(value).strip().lower() in _TRUTHY


def list_items(value: list[object] | tuple[object, ...]) -> list[str]:
    return [str(v) for v in value if v is not None and str(v) != ""]


def inline_list(value: list[object] | tuple[object, ...]) -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    items = list_items(value)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def markdown_list(value: list[object] | tuple[object, ...]) -> str:
    items = list_items(value)
    return "\n\n" + "\n".join(f"* {item}" for item in items) + "\n\n" if items else ""


def as_text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def fill(
    text: str,
    values: Values,
    *,
    lists: Callable[[list[object] | tuple[object, ...]], str] = inline_list,
    escape: Callable[[str], str] = str,
) -> str:
    """Replace every placeholder of ``text``; callers check missing values first."""

    def replace(match: re.Match[str]) -> str:
        p = parse(match[1])
        value = values.get(p.key)
        if p.conditional is not None:
            return p.conditional if truthy(value) else ""
        if isinstance(value, list | tuple):
            return lists(value)
        return escape(as_text(value))

    return PLACEHOLDER.sub(replace, text)
