"""Sending and activity in a real browser (issue 27), in English and in French: send a
one-off message after checking it, watch it reach delivered on the activity page, upload
a CSV with a bad row (its error shown, nothing sent), upload the fixed file and watch the
job's counts. axe-core on every page (no WCAG 2.1 A/AA violation) and screenshots
docs/console-{send,upload,activity,notification,...}-{en,fr}.png.

The steps are tests/console/steps_send.py; the harness tests/console/browser.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tests import sql
from tests.console.browser import NEEDS_BROWSER, Browser, code_delivered, in_thread, install_axe
from tests.console.steps_send import (
    send_one_off,
    upload_csv,
    wait_delivered_on_activity,
    wait_for_job,
)
from tests.console.support import PASSWORD, console_engine

SENDER = "sender@department.example"
pytestmark = NEEDS_BROWSER
_BAD = "email address,name,code\n{a},A,1\nnot-an-address,B,2\n"
_FIXED = "email address,name,code\n{a},A,1\n{b},B,2\n"


async def test_send_upload_and_watch_the_activity_in_both_languages(
    aio_loop: None, database_url: str
) -> None:
    await install_axe()
    async with console_engine(database_url, recovery_sweep_seconds=0.3) as running:
        made = await running.create_service(name="Passport office", restricted=False)
        sid = made["service"]["id"]
        await running.set_roles(sid, await running.add_user(SENDER), ["send"])
        with tempfile.TemporaryDirectory(prefix="notify-console-chromium-") as profile:
            b = await in_thread(Browser, f"http://localhost:{running.port}", profile)
            try:
                problems = await _walk(b, running, sid, Path(profile))
            finally:
                await in_thread(b.quit)
        assert problems == {}
        rows = await sql.opened(
            running.engine.store,
            "SELECT id, recipient, job_id FROM notifications WHERE service_id = $1", sid,
        )  # fmt: skip
        # Per language: one one-off message and the fixed file's two rows; the bad files none.
        assert sorted(r["recipient"] for r in rows) == sorted(
            [f"{who}.{lang}@example.com" for lang in ("en", "fr") for who in ("ada", "a", "b")]
        )


def _main_text(b: Browser) -> str:
    from selenium.webdriver.common.by import By

    return str(b.driver.find_element(By.TAG_NAME, "main").text)


async def _walk(b: Browser, running: Any, sid: str, folder: Path) -> dict[str, list[Any]]:
    problems: dict[str, list[Any]] = {}

    def check(name: str) -> None:  # runs in the browser's thread, inside a step
        found = b.check(name)
        if found:
            problems[f"{name}-{b.lang()}"] = found

    await in_thread(b.get, "/console/")
    await in_thread(b.fill, {"email": SENDER, "password": PASSWORD})
    await in_thread(b.wait_h1, "Check your email")
    await in_thread(b.fill, {"code": await code_delivered(running, SENDER)})
    await in_thread(b.wait_h1, "Your services")
    for lang in ("en", "fr"):
        if lang == "fr":
            await in_thread(b.click_link, "Français")  # the toggle keeps the job's page
            await in_thread(b.wait_h1, "Envoi groupé")
        to = f"ada.{lang}@example.com"
        await in_thread(send_one_off, b, sid, "email", to, {"name": "Ada", "code": "42"}, check)
        text = await in_thread(_main_text, b)
        assert "Your code is 42." in text
        await in_thread(wait_delivered_on_activity, b, sid, to, check)
        bad, fixed = folder / f"bad-{lang}.csv", folder / f"fixed-{lang}.csv"
        bad.write_text(_BAD.format(a=f"a.{lang}@example.com"))
        fixed.write_text(_FIXED.format(a=f"a.{lang}@example.com", b=f"b.{lang}@example.com"))
        shown = await in_thread(upload_csv, b, sid, "email", bad, check)
        problem = "Not a valid recipient" if lang == "en" else "Destinataire non valide"
        assert isinstance(shown, list)
        assert [(line, column) for line, column, _ in shown] == [("3", "email address")]
        assert shown[0][2].startswith(problem)
        job = await in_thread(upload_csv, b, sid, "email", fixed, check)
        assert isinstance(job, str)
        delivered = "Delivered 2" if lang == "en" else "Livré 2"
        await in_thread(wait_for_job, b, delivered, check)
    return problems
