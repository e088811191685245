"""The console's browser harness: Debian's chromium and chromedriver driven by Selenium
from PyPI, axe-core from npm (installed into tests/.node on first use), screenshots into
docs/console-<page>-<language>.png.

Selenium blocks: run each browser step in a worker thread (``in_thread``) while the engine
serves on the test's trio loop. The browser visits http://localhost (a secure context: the
console's ``Secure`` ``__Host-`` cookies are kept on plain http there). Mark browser test
modules with ``NEEDS_BROWSER``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio

from engine.domain import console
from engine.domain import statuses as st
from engine.domain.team_mail import SYSTEM_SERVICE_ID
from tests import sql

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
NPM = shutil.which("npm")
NODE_DIR = Path(__file__).resolve().parents[1] / ".node"
# How chromium 156 answers a call on a node of a page navigated away from.
_DETACHED = "does not belong to the document"
AXE = NODE_DIR / "node_modules" / "axe-core" / "axe.min.js"
DOCS = Path(__file__).resolve().parents[2] / "docs"
T = TypeVar("T")

NEEDS_BROWSER = [
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

_HEADING = "const h = document.querySelector('h1'); return h ? h.innerText.trim() : null;"


async def install_axe() -> None:
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


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
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

    def h1(self) -> str | None:
        """The page's heading as rendered, or None while there is none. Read in one script
        call: finding the element and then asking for its text is two round trips, and a
        navigation between them detaches the node (chromium 156 reports that as a bare
        inspector error, not as a stale element)."""
        found = self.driver.execute_script(_HEADING)
        return None if found is None else str(found)

    def wait_h1(self, expected: str) -> None:
        """Wait (an explicit condition, 15 s at most) for the page whose heading is
        ``expected``: a click's navigation may still be under way when it returns."""
        from selenium.common.exceptions import (
            JavascriptException,
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
                JavascriptException,  # the document went away under the script
                NoSuchElementException,
                StaleElementReferenceException,
            ),
        ).until(shown, f"no page titled {expected!r}")

    def wait_gone(self, element: Any, what: str, seconds: float = 15) -> None:
        """Wait until ``element`` has left the document (its page navigated away): what
        selenium's ``staleness_of`` waits for, and chromium 156 also reports the detached
        node as a bare inspector error rather than a stale element."""
        from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        def gone(_: object) -> bool:
            try:
                element.is_enabled()
            except StaleElementReferenceException:
                return True
            except WebDriverException as exc:
                if _DETACHED in str(exc):
                    return True
                raise
            return False

        WebDriverWait(self.driver, seconds).until(gone, what)

    def wait_text(self, expected: str) -> None:
        """Wait (15 s at most) for ``expected`` in the page's source: for a form that
        comes back to a page with the same heading, where ``wait_h1`` would not wait."""
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, 15).until(
            lambda d: expected in d.page_source, f"no page showing {expected!r}"
        )

    def lang(self) -> str:
        return str(self.driver.execute_script("return document.documentElement.lang"))

    def first_tab_stop(self) -> str:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        self.driver.execute_script("document.activeElement && document.activeElement.blur()")
        ActionChains(self.driver).send_keys(Keys.TAB).perform()
        return str(self.driver.switch_to.active_element.text)

    def violations(self) -> list[Any]:
        """axe-core's WCAG 2.1 A/AA violations on this page (no screenshot)."""
        self.driver.execute_script(self.axe)
        found: list[Any] = self.driver.execute_async_script(_RUN_AXE)
        return found

    def check(self, name: str) -> list[Any]:
        """axe-core's WCAG 2.1 A/AA violations on this page; its screenshot into docs/."""
        violations = self.violations()
        shot = DOCS / f"console-{name}-{self.lang()}.png"
        self.driver.save_screenshot(str(shot))
        self.shots.append(shot)
        return violations

    def quit(self) -> None:
        self.driver.quit()


async def code_delivered(running: Any, email: str) -> str:
    """The sign-in code, once the engine's own email carrying it reached ``delivered``."""
    with trio.fail_after(20):
        while True:
            rows = await sql.opened(
                running.engine.store,
                "SELECT id, recipient, status FROM notifications WHERE service_id = $1"
                " AND template_id = $2",
                SYSTEM_SERVICE_ID, console.CODE_TEMPLATE.id,
            )  # fmt: skip
            if any(r["recipient"] == email and r["status"] == st.DELIVERED for r in rows):
                return str(await running.last_code(email))
            await trio.sleep(0.1)
