"""The console in a real browser (issue 27): Debian's chromium and chromedriver, driven by
Selenium from PyPI. Sign in with the code the engine emailed (read back from the system
service's notification once the simulated provider has delivered it), see the services,
the dashboard, the templates and the API keys, switch to French and see them again, sign
out and see the sign-in page in French. On every page axe-core (npm, installed into
tests/.node as the node client test installs its package) must find no WCAG 2.1 A/AA
violation, and a screenshot is written to docs/console-<page>-<language>.png.

The harness is tests/console/browser.py.
"""

from __future__ import annotations

import tempfile
from typing import Any

from tests.api.test_slice import jwt_header
from tests.console.browser import NEEDS_BROWSER, Browser, code_delivered, in_thread, install_axe
from tests.console.support import PASSWORD, console_engine

LEAD = "lead@department.example"
pytestmark = NEEDS_BROWSER


async def test_sign_in_see_the_dashboard_and_switch_to_french(
    aio_loop: None, database_url: str
) -> None:
    await install_axe()
    async with console_engine(database_url, recovery_sweep_seconds=0.3) as running:
        made = await running.create_service(name="Passport office", restricted=False)
        sid = made["service"]["id"]
        await running.set_roles(sid, await running.add_user(LEAD), ["view", "manage_api_keys"])
        async with running.client() as api:
            for i in range(3):
                r = await api.post(
                    "/v2/notifications/email", headers=jwt_header(made["keys"]["normal"]),
                    json={"email_address": f"p{i}@example.com",
                          "template_id": made["email_template"],
                          "personalisation": {"name": "A", "code": "1"}},
                )  # fmt: skip
                assert r.status_code == 201, r.text
        with tempfile.TemporaryDirectory(prefix="notify-console-chromium-") as profile:
            b = await in_thread(Browser, f"http://localhost:{running.port}", profile)
            try:
                await _walk(b, running, sid)
            finally:
                await in_thread(b.quit)
        assert len(b.shots) == 12


async def _walk(b: Browser, running: Any, sid: str) -> None:
    problems: dict[str, list[Any]] = {}

    async def check(name: str) -> None:
        found = await in_thread(b.check, name)
        if found:
            problems[f"{name}-{await in_thread(b.lang)}"] = found

    await in_thread(b.get, "/console/")
    await in_thread(b.wait_h1, "Sign in")
    assert await in_thread(b.first_tab_stop) == "Skip to main content"
    await check("sign-in")
    await in_thread(b.fill, {"email": LEAD, "password": PASSWORD})
    await in_thread(b.wait_h1, "Check your email")
    await check("code")
    code = await code_delivered(running, LEAD)
    await in_thread(b.fill, {"code": code})
    await in_thread(b.wait_h1, "Your services")
    await check("services")
    await in_thread(b.click_link, "Passport office")
    await in_thread(b.wait_h1, "Dashboard")
    await check("dashboard")
    await in_thread(b.click_link, "Templates")
    await in_thread(b.wait_h1, "Templates")
    await check("templates")
    await in_thread(b.click_link, "API keys")
    await in_thread(b.wait_h1, "API keys")
    await check("api-keys")
    await in_thread(b.click_link, "Français")  # the toggle keeps the page
    await in_thread(b.wait_h1, "Clés d'API")
    assert await in_thread(b.lang) == "fr"
    await check("api-keys")
    await in_thread(b.click_link, "Tableau de bord")
    await in_thread(b.wait_h1, "Tableau de bord")
    await check("dashboard")
    await in_thread(b.click_link, "Gabarits")
    await in_thread(b.wait_h1, "Gabarits")
    await check("templates")
    await in_thread(b.get, "/console/services")
    await in_thread(b.wait_h1, "Vos services")  # the choice is remembered
    await check("services")
    await in_thread(b.sign_out)
    await in_thread(b.wait_h1, "Se connecter")
    await check("sign-in")
    await in_thread(b.fill, {"email": LEAD, "password": PASSWORD})
    await in_thread(b.wait_h1, "Vérifiez vos courriels")
    await check("code")
    assert problems == {}
