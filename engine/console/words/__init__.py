"""Every text the console shows, one key each, in English and French.

Rules:
- Each area of the console keeps its words in its own module here (``common`` holds the page
  frame, sign-in, errors and the first slice's pages); ``TEXT`` joins them, and a key
  defined by two modules is an error at import, not a silent overwrite.
- A value is ``(english, french)``; ``engine.console.i18n.Words`` picks one and fills its
  ``{placeholders}``.
"""

from __future__ import annotations

from engine.console.words import (
    activity,
    common,
    integration,
    people,
    send,
    settings,
    templates,
)

Words = dict[str, tuple[str, str]]
AREAS: tuple[Words, ...] = (common.WORDS, people.WORDS, templates.WORDS, send.WORDS,
                            activity.WORDS, integration.WORDS, settings.WORDS)  # fmt: skip


def join(*areas: Words) -> Words:
    text: Words = {}
    for area in areas:
        twice = text.keys() & area.keys()
        if twice:
            raise ValueError(f"console words defined twice: {sorted(twice)}")
        text.update(area)
    return text


TEXT = join(*AREAS)
