"""/v2/openapi-fr (issue 22): the same document as /v2/openapi, every text in French."""

from __future__ import annotations

from typing import Any

from engine.api.v2.openapi import DOCUMENT
from engine.api.v2.openapi_fr import FRENCH, texts
from tests.conftest import RunningEngine


def _shape(node: Any) -> Any:
    """The document without its texts: what must be the same in both languages."""
    if isinstance(node, dict):
        return {
            k: _shape(v) for k, v in node.items() if k not in ("title", "summary", "description")
        }
    if isinstance(node, list):
        return [_shape(v) for v in node]
    return node


def test_every_text_has_french_and_every_french_entry_is_used() -> None:
    english = [t for t in texts(DOCUMENT) if t != DOCUMENT["info"]["description"]]
    missing = [t for t in english if t not in FRENCH]
    assert missing == []
    assert sorted(set(FRENCH) - set(english)) == []  # no stale entries
    assert all(FRENCH[t] != t for t in english if not t.startswith(("pending", "UTC")))


async def test_the_french_document_is_served_with_the_same_shape(
    running_engine: RunningEngine,
) -> None:
    async with running_engine.client() as client:
        english = (await client.get("/v2/openapi")).json()
        r = await client.get("/v2/openapi-fr")
    assert r.status_code == 200, r.text
    assert r.headers["content-language"] == "fr-CA"
    french = r.json()
    assert _shape(french) == _shape(english)
    assert french["paths"]["/v2/notifications/email"]["post"]["summary"] == "Envoyer un courriel"
    assert french["info"]["description"].startswith("Une API compatible avec Notification GC")
    assert "/v2/openapi-fr" in english["paths"]
    assert set(texts(french)).isdisjoint(set(FRENCH) - set(FRENCH.values()))
