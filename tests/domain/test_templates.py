"""Template rendering: placeholders, conditionals, lists, markdown, escaping, SMS counting."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as hs

from engine.domain import sms
from engine.domain.markdown import markdown_to_html, markdown_to_text
from engine.domain.placeholders import fill, normalise_values, placeholders
from engine.domain.templates import (
    CompiledEmailTemplate,
    CompiledSmsTemplate,
    MissingPersonalisation,
)

# -- placeholders ------------------------------------------------------------------------


def test_placeholder_names_ignore_case_and_spaces() -> None:
    t = CompiledEmailTemplate("Hi ((First Name))", "Dear ((first name)), code ((CODE))")
    r = t.render({"FIRSTNAME": "Ada", "code": 42})
    assert r.subject == "Hi Ada"
    assert "Dear Ada, code 42" in r.text


def test_missing_personalisation_names_each_missing_value_once_in_template_order() -> None:
    t = CompiledEmailTemplate("((b)) ((a))", "((a)) ((c)) ((B))")
    with pytest.raises(MissingPersonalisation) as exc:
        t.render({"c": "present", "a": None})
    assert str(exc.value) == "Missing personalisation: b, a"


def test_placeholders_lists_distinct_names_as_first_written() -> None:
    assert placeholders("((Name)) ((name)) ((show??yes)) ((code))") == ["Name", "show", "code"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [("yes", True), ("Y", True), ("true", True), ("1", True), ("show", True),
     ("include", True), ("no", False), ("", False), ("0", False), ("maybe", False)],
)  # fmt: skip
def test_conditional_text_shows_only_for_truthy_values(value: str, shown: bool) -> None:
    t = CompiledSmsTemplate("Hello((vip?? and welcome back))")
    assert t.render({"vip": value}).body == ("Hello and welcome back" if shown else "Hello")


def test_list_values_are_bullets_in_email_and_a_sentence_in_sms() -> None:
    items = ["eggs", None, "milk", "", "bread"]
    email = CompiledEmailTemplate("Shopping: ((items))", "Buy:\n\n((items))")
    rendered = email.render({"items": items})
    assert rendered.subject == "Shopping: eggs, milk and bread"
    assert re.findall(r"<li[^>]*>(\w+)</li>", rendered.html) == ["eggs", "milk", "bread"]
    assert "• eggs\n• milk\n• bread" in rendered.text
    assert CompiledSmsTemplate("Buy ((items))").render({"items": items}).body == (
        "Buy eggs, milk and bread"
    )


# -- markdown ----------------------------------------------------------------------------


def test_notify_markdown_renders_headings_inset_lists_rules_and_links() -> None:
    content = (
        "# Title\n\n## Sub\n\n^ Inset text\n\n* one\n* two\n\n1. first\n2. second\n\n"
        "---\n\nSee [the guide](https://example.gc.ca/guide) and **this**."
    )
    html = markdown_to_html(content)
    assert re.search(r"<h2[^>]*>Title</h2>", html)
    assert re.search(r"<h3[^>]*>Sub</h3>", html)
    assert re.search(r"<blockquote[^>]*>\s*<p[^>]*>Inset text</p>", html)
    assert html.count("<li") == 4
    assert "<ol" in html
    assert "<ul" in html
    assert "<hr" in html
    assert 'href="https://example.gc.ca/guide">the guide</a>' in html
    assert "<strong>this</strong>" in html
    text = markdown_to_text(content)
    assert "the guide: https://example.gc.ca/guide" in text
    assert "1. first\n2. second" in text
    assert "<" not in text


def test_email_is_a_whole_accessible_html_document() -> None:
    r = CompiledEmailTemplate("Your code", "Hello").render({})
    assert r.html.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in r.html
    assert "<title>Your code</title>" in r.html


def test_personalisation_is_html_escaped_but_template_markdown_is_kept() -> None:
    t = CompiledEmailTemplate("Hi", "**Hello** ((name))")
    r = t.render({"name": '<img src=x onerror="alert(1)">'})
    assert "<img" not in r.html
    assert "&lt;img" in r.html
    assert "<strong>Hello</strong>" in r.html


# -- properties --------------------------------------------------------------------------

_plain_words = hs.text(
    alphabet=hs.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters=" .,'@"),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() != "" and not re.match(r"^\d+[.)]", s))
_markdown_lines = hs.lists(
    hs.sampled_from(
        ["# Heading ((a))", "Para with ((a)) and ((b)).", "* item ((b))", "^ inset ((a))",
         "---", "Link [x](https://example.gc.ca/((b)))", "**bold ((a))**", "", "1. first ((b))",
         "[[fr]]", "[[/fr]]", "[[en]]", "[[/en]] ((a))", "[[rtl]]((b))[[/rtl]]"]
    ),
    min_size=1,
    max_size=10,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(lines=_markdown_lines, a=_plain_words, b=_plain_words)
@example(lines=["# Heading ((a))"], a="0 ", b="0")  # markdown strips a heading's end
def test_precompiled_render_equals_full_render(lines: list[str], a: str, b: str) -> None:
    """The sentinel fast path must give exactly what rendering the filled text gives."""
    content = "\n\n".join(lines)
    compiled = CompiledEmailTemplate("Subject", content)
    fast = compiled.render({"a": a, "b": b})
    filled = fill(content, normalise_values({"a": a, "b": b}))
    assert fast.text == markdown_to_text(filled)
    assert markdown_to_html(filled) in fast.html


@settings(max_examples=200, deadline=None)
@given(value=hs.text(max_size=200))
def test_no_personalisation_value_can_inject_html(value: str) -> None:
    for content in ("Hello ((v))", "Hello ((v)) ((flag??yes))"):
        r = CompiledEmailTemplate("s", content).render({"v": value, "flag": "no"})
        body = r.html[r.html.index("<div") :]
        assert "<script" not in body.lower() or "<script" not in value.lower()
        tags = set(re.findall(r"<([a-zA-Z0-9]+)", body))
        assert tags <= {"div", "p", "a", "br", "h2", "h3", "ul", "ol", "li", "strong", "em",
                        "blockquote", "hr"}  # fmt: skip


_gsm_text = hs.text(alphabet=sorted(sms.GSM_BASIC - {"\r", "\n"}), max_size=700)


@settings(max_examples=200, deadline=None)
@given(text=_gsm_text)
def test_gsm_fragments_follow_160_and_153(text: str) -> None:
    n = len(text)
    expected = 1 if n <= 160 else math.ceil(n / 153)
    assert sms.fragment_count(text) == expected


@settings(max_examples=200, deadline=None)
@given(text=_gsm_text, extra=hs.sampled_from(sorted(sms.GSM_EXTENSION - {"\f"})))
def test_gsm_extension_characters_cost_two(text: str, extra: str) -> None:
    assert sms.septets(text + extra) == len(text) + 2


@settings(max_examples=200, deadline=None)
@given(text=_gsm_text, accent=hs.sampled_from("âêîôûçœë"))
def test_one_non_gsm_character_switches_to_ucs2_counting(text: str, accent: str) -> None:
    message = text + accent
    n = len(message)
    assert sms.fragment_count(message) == (1 if n <= 70 else math.ceil(n / 67))


@settings(max_examples=100, deadline=None)
@given(a=_gsm_text, b=_gsm_text)
def test_fragments_never_decrease_as_a_message_grows(a: str, b: str) -> None:
    assert sms.fragment_count(a + b) >= sms.fragment_count(a)


def test_sms_prefix_counts_and_typography_is_downgraded() -> None:
    t = CompiledSmsTemplate("“Hi” – it’s ((name))…", prefix="Canada Revenue")
    r = t.render({"name": "Zoé"})
    assert r.body == 'Canada Revenue: "Hi" - it\'s Zoé...'
    assert r.char_count == len(r.body)
    assert r.fragment_count == 1
    french = CompiledSmsTemplate("((x))").render({"x": "Votre reçu " * 8})
    assert "ç" in french.body
    assert french.fragment_count == 2


def test_text_only_render_matches_the_full_render_without_html() -> None:
    for values in ({"name": "Ada"}, {"name": "**Ada** https://example.gc.ca"}):
        t = CompiledEmailTemplate("Hi ((name))", "# Hello\n\nDear ((name))")
        full, text_only = t.render(values), t.render(values, with_html=False)
        assert (text_only.subject, text_only.text) == (full.subject, full.text)
        assert text_only.html == ""
        assert full.html.startswith("<!DOCTYPE html>")
