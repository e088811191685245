"""The console in a real browser (issue 27): Debian's chromium and chromedriver, driven by
Selenium from PyPI. Sign in with the code the engine emailed (read back from the system
service's notification once the simulated provider has delivered it), see the services,
the dashboard, the templates and the API keys, switch to French and see them again, sign
out and see the sign-in page in French. On every page axe-core (npm, installed into
tests/.node as the node client test installs its package) must find no WCAG 2.1 A/AA
violation, and a screenshot is written to docs/console-<page>-<language>.png.

Selenium blocks: each browser step runs in a worker thread (``trio.to_thread``) while the
engine serves on the test's trio loop. The browser visits http://localhost (a secure
context: the console's ``Secure`` ``__Host-`` cookies are kept on plain http there).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio

from engine.domain import console
from engine.domain import statuses as st
from engine.domain.team_mail import SYSTEM_SERVICE_ID
from tests import sql
from tests.api.test_slice import jwt_header
from tests.console.support import PASSWORD, console_engine

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
NPM = shutil.which("npm")
NODE_DIR = Path(__file__).resolve().parents[1] / ".node"
AXE = NODE_DIR / "node_modules" / "axe-core" / "axe.min.js"
DOCS = Path(__file__).resolve().parents[2] / "docs"
LEAD = "lead@department.example"
T = TypeVar("T")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER) and NPM),
        reason="chromium, chromedriver and npm are needed (scripts/test installs them)",
    ),
]

_RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
  .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,
                                           nodes: v.nodes.map(n => n.target.join(' '))}))))
  .catch(e => done([{id: 'axe-error', impact: String(e), nodes: []}]));
"""


async def _install_axe() -> None:
    if AXE.exists():
        return
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    assert NPM is not None
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    with trio.fail_after(120):
        result = await trio.run_process(
            [NPM, "install", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR), "axe-core@^4"],
            capture_stdout=True, capture_stderr=True, check=False, env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode(errors="replace")


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    with trio.fail_after(60):
        return await trio.to_thread.run_sync(fn, *args)


class Browser:
    def __init__(self, base_url: str, profile: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-proxy-server",
                    "--window-size=1200,900", "--force-device-scale-factor=1",
                    f"--user-data-dir={profile}", "--lang=en-CA"):  # fmt: skip
            options.add_argument(arg)
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        self.base = base_url
        self.axe = AXE.read_text()
        self.shots: list[Path] = []

    def get(self, path: str) -> None:
        self.driver.get(self.base + path)

    def fill(self, fields: dict[str, str]) -> None:
        from selenium.webdriver.common.by import By

        for name, value in fields.items():
            box = self.driver.find_element(By.NAME, name)
            box.clear()
            box.send_keys(value)
        self.driver.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()

    def sign_out(self) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, "header button[type=submit]").click()

    def click_link(self, text: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.LINK_TEXT, text).click()

    def h1(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.TAG_NAME, "h1").text)

    def wait_h1(self, expected: str) -> None:
        """Wait (an explicit condition, 15 s at most) for the page whose heading is
        ``expected``: a click's navigation may still be under way when it returns."""
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
        )
        from selenium.webdriver.support.ui import WebDriverWait

        def shown(_: object) -> bool:
            return self.h1() == expected

        WebDriverWait(
            self.driver,
            15,
            ignored_exceptions=(
                NoSuchElementException,
                StaleElementReferenceException,
            ),
        ).until(shown, f"no page titled {expected!r}")

    def lang(self) -> str:
        return str(self.driver.execute_script("return document.documentElement.lang"))

    def first_tab_stop(self) -> str:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        self.driver.execute_script("document.activeElement && document.activeElement.blur()")
        ActionChains(self.driver).send_keys(Keys.TAB).perform()
        return str(self.driver.switch_to.active_element.text)

    def check(self, name: str) -> list[Any]:
        """axe-core's WCAG 2.1 A/AA violations on this page; its screenshot into docs/."""
        self.driver.execute_script(self.axe)
        violations: list[Any] = self.driver.execute_async_script(_RUN_AXE)
        shot = DOCS / f"console-{name}-{self.lang()}.png"
        self.driver.save_screenshot(str(shot))
        self.shots.append(shot)
        return violations

    def quit(self) -> None:
        self.driver.quit()


async def test_sign_in_see_the_dashboard_and_switch_to_french(
    aio_loop: None, database_url: str
) -> None:
    await _install_axe()
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
            b = await _in_thread(Browser, f"http://localhost:{running.port}", profile)
            try:
                await _walk(b, running, sid)
            finally:
                await _in_thread(b.quit)
        assert len(b.shots) == 12


async def _code_delivered(running: Any) -> str:
    """The sign-in code, once the engine's own email carrying it reached ``delivered``."""
    with trio.fail_after(20):
        while True:
            rows = await sql.opened(
                running.engine.store,
                "SELECT id, recipient, status FROM notifications WHERE service_id = $1"
                " AND template_id = $2",
                SYSTEM_SERVICE_ID, console.CODE_TEMPLATE.id,
            )  # fmt: skip
            if any(r["recipient"] == LEAD and r["status"] == st.DELIVERED for r in rows):
                return str(await running.last_code(LEAD))
            await trio.sleep(0.1)


async def _walk(b: Browser, running: Any, sid: str) -> None:
    problems: dict[str, list[Any]] = {}

    async def check(name: str) -> None:
        found = await _in_thread(b.check, name)
        if found:
            problems[f"{name}-{await _in_thread(b.lang)}"] = found

    await _in_thread(b.get, "/console/")
    await _in_thread(b.wait_h1, "Sign in")
    assert await _in_thread(b.first_tab_stop) == "Skip to main content"
    await check("sign-in")
    await _in_thread(b.fill, {"email": LEAD, "password": PASSWORD})
    await _in_thread(b.wait_h1, "Check your email")
    await check("code")
    code = await _code_delivered(running)
    await _in_thread(b.fill, {"code": code})
    await _in_thread(b.wait_h1, "Your services")
    await check("services")
    await _in_thread(b.click_link, "Passport office")
    await _in_thread(b.wait_h1, "Dashboard")
    await check("dashboard")
    await _in_thread(b.click_link, "Templates")
    await _in_thread(b.wait_h1, "Templates")
    await check("templates")
    await _in_thread(b.click_link, "API keys")
    await _in_thread(b.wait_h1, "API keys")
    await check("api-keys")
    await _in_thread(b.click_link, "Français")  # the toggle keeps the page
    await _in_thread(b.wait_h1, "Clés d'API")
    assert await _in_thread(b.lang) == "fr"
    await check("api-keys")
    await _in_thread(b.click_link, "Tableau de bord")
    await _in_thread(b.wait_h1, "Tableau de bord")
    await check("dashboard")
    await _in_thread(b.click_link, "Gabarits")
    await _in_thread(b.wait_h1, "Gabarits")
    await check("templates")
    await _in_thread(b.get, "/console/services")
    await _in_thread(b.wait_h1, "Vos services")  # the choice is remembered
    await check("services")
    await _in_thread(b.sign_out)
    await _in_thread(b.wait_h1, "Se connecter")
    await check("sign-in")
    await _in_thread(b.fill, {"email": LEAD, "password": PASSWORD})
    await _in_thread(b.wait_h1, "Vérifiez vos courriels")
    await check("code")
    assert problems == {}
