"""The issue's whole browser path (issue 27's first "Must show"), in English then in French,
on one engine: a service with a team of two; each member, in their own browser and their
own language (French chosen with the page's toggle, as a person would), signs in with a
second factor (in English the emailed code; in French an authenticator app first set up in
"Your account", so both factors are covered), creates a template with a French version,
previews it (the personalised text in the reader's language), sends it as a one-off and
watches it reach delivered on the activity page, uploads a CSV with one bad row (the row's
error shown, nothing sent), fixes it and sends it (the job's counts), creates an API key
(used once against /v2) and revokes it (then refused), and tests a callback's response time
against a real loopback receiver (the time shown, the request received).

axe-core runs on every page the path shows (no WCAG 2.1 A/AA violation, collected and
asserted at the end). It takes no screenshot: the pieces' own browser tests take them of
these pages (the upload form's, docs/console-upload-form-<language>.png, is new: the send
test takes it now that ``upload_csv`` checks that page). The steps are
tests/console/steps_{people,templates,send,integration}.py.
"""

from __future__ import annotations

import re
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import trio

from tests import sql
from tests.actors.test_callbacks import Receiver, receiver  # noqa: F401 - the fixture
from tests.console import steps_people, steps_templates
from tests.console.browser import NEEDS_BROWSER, Browser, code_delivered, in_thread, install_axe
from tests.console.steps_integration import (
    create_key,
    revoke_key,
    sign_in,
    test_callback_response_time,
)
from tests.console.steps_send import (
    send_one_off,
    upload_csv,
    wait_delivered_on_activity,
    wait_for_job,
)
from tests.console.support import console_engine

pytestmark = NEEDS_BROWSER
TEAM = {"en": "ada@department.example", "fr": "benoit@department.example"}
ROLES = ["view", "send", "manage_templates", "manage_api_keys"]
TOKEN = "a-bearer-token-of-the-team"
PAGES = {  # every page the path shows, each checked by axe-core
    "sign-in", "code", "services", "template-new", "template-show", "template-preview-form",
    "template-preview", "send-choose", "send-form", "send", "notification", "activity",
    "upload-form", "upload", "upload-ready", "job", "api-keys", "api-keys-new",
    "api-keys-created", "api-keys-revoked", "callbacks-form", "callbacks-saved", "callbacks",
}  # fmt: skip
TOTP_PAGES = {"account", "account-totp", "code-totp"}
_BAD = "email address,name\n{a},Ada\nnot-an-address,Bea\n"
_FIXED = "email address,name\n{a},Ada\n{b},Bea\n"
SAYS = {  # what each language's version says to Ada, and what it must not
    "en": (("Hello Ada,", "received", "Your application, Ada"), ("Bonjour", "reçue")),
    "fr": (("Bonjour Ada,", "reçue", "Votre demande, Ada"), ("Hello", "received")),
}
ROW_ERROR = {"en": "Not a valid recipient", "fr": "Destinataire non valide"}
JOB_DONE = {"en": "Delivered 2", "fr": "Livré 2"}
ANSWERED = {
    "en": r"Your endpoint answered HTTP 200 in \d+ ms\.",
    "fr": r"Votre point de terminaison a répondu HTTP 200 en \d+ ms\.",
}


async def test_the_issues_path_in_english_then_in_french(
    aio_loop: None,
    database_url: str,
    receiver: Receiver,  # noqa: F811
) -> None:
    await install_axe()
    async with console_engine(database_url, recovery_sweep_seconds=0.3) as running:
        made = await running.create_service(name="Passport office", restricted=False)
        sid = made["service"]["id"]
        for email in TEAM.values():
            await running.set_roles(sid, await running.add_user(email), ROLES)
        problems: dict[str, list[Any]] = {}
        for lang in ("en", "fr"):
            with tempfile.TemporaryDirectory(prefix="notify-console-chromium-") as profile:
                b = await in_thread(Browser, f"http://localhost:{running.port}", profile)
                try:
                    seen = await _path(b, running, sid, receiver, lang, Path(profile), problems)
                finally:
                    await in_thread(b.quit)
            assert seen == (PAGES | TOTP_PAGES if lang == "fr" else PAGES)
        assert problems == {}
        rows = await sql.opened(
            running.engine.store,
            "SELECT id, recipient, job_id FROM notifications WHERE service_id = $1", sid,
        )  # fmt: skip
        # Per language: the one-off and the fixed file's two rows; the bad files sent none.
        assert sorted((r["recipient"], r["job_id"] is None) for r in rows) == sorted(
            (f"{who}.{lang}@example.com", who == "ada")
            for lang in ("en", "fr")
            for who in ("ada", "a", "b")
        )


