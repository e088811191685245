"""The rules of a template version (engine.domain.template_edits): what the console's form
and the admin API refuse, what changed between versions, who wrote one."""

from __future__ import annotations

import uuid

from engine.domain import template_categories as tc
from engine.domain import template_edits as te

ALERT = str(tc.VISIBLE[0].id)


def test_a_form_becomes_a_draft_without_empty_french_parts() -> None:
    d = te.draft_from_form({"name": " N ", "subject": "S", "content": "C", "subject_fr": " ",
                            "content_fr": "", "template_category_id": ALERT}, "email")  # fmt: skip
    assert (d.name, d.subject, d.content, d.subject_fr, d.content_fr) == ("N", "S", "C", None, None)
    sms = te.draft_from_form({"name": "N", "subject": "S", "content": "C"}, "sms")
    assert sms.subject is None
    assert sms.subject_fr is None
    assert te.problems(d) == []


def test_problems_name_each_field_in_the_forms_order() -> None:
    d = te.Draft(template_type="email", name="", subject=" ", content="", subject_fr="Objet",
                 content_fr=None, category_id="not a uuid")  # fmt: skip
    assert te.problems(d) == [
        ("name", "name_missing"), ("template_category_id", "category_missing"),
        ("subject", "subject_missing"), ("content", "content_missing"),
        ("content_fr", "french_subject_alone"),
    ]  # fmt: skip
    long = te.Draft(template_type="sms", name="n" * 256, subject=None, content="x" * 613,
                    subject_fr=None, content_fr="y" * 613, category_id=ALERT)  # fmt: skip
    assert te.problems(long) == [("name", "name_too_long"), ("content", "content_too_long"),
                                 ("content_fr", "content_fr_too_long")]  # fmt: skip
    unknown = te.Draft(template_type="email", name="n", subject="s", content="c",
                       subject_fr=None, content_fr=None, category_id=str(uuid.uuid4()))  # fmt: skip
    assert te.problems(unknown) == [("template_category_id", "category_missing")]


def test_changes_between_versions_and_languages() -> None:
    first = {"name": "A", "template_category_id": None, "subject": "S", "content": "C",
             "subject_fr": None, "content_fr": None}  # fmt: skip
    assert te.changed(None, first) == ["name", "subject", "content"]
    second = {**first, "content": "D", "content_fr": "E"}
    assert te.changed(first, second) == ["content", "content_fr"]
    assert te.changed(second, second) == []
    assert te.languages(None) == ("en",)
    assert te.languages("") == ("en", "fr")
    assert te.placeholder_names("Hi ((Name))", "((name)) ((code))", None) == ["Name", "code"]


def test_a_console_author_is_a_user_id_not_an_address() -> None:
    user = uuid.uuid4()
    assert te.console_author(te.author(user)) == user
    assert te.console_author("normal key") is None
    assert te.console_author("console:nope") is None
