"""Browser steps for the console's people (issue 27), to compose the issue's full path:
invite someone and accept as them, set up TOTP in "Your account", sign in with it.

Each step is an async function taking a ``Browser`` (driven in a worker thread through
``in_thread``) and the running engine; ``check`` is the caller's axe + screenshot hook
(``await check(name)``), called on every page a step shows, so the caller keeps the list
of violations. Words are the page's language: the steps find things by URL, name or id,
never by their English text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from tests.console.browser import Browser, in_thread
from tests.console.support import PASSWORD
from tests.console.support_people import invite_link, totp_now

Check = Callable[[str], Awaitable[None]]


async def _none(_: str) -> None:
    return None


def _click_boxes(b: Browser, roles: list[str]) -> None:
    from selenium.webdriver.common.by import By

    for role in roles:
        box = b.driver.find_element(By.ID, f"role-{role}")
        if not box.is_selected():
            box.click()


def _text_of(b: Browser, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(b.driver.find_element(By.ID, element_id).text)


def _at(url: str, path: str) -> bool:
    """Whether ``url`` is ``path`` (with its query if ``path`` has one, else any query)."""
    parts = urlsplit(url)
    here = f"{parts.path}?{parts.query}" if "?" in path else parts.path
    return here == path


def _wait_url(b: Browser, path: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(b.driver, 15).until(lambda d: _at(d.current_url, path), f"not at {path}")


async def _wait_path(b: Browser, path: str) -> None:
    await in_thread(_wait_url, b, path)


async def invite(b: Browser, sid: str, email: str, roles: list[str], check: Check = _none) -> None:
    """As a signed-in manager: the team page, the invitation form, sent."""
    await in_thread(b.get, f"/console/services/{sid}/team")
    await check("team")
    await in_thread(b.get, f"/console/services/{sid}/team/invite")
    await check("invite")
    await in_thread(_click_boxes, b, roles)
    await in_thread(b.fill, {"email": email})
    await _wait_path(b, f"/console/services/{sid}/team?done=invited")
    await check("team")


async def accept_invitation(
    b: Browser, running: Any, email: str, name: str, check: Check = _none
) -> None:
    """Signed out: open the emailed link, set a name and password; the sign-in page."""
    link = await invite_link(running, email.lower())
    await in_thread(b.get, link)
    await check("invite-accept")
    await in_thread(b.fill, {"name": name, "password": PASSWORD})
    await _wait_path(b, "/console/sign-in?joined=1")


async def invite_and_accept(
    b: Browser, running: Any, sid: str, email: str, roles: list[str], check: Check = _none
) -> None:
    """A manager invites ``email``, signs out; the invitee accepts in the same browser."""
    await invite(b, sid, email, roles, check)
    await in_thread(b.sign_out)
    await _wait_path(b, "/console/sign-in")  # else the link's page races the sign-out
    await accept_invitation(b, running, email, email.split("@")[0].title(), check)


async def set_up_totp(b: Browser, running: Any, check: Check = _none) -> str:
    """Signed in: "Your account", the TOTP setup page, confirmed; the secret."""
    await in_thread(b.get, "/console/account")
    await check("account")
    await in_thread(b.get, "/console/account/totp")
    await check("account-totp")
    secret = (await in_thread(_text_of, b, "totp-key")).replace(" ", "")
    await in_thread(b.fill, {"code": totp_now(secret, running)})
    await _wait_path(b, "/console/account?done=totp")
    await check("account")
    return secret


async def sign_in_with_totp(
    b: Browser, running: Any, email: str, secret: str, check: Check = _none
) -> None:
    """From the sign-in page: password, then the app's code (a step not used before: the
    console's clock moves on a minute first)."""
    running.clock.advance(seconds=60)
    await in_thread(b.get, "/console/sign-in")
    await in_thread(b.fill, {"email": email, "password": PASSWORD})
    await _wait_path(b, "/console/two-factor")
    await check("code-totp")
    await in_thread(b.fill, {"code": totp_now(secret, running)})
    await _wait_path(b, "/console/services")
