"""Browser steps for the console's templates (issue 27), to compose the issue's whole path:
plain blocking functions taking a ``tests.console.browser.Browser``; run each in a worker
thread (``await in_thread(step, b, ...)``) while the engine serves on the test's loop.

Each step works in either language: it finds fields by name, buttons by their place, and
waits for headings built from the words the console shows (``WORDS``). Given a ``check``
(called in the browser's thread, e.g. axe-core: ``Browser.check``), a step calls it with a
page's name on every page it shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from engine.console.words import TEXT
from engine.domain import template_categories as tc
from tests.console.browser import Browser

Check = Callable[[str], None] | None
ALERT = str(tc.VISIBLE[0].id)
PAIR = {
    "en": {"name": "Application received", "subject": "Your application, ((name))",
           "content": "Hello ((name)),\n\nYour application is **received**."},
    "fr": {"name": "Demande reçue", "subject": "Votre demande, ((name))",
           "content": "Bonjour ((name)),\n\nVotre demande est **reçue**."},
}  # fmt: skip


def word(lang: str, key: str, **values: Any) -> str:
    text = TEXT[key][0 if lang == "en" else 1]
    return text.format(**values) if values else text


def _type(b: Browser, fields: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for name, value in fields.items():
        box = b.driver.find_element(By.NAME, name)
        if box.tag_name == "select":
            Select(box).select_by_value(value)
        elif box.get_attribute("type") == "radio":
            b.driver.find_element(By.CSS_SELECTOR, f"input[name={name}][value={value}]").click()
        else:
            box.clear()
            box.send_keys(value)


def _submit(b: Browser) -> None:
    from selenium.webdriver.common.by import By

    b.driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()


def _template_id(b: Browser) -> str:
    found = re.search(r"/templates/([0-9a-f-]{36})", b.driver.current_url)
    assert found is not None, b.driver.current_url
    return found[1]


def submit_new_email(
    b: Browser, service_id: str, fields: dict[str, str], check: Check = None
) -> None:
    """Open the new email form and save ``fields`` as typed (errors stay on the form)."""
    b.get(f"/console/services/{service_id}/templates/new/email")
    if check:
        check("template-new")
    _type(b, fields)
    _submit(b)


def wait_for_errors(b: Browser) -> list[str]:
    """Wait for the error summary of a refused form; its messages."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(b.driver, 15).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".error-summary"), "no error summary"
    )
    links = b.driver.find_elements(By.CSS_SELECTOR, ".error-summary li a")
    return [str(a.text) for a in links]


def create_template_with_french(b: Browser, service_id: str, lang: str, check: Check = None) -> str:
    """An email template with its French version beside the English (the visitor's
    language ``lang`` decides which is written first in the names); returns its id."""
    other = "fr" if lang == "en" else "en"
    mine, theirs = PAIR[lang], PAIR[other]
    english, french = (mine, theirs) if lang == "en" else (theirs, mine)
    fields = {"name": mine["name"], "template_category_id": ALERT,
              "subject": english["subject"], "content": english["content"],
              "subject_fr": french["subject"], "content_fr": french["content"]}  # fmt: skip
    submit_new_email(b, service_id, fields, check)
    b.wait_h1(mine["name"])
    if check:
        check("template-show")
    return _template_id(b)


def edit_template(b: Browser, service_id: str, template_id: str, lang: str,
                  fields: dict[str, str]) -> None:  # fmt: skip
    """Change ``fields`` of the template and save: a new version."""
    b.get(f"/console/services/{service_id}/templates/{template_id}/edit")
    _type(b, fields)
    _submit(b)
    b.wait_h1(fields.get("name") or PAIR[lang]["name"])


def preview(b: Browser, service_id: str, template_id: str, lang: str, values: list[str],
            language: str | None = None, check: Check = None) -> None:  # fmt: skip
    """Preview with one example value per placeholder (in order), in ``language`` (a
    bilingual template's version; by default the one the form proposes), and wait for the
    rendered email's frame."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    b.get(f"/console/services/{service_id}/templates/{template_id}/preview")
    if check:
        check("template-preview-form")
    fields = {f"ph_{i}": v for i, v in enumerate(values)}
    if language:
        fields["language"] = language
    _type(b, fields)
    _submit(b)
    WebDriverWait(b.driver, 15).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#rendered"),
        word(lang, "tpl_rendered_email"),
    )
    if check:
        check("template-preview")


def rendered_email(b: Browser) -> str:
    """The text of the email shown in the preview's frame."""
    from selenium.webdriver.common.by import By

    frame = b.driver.find_element(By.CSS_SELECTOR, "iframe.tpl-email")
    b.driver.switch_to.frame(frame)
    try:
        return str(b.driver.find_element(By.TAG_NAME, "body").text)
    finally:
        b.driver.switch_to.default_content()


def archive_template(b: Browser, service_id: str, template_id: str, lang: str) -> None:
    """Archive after the confirmation page; ends on the templates list."""
    b.get(f"/console/services/{service_id}/templates/{template_id}/archive")
    _submit(b)
    b.wait_h1(word(lang, "templates"))
