"""Browser steps of the API keys and API integration pages (issue 27), for composing the
issue's full browser path: plain functions taking a ``Browser`` (tests/console/browser.py),
blocking (call them through ``in_thread``), in whichever language the browser is in: they
find things by id and structure, never by their words.

- ``sign_in(b, email, code_of)``: password, then the emailed code (``code_of()`` returns
  it; e.g. ``partial(trio.from_thread.run, code_delivered, running, email)``).
- ``create_key(b, service_id, name, key_type) -> key``: the full key, read from its
  once-only page.
- ``revoke_key(b, service_id, name)``.
- ``test_callback_response_time(b, service_id, url, token) -> words``: sets the delivery
  receipts callback, presses "test response time", returns what the page says.

Given a ``check`` (called in the browser's thread with a page's name, e.g. axe-core:
``Browser.check``), a step calls it on every page it shows.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.console.browser import Browser
from tests.console.support import PASSWORD

Check = Callable[[str], None] | None


def _checked(check: Check, name: str) -> None:
    if check:
        check(name)


def _by_css(b: Browser, selector: str) -> object:
    from selenium.webdriver.common.by import By

    return b.driver.find_element(By.CSS_SELECTOR, selector)


def _type(b: Browser, selector: str, value: str) -> None:
    box = _by_css(b, selector)
    box.clear()  # type: ignore[attr-defined]
    box.send_keys(value)  # type: ignore[attr-defined]


def _click(b: Browser, selector: str) -> None:
    _by_css(b, selector).click()  # type: ignore[attr-defined]


def _wait_for(b: Browser, selector: str) -> str:
    """Wait (15 s at most) for an element the next page has; its text."""
    from selenium.common.exceptions import NoSuchElementException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(b.driver, 15, ignored_exceptions=(NoSuchElementException,)).until(
        lambda d: d.find_element(By.CSS_SELECTOR, selector), f"no {selector!r}"
    )
    return str(b.driver.find_element(By.CSS_SELECTOR, selector).text)


def sign_in(b: Browser, email: str, code_of: Callable[[], str], check: Check = None) -> None:
    b.get("/console/sign-in")
    _checked(check, "sign-in")
    _type(b, "#email", email)
    _type(b, "#password", PASSWORD)
    _click(b, "main form button[type=submit]")
    _wait_for(b, "#code")
    _checked(check, "code")
    _type(b, "#code", code_of())
    _click(b, "main form button[type=submit]")
    _wait_for(b, "ul.services")
    _checked(check, "services")


def create_key(
    b: Browser, service_id: str, name: str, key_type: str = "normal", check: Check = None
) -> str:
    b.get(f"/console/services/{service_id}/api-keys")
    _checked(check, "api-keys")
    _click(b, "main a.button")  # "Create an API key"
    _wait_for(b, "input#name")
    _checked(check, "api-keys-new")
    _type(b, "#name", name)
    _click(b, f"input[name=key_type][value={key_type}]")
    _click(b, "main form button[type=submit]")
    _wait_for(b, "#new-key")
    _checked(check, "api-keys-created")
    return str(_by_css(b, "#new-key").get_attribute("value"))  # type: ignore[attr-defined]


def revoke_key(b: Browser, service_id: str, name: str, check: Check = None) -> None:
    from selenium.webdriver.common.by import By

    b.get(f"/console/services/{service_id}/api-keys")
    _checked(check, "api-keys")
    for row in b.driver.find_elements(By.CSS_SELECTOR, "main tbody tr"):
        if row.find_element(By.TAG_NAME, "td").text == name:
            row.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            _wait_for(b, "main .notice")
            _checked(check, "api-keys-revoked")
            return
    raise AssertionError(f"no live key named {name!r}")


def test_callback_response_time(
    b: Browser,
    service_id: str,
    url: str,
    token: str,
    check: Check = None,  # noqa: PT028 - a step
) -> str:
    b.get(f"/console/services/{service_id}/callbacks")
    _checked(check, "callbacks-form")
    _type(b, "#delivery_status-url", url)
    _type(b, "#delivery_status-bearer_token", token)
    _click(b, "#delivery_status-save")
    _wait_for(b, "main .notice")
    _checked(check, "callbacks-saved")
    _click(b, "#delivery_status-test")
    words = _wait_for(b, "#delivery_status-tested")
    _checked(check, "callbacks")
    return words


test_callback_response_time.__test__ = False  # type: ignore[attr-defined] # a step, not a test
