"""The console's people in a real browser (issue 27), in English and in French: a manager
sees the team, invites an address (the engine's system service emails the link), sets up
an authenticator app in "Your account" and signs in with it; the invitee opens the link,
creates an account and signs in. axe-core finds no WCAG 2.1 A/AA violation on any of these
pages; screenshots go to docs/console-{team,invite,invite-accept,account,account-totp,
account-sms,code-totp}-<language>.png. The steps are tests/console/steps_people.py.
"""

from __future__ import annotations

import tempfile
from typing import Any

from tests.console import steps_people as steps
from tests.console.browser import NEEDS_BROWSER, Browser, code_delivered, in_thread, install_axe
from tests.console.support import PASSWORD, console_engine

LEAD = "lead@department.example"
pytestmark = NEEDS_BROWSER


async def test_team_invitations_and_totp_in_both_languages(
    aio_loop: None, database_url: str
) -> None:
    await install_axe()
    async with console_engine(database_url, recovery_sweep_seconds=0.3) as running:
        made = await running.create_service(name="Passport office", restricted=False)
        sid = made["service"]["id"]
        await running.set_roles(sid, await running.add_user(LEAD), ["view", "manage_settings"])
        with tempfile.TemporaryDirectory(prefix="notify-console-chromium-") as profile:
            b = await in_thread(Browser, f"http://localhost:{running.port}", profile)
            try:
                problems = await _walk(b, running, sid)
            finally:
                await in_thread(b.quit)
        assert problems == {}
        names = {shot.name for shot in b.shots}
        for page in ("team", "invite", "invite-accept", "account", "account-totp",
                     "account-sms", "code-totp"):  # fmt: skip
            assert {f"console-{page}-en.png", f"console-{page}-fr.png"} <= names, page
        newcomers = [await running.engine.store.console.user_by_email(e)
                     for e in ("ana@department.example", "benoit@department.example")]  # fmt: skip
        assert all(n is not None for n in newcomers)


async def _walk(b: Browser, running: Any, sid: str) -> dict[str, list[Any]]:
    problems: dict[str, list[Any]] = {}

    async def check(name: str) -> None:
        found = await in_thread(b.check, name)
        if found:
            problems[f"{name}-{await in_thread(b.lang)}"] = found

    # English: sign in with the emailed code, set up TOTP, invite, accept
    await in_thread(b.get, "/console/sign-in")
    await in_thread(b.fill, {"email": LEAD, "password": PASSWORD})
    await in_thread(b.wait_h1, "Check your email")
    await in_thread(b.fill, {"code": await code_delivered(running, LEAD)})
    await in_thread(b.wait_h1, "Your services")
    secret = await steps.set_up_totp(b, running, check)
    await in_thread(b.get, "/console/account/sms")
    await check("account-sms")
    await steps.invite_and_accept(b, running, sid, "ana@department.example", ["send"], check)
    await in_thread(b.wait_h1, "Sign in")
    await steps.sign_in_with_totp(b, running, LEAD, secret, check)
    await in_thread(b.get, f"/console/services/{sid}/team")
    await in_thread(b.wait_h1, "Team")
    # French: the same pages
    await in_thread(b.click_link, "Français")
    await in_thread(b.wait_h1, "Équipe")
    await in_thread(b.get, "/console/account")
    await in_thread(b.wait_h1, "Votre compte")
    await check("account")
    await in_thread(b.get, "/console/account/sms")
    await check("account-sms")
    await in_thread(b.get, "/console/account/totp")
    await check("account-totp")
    await steps.invite_and_accept(
        b, running, sid, "benoit@department.example", ["manage_templates"], check
    )
    await in_thread(b.wait_h1, "Se connecter")
    await steps.sign_in_with_totp(b, running, LEAD, secret, check)
    await in_thread(b.get, f"/console/services/{sid}/team")
    await in_thread(b.wait_h1, "Équipe")
    await check("team")
    return problems
