"""sanitise_content_for: URLs broken up, markdown escaped in the body, keys case-blind."""

from __future__ import annotations

from engine.domain.sanitise import Sanitised, break_urls, escape_markdown, sanitise


def test_urls_are_broken_up() -> None:
    assert break_urls("see https://evil.example.com/x.html now.") == (
        "see https: //evil. example. com/x. html now."
    )


def test_every_markdown_character_is_escaped() -> None:
    assert escape_markdown("`*_(){}[]<>#+-.!|\\a") == (
        "\\`\\*\\_\\(\\)\\{\\}\\[\\]\\<\\>\\#\\+\\-\\.\\!\\|\\\\a"
    )


def test_only_named_string_values_change() -> None:
    values = {"First Name": "**Bo**", "code": "a.b", "items": ["x.y"]}
    body, subject, report = sanitise(values, ["firstname", "ITEMS"])
    assert body == {"First Name": "\\*\\*Bo\\*\\*", "code": "a.b", "items": ["x.y"]}
    assert subject == {"First Name": "**Bo**", "code": "a.b", "items": ["x.y"]}
    assert report == {"First Name": Sanitised("**Bo**", "\\*\\*Bo\\*\\*")}
