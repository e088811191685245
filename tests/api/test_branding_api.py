"""Email branding through the admin API and language-aware sending (issue 22), on a real
engine: what the simulated provider receives is compared with the preview, byte for byte.
"""

from __future__ import annotations

from typing import Any

import httpx2
import trio
from notifications_python_client.notifications import NotificationsAPIClient

from tests import sql
from tests.api.test_files_and_unsubscribe import auth, record, send_email
from tests.conftest import RunningEngine
from tests.domain.test_branding import GOLDEN

LOGO = (GOLDEN / "example-logo.png").read_bytes()
PAIR = {
    "name": "pair", "type": "email",
    "subject": "Your application, ((name))", "content": "Hello ((name)), it is **done**.",
    "subject_fr": "Votre demande, ((name))", "content_fr": "Bonjour ((name)), c'est **fait**.",
}  # fmt: skip


async def _setup(running: RunningEngine, **settings: Any) -> tuple[str, str, str]:
    service = await running.create_service()
    sid = service["service"]["id"]
    async with running.admin() as a:
        r = await a.patch(f"/admin/services/{sid}", json=settings)
        assert r.status_code == 200, r.text
        template = (await a.post(f"/admin/services/{sid}/templates", json=PAIR)).json()["id"]
    return sid, template, service["keys"]["normal"]


async def test_preview_is_exactly_the_sent_html_for_each_branding(
    running_engine: RunningEngine,
) -> None:
    recorder = record(running_engine)
    for settings in (
        {"email_branding": "fip"},
        {"email_branding": "fip", "default_branding_is_french": True},
        {"email_branding": "organisation", "brand_name": "Example Agency",
         "brand_colour": "#1D5C63"},
        {"email_branding": "none"},
    ):  # fmt: skip
        sid, template, key = await _setup(running_engine, **settings)
        if settings["email_branding"] == "organisation":
            async with running_engine.admin() as a:
                r = await a.put(f"/admin/services/{sid}/branding/logo", content=LOGO,
                                headers={"Content-Type": "image/png"})  # fmt: skip
            assert r.status_code == 200, r.text
        for language in ("en", "fr"):
            values = {"name": "Ada"}
            body = {"email_address": "a@example.com", "template_id": template,
                    "personalisation": values, "language": language}  # fmt: skip
            r = await send_email(running_engine, key, body)
            assert r.status_code == 201, r.text
            sent = await recorder.wait_for(r.json()["id"])
            async with running_engine.client(headers=auth(key)) as c:
                preview = (await c.post(f"/v2/template/{template}/preview",
                    json={"personalisation": values, "language": language})).json()  # fmt: skip
            assert preview["html"] == sent.html
            assert preview["subject"] == sent.subject
            assert f'<html lang="{language}">' in sent.html
            if settings["email_branding"] == "fip":
                french_first = settings.get("default_branding_is_french", False)
                assert f"gc-signature-{'fr' if french_first else 'en'}.png" in sent.html
            if settings["email_branding"] == "organisation":
                assert 'bgcolor="#1d5c63"' in sent.html
                assert 'alt="Example Agency"' in sent.html
            if settings["email_branding"] == "none":
                assert "<img" not in sent.html


