"""The console's templates in a real browser (issue 27), in English then in French: the
list, the new-template form and its error summary, a template with its French version,
the edit form, the version history and an old version, the preview (the French version,
its values typed, the email shown in its sandboxed frame) and the archive confirmation.
axe-core finds no WCAG 2.1 A/AA violation on any of these pages; each one's screenshot is
docs/console-template-<page>-<language>.png. The steps are tests/console/steps_templates.py.
"""

from __future__ import annotations

import tempfile
from typing import Any

from tests.console import steps_templates as steps
from tests.console.browser import NEEDS_BROWSER, Browser, code_delivered, in_thread, install_axe
from tests.console.support import PASSWORD, console_engine

LEAD = "lead@department.example"
pytestmark = NEEDS_BROWSER


async def test_write_preview_and_archive_templates_in_both_languages(
    aio_loop: None, database_url: str
) -> None:
    await install_axe()
    async with console_engine(database_url, recovery_sweep_seconds=0.3) as running:
        made = await running.create_service(name="Passport office", restricted=False)
        sid = made["service"]["id"]
        await running.set_roles(sid, await running.add_user(LEAD), ["view", "manage_templates"])
        with tempfile.TemporaryDirectory(prefix="notify-console-chromium-") as profile:
            b = await in_thread(Browser, f"http://localhost:{running.port}", profile)
            try:
                problems: dict[str, list[Any]] = {}
                await _sign_in(b, running)
                await _walk(b, sid, "en", problems)
                await in_thread(b.get, f"/console/language/fr?next=/console/services/{sid}")
                await in_thread(b.wait_h1, "Tableau de bord")
                await _walk(b, sid, "fr", problems)
            finally:
                await in_thread(b.quit)
        assert problems == {}
        assert len(b.shots) == 18


async def _sign_in(b: Browser, running: Any) -> None:
    await in_thread(b.get, "/console/")
    await in_thread(b.wait_h1, "Sign in")
    await in_thread(b.fill, {"email": LEAD, "password": PASSWORD})
    await in_thread(b.wait_h1, "Check your email")
    await in_thread(b.fill, {"code": await code_delivered(running, LEAD)})
    await in_thread(b.wait_h1, "Your services")


async def _walk(b: Browser, sid: str, lang: str, problems: dict[str, list[Any]]) -> None:
    def w(key: str, **values: Any) -> str:
        return steps.word(lang, key, **values)

    async def check(name: str) -> None:
        assert await in_thread(b.lang) == lang
        found = await in_thread(b.check, f"template-{name}")
        if found:
            problems[f"{name}-{lang}"] = found

    await in_thread(b.get, f"/console/services/{sid}/templates")
    await in_thread(b.wait_h1, w("templates"))
    await check("list")
    await in_thread(b.click_link, w("tpl_new_email"))
    await in_thread(b.wait_h1, w("tpl_new_email"))
    await check("new")
    await in_thread(steps.submit_new_email, b, sid, {"name": "", "subject_fr": "Objet"})
    errors = await in_thread(steps.wait_for_errors, b)
    assert errors[0] == w("tpl_err_name_missing")
    assert w("tpl_err_french_subject_alone") in errors
    await check("errors")
    await in_thread(b.click_link, w("tpl_err_name_missing"))  # the summary leads to the field
    assert (await in_thread(lambda: b.driver.current_url)).endswith("#name")

    tid = await in_thread(steps.create_template_with_french, b, sid, lang)
    name = steps.PAIR[lang]["name"]
    assert w("tpl_lang_en") + ", " + w("tpl_lang_fr") in await in_thread(_main_text, b)
    await check("show")
    await in_thread(b.click_link, w("tpl_edit_link"))
    await in_thread(b.wait_h1, w("tpl_edit", name=name))
    await check("edit")
    edited = steps.PAIR["en"]["content"].replace("**received**", "**approved**")
    await in_thread(steps.edit_template, b, sid, tid, lang, {"content": edited})
    await in_thread(b.click_link, w("tpl_versions"))
    await in_thread(b.wait_h1, w("tpl_versions_of", name=name))
    await check("versions")
    await in_thread(b.get, f"/console/services/{sid}/templates/{tid}/versions/1")
    await in_thread(b.wait_h1, w("tpl_version_n", version=1, name=name))
    assert "**received**" in await in_thread(_main_text, b)
    await check("version")

    await in_thread(steps.preview, b, sid, tid, lang, ["Ada"], "fr")
    shown = await in_thread(steps.rendered_email, b)
    assert "Bonjour Ada" in shown
    assert "reçue" in shown
    await check("preview")

    await in_thread(b.get, f"/console/services/{sid}/templates/{tid}/archive")
    await in_thread(b.wait_h1, w("tpl_archive_title", name=name))
    await check("archive")
    await in_thread(steps.archive_template, b, sid, tid, lang)
    assert w("tpl_archived", name=name) in await in_thread(_main_text, b)


def _main_text(b: Browser) -> str:
    from selenium.webdriver.common.by import By

    return str(b.driver.find_element(By.TAG_NAME, "main").text)
