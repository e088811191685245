"""French where a person reads (issue 22): which language a request asks for, and the
French of every error message the API can answer with.

Rules:
- English is the contract and stays byte-for-byte what it is: every raise site keeps
  writing its English message, and an English answer is never re-rendered. Only an answer
  to a request that prefers French (``Accept-Language``, ``language``) goes through
  ``to_french``, in one place: ``engine.api.app`` when it renders an error envelope.
- The catalogue (``engine.api.french.MESSAGES``) maps each English *template* (the
  contract's wording, values as ``{name}``) to its French template with the same
  placeholders. An English message is read back into its template and values by the
  template's compiled pattern; the values go into the French template unchanged, except:
  a value whose placeholder name starts with ``msg`` is itself a message (``email_address
  {msg}``) and is translated in turn; ``rows`` is a bulk sheet's row list; the values of
  ``kind``, ``period``, ``channel`` and ``verb`` are words (``daily``, ``sms``) from ``WORDS``.
- A message that matches no template (a library's own text, such as msgspec's detail
  after ``Error decoding arguments:``) stays English: a French client gets an answer, never
  a failure. tests/api/test_french.py collects every message of the source (not examples)
  and proves each has a French template with the same placeholders.
- ``choose`` reads ``Accept-Language`` (RFC 9110 12.5.4): the supported language with
  the highest q wins (ties: the first written); ``q=0`` refuses a language; anything
  else, an absent or malformed header included, is English. ``fr``, ``fr-CA`` and any
  ``fr-*`` are French. At most ``MAX_RANGES`` ranges are read.

Why a hand-made catalogue and not gettext (stdlib) or Babel: the messages arrive already
formatted (the raise sites are the contract's English and stay so), so a lookup by
``msgid`` at the raise site would mean rewriting ~150 raise sites in files other work
owns, and a per-request language carried into every one of them; gettext's .po/.mo
toolchain buys plural rules and translator workflows that two languages and ~150 fixed
sentences do not need. Babel negotiates locales but does not parse ``Accept-Language``
q-values (werkzeug does, a web framework to carry for 30 lines). The catalogue is plain
Python, type-checked and tested for completeness.
Measured (timeit, shared 2-core machine): ``to_french`` of a message that needs the
pattern scan ~15 us; ``choose(None)`` ~0.1 us; English answers never call ``to_french``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Literal

import msgspec

from engine.api import french
from engine.api.errors import ErrorEnvelope, ErrorItem

Language = Literal["en", "fr"]
MAX_RANGES = 16
CONTENT_LANGUAGE = {"en": b"en-CA", "fr": b"fr-CA"}
_PLACEHOLDER = re.compile(r"\{([a-z_0-9]+)\}")


def choose(header: str | None) -> Language:
    """The language to answer in, from an ``Accept-Language`` value (None: absent)."""
    if not header:
        return "en"
    best: Language = "en"
    best_q = 0.0
    for part in header.split(",", MAX_RANGES)[:MAX_RANGES]:
        tag, _, params = part.partition(";")
        primary = tag.strip().lower().partition("-")[0]
        if primary not in ("fr", "en"):
            continue  # "*" and other languages: nothing we serve beyond the default
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:
                    q = 0.0
        if q > best_q:
            best, best_q = ("fr" if primary == "fr" else "en"), q
    return best


class Template:
    """One English template, its pattern, and its French."""

    __slots__ = ("english", "french", "names", "pattern")

    def __init__(self, english: str, french: str) -> None:
        self.english = english
        self.french = french
        self.names = tuple(_PLACEHOLDER.findall(english))
        regex, seen = [], set()
        for i, piece in enumerate(_PLACEHOLDER.split(english)):
            if i % 2 == 0:
                regex.append(re.escape(piece))
            else:  # a value written twice is the same value twice
                regex.append(f"(?P={piece})" if piece in seen else f"(?P<{piece}>.*?)")
                seen.add(piece)
        self.pattern = re.compile("".join(regex), re.DOTALL)


class Catalogue:
    """English templates -> French templates; ``to_french`` of a formatted message."""

    def __init__(
        self,
        messages: Sequence[tuple[str, str]],
        words: dict[str, str],
        rows: Callable[[str], str],
    ) -> None:
        self.templates = [Template(en, fr) for en, fr in messages]
        self.exact = {t.english: t.french for t in self.templates if not t.names}
        # The most specific first: the longest literal text wins over a looser template.
        self.patterns = sorted(
            (t for t in self.templates if t.names),
            key=lambda t: -len(_PLACEHOLDER.sub("", t.english)),
        )
        self.words = words
        self.rows = rows

    def match(self, message: str) -> tuple[Template, dict[str, str]] | None:
        for t in self.patterns:
            m = t.pattern.fullmatch(message)
            if m is not None:
                return t, m.groupdict()
        return None

    def to_french(self, message: str, depth: int = 0) -> str:
        exact = self.exact.get(message)
        if exact is not None:
            return exact
        found = self.match(message) if depth < 3 else None
        if found is None:
            return message
        template, values = found
        for name, value in values.items():
            if name.startswith("msg"):
                values[name] = self.to_french(value, depth + 1)
            elif name == "rows":
                values[name] = self.rows(value)
            elif name in ("kind", "period", "channel", "verb"):
                values[name] = self.words.get(value, value)
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template.french)


CATALOGUE = Catalogue(french.MESSAGES, french.WORDS, french.row_problems)


def translate(message: str, language: Language) -> str:
    """``message`` (the English contract text) in ``language``."""
    return message if language == "en" else CATALOGUE.to_french(message)


_decode_envelope = msgspec.json.Decoder(ErrorEnvelope).decode
_ENVELOPE = ("status_code", "errors")
_encode = msgspec.json.Encoder().encode


def translate_envelope(body: bytes, language: Language) -> bytes:
    """An error envelope's messages in ``language``; the rest as it was."""
    if language == "en":
        return body
    try:
        envelope = _decode_envelope(body)
    except msgspec.DecodeError:
        return body
    items = [ErrorItem(i.error, translate(i.message, language)) for i in envelope.errors]
    translated = _encode(ErrorEnvelope(envelope.status_code, items))
    # Fields beside the envelope (GC's category list of a category error) stay as they were.
    extra = {k: v for k, v in msgspec.json.decode(body).items() if k not in _ENVELOPE}
    return translated[:-1] + b"," + _encode(extra)[1:] if extra else translated