async def test_images_are_served_by_the_engine(running_engine: RunningEngine) -> None:
    sid, template, key = await _setup(running_engine, email_branding="organisation")
    async with running_engine.admin() as a:
        bad = await a.put(f"/admin/services/{sid}/branding/logo", content=b"<svg/>",
                          headers={"Content-Type": "image/svg+xml"})  # fmt: skip
        assert bad.status_code == 400
        too_big = await a.put(f"/admin/services/{sid}/branding/logo",
            content=LOGO + b"0" * (1024 * 1024), headers={"Content-Type": "image/png"})  # fmt: skip
        assert too_big.status_code == 400
        colour = await a.patch(f"/admin/services/{sid}", json={"brand_colour": "red"})
        assert colour.status_code == 400
        r = await a.put(f"/admin/services/{sid}/branding/logo", content=LOGO,
                        headers={"Content-Type": "image/png"})  # fmt: skip
    url = r.json()["url"]
    path = url.split("/", 3)[3]
    async with running_engine.client() as c:
        logo = await c.get(f"/{path}")
        assert logo.status_code == 200
        assert logo.content == LOGO
        assert logo.headers["content-type"] == "image/png"
        assert (await c.get(f"/{path[:-1]}0")).status_code == 404
        signature = await c.get("/static/branding/gc-signature-fr.png")
        assert signature.status_code == 200
        assert signature.content.startswith(b"\x89PNG")
        assert (await c.get("/static/branding/..%2Fconfig.py")).status_code == 404
    # The email names the logo's URL.
    async with running_engine.client(headers=auth(key)) as c:
        preview = (await c.post(f"/v2/template/{template}/preview",
                                json={"personalisation": {"name": "A"}})).json()  # fmt: skip
    assert f'src="{url}"' in preview["html"]


async def test_language_picks_the_version_and_is_recorded(running_engine: RunningEngine) -> None:
    sid, template, key = await _setup(running_engine)
    bodies = {}
    for language in ("fr", None, "en"):
        body: dict[str, Any] = {"email_address": "a@example.com", "template_id": template,
                                "personalisation": {"name": "Ada"}}  # fmt: skip
        if language is not None:
            body["language"] = language
        r = await send_email(running_engine, key, body)
        assert r.status_code == 201, r.text
        bodies[language] = r.json()["content"]
    assert bodies["fr"] == {**bodies["fr"], "subject": "Votre demande, Ada",
                            "body": "Bonjour Ada, c'est fait."}  # fmt: skip
    assert bodies[None]["subject"] == "Your application, Ada"
    assert bodies[None] == bodies["en"]
    bad = await send_email(running_engine, key, {"email_address": "a@example.com",
        "template_id": template, "language": "de", "personalisation": {"name": "A"}})  # fmt: skip
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["message"] == "language de is not one of [en, fr]"
    # The service's default language applies to a send that names none.
    async with running_engine.admin() as a:
        await a.patch(f"/admin/services/{sid}", json={"default_language": "fr"})
    r = await send_email(running_engine, key, {"email_address": "a@example.com",
        "template_id": template, "personalisation": {"name": "Ada"}})  # fmt: skip
    assert r.json()["content"]["subject"] == "Votre demande, Ada"
    rows = await _languages(running_engine)
    assert rows == ["fr", "en", "en", "fr"]


async def _languages(running: RunningEngine) -> list[str | None]:
    with trio.fail_after(10):
        rows = await sql.fetch(
            running.engine.store, "SELECT language FROM notifications ORDER BY created_at"
        )
    return [r["language"] for r in rows]


async def test_templates_show_both_versions_and_the_python_client_is_unaffected(
    running_engine: RunningEngine,
) -> None:
    _, template, key = await _setup(running_engine)
    client = NotificationsAPIClient(key, base_url=running_engine.base_url)
    got = await trio.to_thread.run_sync(client.get_template, template)
    assert got["body"] == PAIR["content"]
    assert got["subject"] == PAIR["subject"]
    assert got["body_fr"] == PAIR["content_fr"]
    assert got["subject_fr"] == PAIR["subject_fr"]
    assert set(got["personalisation"]) == {"name"}
    listed = await trio.to_thread.run_sync(client.get_all_templates)
    single = next(t for t in listed["templates"] if t["name"] == "email")
    assert "body_fr" not in single
    assert "subject_fr" not in single
    sent = await trio.to_thread.run_sync(
        lambda: client.send_email_notification("a@example.com", template, {"name": "Ada"})
    )
    assert sent["content"]["subject"] == "Your application, Ada"
    preview = await trio.to_thread.run_sync(
        lambda: client.post_template_preview(template, {"name": "Ada"})
    )
    assert preview["subject"] == "Your application, Ada"
    async with httpx2.AsyncClient(base_url=running_engine.base_url) as c:
        assert (await c.get("/static/branding/nothing.png")).status_code == 404
