"""The API keys, API integration and settings pages in a real browser (issue 27), in English
then in French: create a key (shown once) and use it against /v2, revoke it and see /v2
refuse it, set a callback to a real loopback receiver and test its response time, refuse a
2-day retention on the settings page. axe-core finds no WCAG 2.1 A/AA violation on any of
these pages (forms, the once-only key, the refusals); screenshots go to
docs/console-{api-keys-new,api-keys-created,callbacks,settings,settings-refused}-{en,fr}.png.

The steps are tests/console/steps_integration.py's; the harness tests/console/browser.py.
"""

from __future__ import annotations

import re
import tempfile
from functools import partial
from typing import Any

import trio

from tests.actors.test_callbacks import Receiver, receiver  # noqa: F401 - the fixture
from tests.console.browser import NEEDS_BROWSER, Browser, code_delivered, in_thread, install_axe
from tests.console.steps_integration import (
    create_key,
    revoke_key,
    sign_in,
    test_callback_response_time,
)
from tests.console.support import console_engine

LEAD = "lead@department.example"
TOKEN = "a-bearer-token-of-the-team"
pytestmark = NEEDS_BROWSER
HEADINGS = {
    "en": ("Create an API key", "Your new API key", "API keys", "API integration", "Settings"),
    "fr": ("Créer une clé d'API", "Votre nouvelle clé d'API", "Clés d'API",
           "Intégration de l'API", "Paramètres"),
}  # fmt: skip
ANSWERED = {
    "en": r"Your endpoint answered HTTP 200 in \d+ ms\.",
    "fr": r"Votre point de terminaison a répondu HTTP 200 en \d+ ms\.",
}
REFUSED = {
    "en": "Data retention must be between 3 and 90 days.",
    "fr": "La conservation des données doit être de 3 à 90 jours.",
}


async def test_keys_callbacks_and_settings_in_both_languages(
    aio_loop: None,
    database_url: str,
    receiver: Receiver,  # noqa: F811
) -> None:
    await install_axe()
    async with console_engine(database_url, recovery_sweep_seconds=0.3) as running:
        made = await running.create_service(name="Passport office", restricted=False)
        sid = made["service"]["id"]
        roles = ["manage_api_keys", "manage_settings"]
        await running.set_roles(sid, await running.add_user(LEAD), roles)
        with tempfile.TemporaryDirectory(prefix="notify-console-chromium-") as profile:
            b = await in_thread(Browser, f"http://localhost:{running.port}", profile)
            try:
                code_of = partial(trio.from_thread.run, code_delivered, running, LEAD)
                await in_thread(sign_in, b, LEAD, code_of)
                problems: dict[str, Any] = {}
                for lang in ("en", "fr"):
                    await _walk(b, running, sid, receiver, lang, problems)
                    if lang == "en":
                        await in_thread(b.click_link, "Français")
                        await in_thread(b.wait_h1, "Paramètres")
                assert problems == {}
            finally:
                await in_thread(b.quit)
        assert len(b.shots) == 10


async def _v2(running: Any, key: str) -> int:
    async with running.client() as api:
        r = await api.get("/v2/notifications", headers={"Authorization": f"ApiKey-v1 {key}"})
        return r.status_code


async def _walk(
    b: Browser, running: Any, sid: str, rec: Receiver, lang: str, problems: dict[str, Any]
) -> None:
    new, created, keys, integration, settings = HEADINGS[lang]

    async def check(name: str) -> None:
        found = await in_thread(b.check, name)
        if found:
            problems[f"{name}-{lang}"] = found

    await in_thread(b.get, f"/console/services/{sid}/api-keys/new")
    await in_thread(b.wait_h1, new)
    await check("api-keys-new")
    key = await in_thread(create_key, b, sid, f"Case system {lang}")
    assert await in_thread(b.h1) == created
    await check("api-keys-created")
    assert await _v2(running, key) == 200
    await in_thread(revoke_key, b, sid, f"Case system {lang}")
    assert await in_thread(b.h1) == keys
    assert await _v2(running, key) == 403
    words = await in_thread(test_callback_response_time, b, sid, rec.url("/cb"), TOKEN)
    assert re.fullmatch(ANSWERED[lang], words), words
    assert await in_thread(b.h1) == integration
    await check("callbacks")
    await in_thread(b.get, f"/console/services/{sid}/settings")
    await in_thread(b.wait_h1, settings)
    await check("settings")
    await in_thread(b.fill, {"retention_email": "2"})
    await in_thread(b.wait_text, REFUSED[lang])  # the heading stays: wait for the refusal
    assert await in_thread(b.h1) == settings
    await check("settings-refused")
