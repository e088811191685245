"""What a request may carry: the limits the JSON decoder and PostgreSQL put on it, checked
before a handler runs, so that what the database would refuse is refused here with a 400
(issue 20: one NUL in a personalisation value failed every request of its group commit).

Rules:
- ``check_body`` runs on every JSON body (v2, admin, receipts), before decoding:
  - nesting is bounded (``MAX_DEPTH``): msgspec raises ``RecursionError`` near 1,000 levels
    (a 2 KB body), and every recursive walk after it (``str``, ``msgspec.json.encode``, the
    NUL walk below) would too. Notify's deepest body is a file in personalisation (3).
  - PostgreSQL ``text`` and ``jsonb`` cannot hold U+0000, which JSON can only carry as the
    escape ``\\u0000`` (a raw NUL byte is malformed JSON). The field that carries one is
    named in a ``ValidationError``.
  Both first test the raw bytes, and only a body that fails the cheap test is looked at
  closely. Measured (timeit, a 200-byte POST, a shared 2-core machine; ``bench/body_check.py``
  times it again): counting the
  opening brackets with ``translate`` ~0.2 us (two ``count`` calls ~0.28), ``find`` of
  the escape ~0.13 us (``in`` ~0.22): check_body ~0.35 us of the POST's ~250 us. The close
  looks are exact (brackets inside strings, an escaped backslash before ``u0000`` are not
  refused) and cost ~40 ms for a 50,000-row bulk body (800 KB).
- Other things PostgreSQL refuses cannot come from a decoded body: msgspec refuses lone
  surrogates (``\\ud800``: "invalid utf-16 surrogate pair") and integers beyond 64 bits;
  timestamps are bounded by their own rules (``formats.parse_scheduled_for``); admin
  limits are typed to int32 (``admin.Limit``).
- ``query_args`` is the request's query, refused the same way when a value carries NUL
  (``%00``); ``int_param`` reads an integer path parameter within its column's range
  (a template version is an int32: 4294967296 overflowed the query, a 500).
Pure functions only.
"""

from __future__ import annotations

import re

import msgspec

from engine.api.errors import BadRequestError, ValidationError
from engine.api.http import Request

MAX_DEPTH = 32
INT32_MAX = 2**31 - 1
NUL_ESCAPE = b"\\u0000"
NUL_MESSAGE = "contains a character the database cannot store (\\u0000)"

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes included
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_PAIR = re.compile(rb"\[\]|\{\}")
_INTEGER = re.compile(r"-?[0-9]+")
_INT64_DIGITS = 18  # up to 18 digits fit an int64; more are beyond any integer column


def check_body(body: bytes) -> None:
    """Refuse a JSON body nested deeper than ``MAX_DEPTH`` or carrying U+0000 (400)."""
    openings = len(body) - len(body.translate(None, b"[{"))
    if openings > MAX_DEPTH and nested_deeper_than(body, MAX_DEPTH):
        raise BadRequestError(
            f"Error decoding arguments: JSON is nested deeper than {MAX_DEPTH} levels"
        )
    if body.find(NUL_ESCAPE) >= 0:
        fields = fields_with_nul(body)
        if fields:
            raise ValidationError([f"{name} {NUL_MESSAGE}" for name in fields])


def nested_deeper_than(body: bytes, limit: int) -> bool:
    """True if the JSON ``body`` nests arrays/objects deeper than ``limit``. Strings are
    removed, then each pass removes every innermost ``[]``/``{}`` pair (one level): what
    still has a pair after ``limit`` passes is deeper. A malformed body answers False
    unless it is deep anyway; its decoder reports it."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        shallower = _PAIR.sub(b"", brackets)
        if shallower == brackets:
            return False
        brackets = shallower
    return _PAIR.search(brackets) is not None


def fields_with_nul(body: bytes) -> list[str]:
    """The top-level fields of ``body`` whose name or value holds U+0000 anywhere."""
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return []  # malformed: the endpoint's decoder says how
    if not isinstance(decoded, dict):
        return ["body"] if _holds_nul(decoded) else []
    return [_shown(key) for key, value in decoded.items() if "\x00" in key or _holds_nul(value)]


def _shown(name: str) -> str:
    return name.replace("\x00", "\\u0000")


def _holds_nul(value: object) -> bool:
    # Recursion is bounded: check_body refused anything deeper than MAX_DEPTH first.
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def query_args(request: Request) -> dict[str, list[str]]:
    """The request's query arguments; a 400 naming each one that carries U+0000."""
    query = request.query()
    raw = request.query_string
    if b"%00" in raw or b"\x00" in raw:
        names = [k for k, vs in query.items() if "\x00" in k or any("\x00" in v for v in vs)]
        if names:
            raise ValidationError([f"{_shown(n)} {NUL_MESSAGE}" for n in names])
    return query


def int_param(raw: str, name: str, *, minimum: int, maximum: int = INT32_MAX) -> int:
    """An integer path parameter in ``minimum..maximum`` (the column's range), or Notify's
    jsonschema messages in a ``ValidationError``."""
    if not _INTEGER.fullmatch(raw):
        raise ValidationError([f"{name} {raw} is not of type integer, null"])
    digits = raw.lstrip("-").lstrip("0")
    if len(digits) > _INT64_DIGITS:  # int() of thousands of digits is refused, and slow
        raise ValidationError(
            [f"{name} {raw} is less than the minimum of {minimum}"]
            if raw.startswith("-")
            else [f"{name} {raw} is greater than the maximum of {maximum}"]
        )
    value = int(raw)
    if value < minimum:
        raise ValidationError([f"{name} {value} is less than the minimum of {minimum}"])
    if value > maximum:
        raise ValidationError([f"{name} {value} is greater than the maximum of {maximum}"])
    return value
