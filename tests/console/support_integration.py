"""Helpers of the API keys, API integration and settings tests (issue 27): a signed-in
visitor with given roles, the new key read from its once-only page, a page's notice."""

from __future__ import annotations

import html
import re

import httpx2

from tests.console.support import ConsoleEngine, Visitor

_NEW_KEY = re.compile(r'id="new-key"[^>]*>([^<]+)</textarea>')
_STATUS = re.compile(r'role="status"[^>]*>\s*<p>(.*?)</p>', re.S)
_FIELD_ERRORS = re.compile(r'class="field-error"[^>]*>(.*?)</p>', re.S)


async def member(
    running: ConsoleEngine, v: Visitor, service_id: str, email: str, roles: list[str],
    *, platform_admin: bool = False, lang: str = "en",
) -> None:  # fmt: skip
    """Make ``email`` a member with ``roles``, sign ``v`` in, choose the language."""
    uid = await running.add_user(email, platform_admin=platform_admin)
    if roles:
        await running.set_roles(service_id, uid, roles)
    r = await v.sign_in(running, email)
    assert r.status_code == 303, r.text
    if lang != "en":
        await v.get(f"/console/language/{lang}?next=/console/services")


def new_key(page: httpx2.Response) -> str:
    found = _NEW_KEY.search(page.text)
    assert found is not None, page.text
    return html.unescape(found[1])


def notices(page: httpx2.Response) -> list[str]:
    """The page's status messages (notices and test results), unescaped."""
    return [html.unescape(re.sub(r"\s+", " ", m)) for m in _STATUS.findall(page.text)]


def field_errors(page: httpx2.Response) -> list[str]:
    return [html.unescape(m) for m in _FIELD_ERRORS.findall(page.text)]