async def _path(
    b: Browser,
    running: Any,
    sid: str,
    rec: Receiver,
    lang: str,
    folder: Path,
    problems: dict[str, list[Any]],
) -> set[str]:
    """The path in ``lang``; the names of the pages axe-core checked."""
    email = TEAM[lang]
    seen: set[str] = set()

    def check(name: str) -> None:  # in the browser's thread, inside a step
        assert b.lang() == lang, (name, b.driver.current_url)
        seen.add(name)
        found = b.violations()
        if found:
            problems[f"{name}-{lang}"] = found

    async def checked(name: str) -> None:
        await in_thread(check, name)

    # Sign in with a second factor, in the reader's language
    code_of = partial(trio.from_thread.run, code_delivered, running, email)
    if lang == "en":
        await in_thread(sign_in, b, email, code_of, check)
    else:
        await in_thread(b.get, "/console/sign-in")
        await in_thread(b.wait_h1, "Sign in")
        await in_thread(b.click_link, "Français")  # the toggle keeps the page
        await in_thread(b.wait_h1, "Se connecter")
        await in_thread(sign_in, b, email, code_of, check)
        secret = await steps_people.set_up_totp(b, running, checked)
        await in_thread(b.sign_out)
        await in_thread(b.wait_h1, "Se connecter")
        await steps_people.sign_in_with_totp(b, running, email, secret, checked)
        await in_thread(b.wait_h1, "Vos services")
        await checked("services")

    # A template with a French version, previewed in the version the form proposes
    tid = await in_thread(steps_templates.create_template_with_french, b, sid, lang, check)
    name = steps_templates.PAIR[lang]["name"]
    await in_thread(steps_templates.preview, b, sid, tid, lang, ["Ada"], None, check)
    says, not_said = SAYS[lang]
    shown = await in_thread(steps_templates.rendered_email, b) + await in_thread(_main_text, b)
    assert all(s in shown for s in says), shown
    assert not any(s in shown for s in not_said), shown

    # Sent as a one-off, delivered on the activity page
    to = f"ada.{lang}@example.com"
    await in_thread(send_one_off, b, sid, name, to, {"name": "Ada"}, check)
    sent = await in_thread(_main_text, b)
    assert all(s in sent for s in says[:2]), sent
    await in_thread(wait_delivered_on_activity, b, sid, to, check)

    # A CSV with one bad row: its error, nothing sent; the fixed file sent as a job
    bad, fixed = folder / f"bad-{lang}.csv", folder / f"fixed-{lang}.csv"
    bad.write_text(_BAD.format(a=f"a.{lang}@example.com"))
    fixed.write_text(_FIXED.format(a=f"a.{lang}@example.com", b=f"b.{lang}@example.com"))
    before = await _sent(running, sid)
    shown_rows = await in_thread(upload_csv, b, sid, name, bad, check)
    assert isinstance(shown_rows, list)
    assert [(line, column) for line, column, _ in shown_rows] == [("3", "email address")]
    assert shown_rows[0][2].startswith(ROW_ERROR[lang]), shown_rows
    assert await _sent(running, sid) == before
    job = await in_thread(upload_csv, b, sid, name, fixed, check)
    assert isinstance(job, str)
    await in_thread(wait_for_job, b, JOB_DONE[lang], check)

    # An API key: works once against /v2, revoked, refused
    key_name = f"Case system {lang}"
    key = await in_thread(create_key, b, sid, key_name, "normal", check)
    assert await _v2(running, key) == 200
    await in_thread(revoke_key, b, sid, key_name, check)
    assert await _v2(running, key) == 403

    # A callback's response time, measured against a real receiver
    path = f"/cb-{lang}"
    words = await in_thread(test_callback_response_time, b, sid, rec.url(path), TOKEN, check)
    assert re.fullmatch(ANSWERED[lang], words), words
    assert any(h.headers.get("authorization") == f"Bearer {TOKEN}" for h in rec.of(path))
    return seen


def _main_text(b: Browser) -> str:
    from selenium.webdriver.common.by import By

    return str(b.driver.find_element(By.TAG_NAME, "main").text)


async def _sent(running: Any, sid: str) -> int:
    rows = await sql.opened(
        running.engine.store, "SELECT id FROM notifications WHERE service_id = $1", sid
    )
    return len(rows)


async def _v2(running: Any, key: str) -> int:
    async with running.client() as api:
        r = await api.get("/v2/notifications", headers={"Authorization": f"ApiKey-v1 {key}"})
        return int(r.status_code)
