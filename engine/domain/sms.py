"""SMS encoding, length and fragment counting (contract section 4, "SMS length").

Rules:
- Typographic characters with a GSM-7 look-alike (curly quotes, dashes, ellipsis, non
  breaking space) are downgraded first; zero-width characters are removed.
- A message is GSM-7 when every character is in the GSM 03.38 basic set or its extension
  table (extension characters cost two septets); otherwise it is sent as UCS-2. French
  accents outside GSM-7 (â, ê, î, ô, û, ç, ...) are kept, so they force UCS-2 rather than
  being replaced by "?": a Canadian service's French text must arrive intact.
- Fragments: GSM-7 up to 160 septets is one, else ceil(n / 153); UCS-2 up to 70 UTF-16
  units is one, else ceil(n / 67).
- The cap is GC's 612 characters, counted on the message as sent (prefix included).
Pure functions only.
"""

from __future__ import annotations

import math

SMS_CHAR_COUNT_LIMIT = 612

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")

_DOWNGRADE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2010": "-",
        "\u2011": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u2002": " ",
        "\u2003": " ",
        "\u2009": " ",
        "\t": " ",
        "\u200b": None,
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
        "\ufeff": None,
    }
)


def sanitise(text: str) -> str:
    """Downgrade look-alikes, normalise newlines, strip surrounding white space."""
    return text.translate(_DOWNGRADE).replace("\r\n", "\n").replace("\r", "\n").strip()


def is_gsm(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


def septets(text: str) -> int:
    """GSM-7 length: extension characters count twice."""
    return sum(2 if c in GSM_EXTENSION else 1 for c in text)


def ucs2_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fragment_count(text: str) -> int:
    if is_gsm(text):
        n = septets(text)
        return 1 if n <= 160 else math.ceil(n / 153)
    n = ucs2_units(text)
    return 1 if n <= 70 else math.ceil(n / 67)
