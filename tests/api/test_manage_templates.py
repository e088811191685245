"""GC Notify's /v2/manage-template through plain HTTP (issue 24): the official Python
client (13.0.0 in .venv) has no call for it.

Each expectation follows GC's code (notification-api ``app/v2/manage_template``, August
2026) and says so where GC's documentation differs:
- timestamps: the code's DATETIME_FORMAT (``2026-06-15T12:30:00.000000Z``); the
  documentation's examples show ``2026-06-15 12:30:00.000000``.
- ``postage``: the code returns the template's postage, null for email and SMS; the
  documentation's examples show ``"second"``.
- a missing category: the code answers ``TemplateCategoryValidationError`` "template_category_id
  is a required property" with the category list; the documentation shows a
  ``ValidationError`` "'template_category_id' is a required property".
- archiving: the code versions it (``version_class``), so DELETE answers the next version;
  the documentation's example keeps the version.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx2
import trio

from tests.api.test_admin import error_of
from tests.api.test_slice import jwt_header
from tests.conftest import RunningEngine

AUTHENTICATION = "b6c42a7e-2a26-4a07-802b-123a5c3198a9"  # priority
GENERAL = "207b293c-2ae5-48e8-836d-fcabd60b2153"  # bulk
NO_PERMISSION = "This API key does not have permission to manage templates."


async def key_with(running: RunningEngine, sid: str, *permissions: str, key_type: str = "normal"
                   ) -> str:  # fmt: skip
    async with running.admin() as admin:
        r = await admin.post(
            f"/admin/services/{sid}/api-keys",
            json={"name": f"manager {uuid.uuid4().hex[:6]}", "key_type": key_type,
                  "permissions": list(permissions)},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["permissions"] == list(dict.fromkeys(permissions))
        return str(r.json()["key"])


def category_error(r: httpx2.Response) -> tuple[str, str, list[dict[str, Any]]]:
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == {"status_code", "errors", "template_categories"}
    assert body["status_code"] == 400
    assert len(body["errors"]) == 1
    return body["errors"][0]["error"], body["errors"][0]["message"], body["template_categories"]


async def test_create_get_update_archive_as_gc_does(running_engine: RunningEngine) -> None:
    made = await running_engine.create_service()
    sid = made["service"]["id"]
    key = await key_with(running_engine, sid, "manage_templates", key_type="test")
    headers = jwt_header(key)
    async with running_engine.client() as client:
        with trio.fail_after(20):
            r = await client.post(
                "/v2/manage-template",
                json={"name": "Password reset", "template_type": "email",
                      "subject": "Reset ((name))", "content": "Hello ((name)): ((link))",
                      "template_category_id": AUTHENTICATION},
                headers=headers,
            )  # fmt: skip
            assert r.status_code == 201, r.text
            created = r.json()
            tid = created["id"]
            assert list(created) == [
                "id", "service_id", "service_name", "name", "type", "created_at",
                "updated_at", "created_by", "version", "body", "subject", "postage",
                "template_category_id", "template_category_name", "folder_id", "archived",
            ]  # fmt: skip
            assert created["service_id"] == sid
            assert created["service_name"] == "Test service"
            assert created["version"] == 1
            assert created["updated_at"] is None
            assert created["created_at"].endswith("Z")
            assert "T" in created["created_at"]
            assert created["template_category_name"] == "Authentication"
            assert created["postage"] is None
            assert created["folder_id"] is None
            assert created["archived"] is False

            # The template is the service's at once: it sends, and at the category's priority.
            sent = await client.post(
                "/v2/notifications/email",
                json={"email_address": "someone@example.com", "template_id": tid,
                      "personalisation": {"name": "Ada", "link": "x"}},
                headers=jwt_header(made["keys"]["normal"]),
            )  # fmt: skip
            assert sent.status_code == 201, sent.text
            assert sent.json()["content"]["subject"] == "Reset Ada"
            row = await _process_type(running_engine, tid)
            assert row == "priority"

            r = await client.patch(
                f"/v2/manage-template/{tid}",
                json={"name": "Password reset v2", "template_category_id": GENERAL,
                      "content_fr": "Bonjour ((name))", "subject_fr": "Réinitialiser"},
                headers=headers,
            )  # fmt: skip
            assert r.status_code == 200, r.text
            patched = r.json()
            assert patched["version"] == 2
            assert patched["name"] == "Password reset v2"
            assert patched["body"] == "Hello ((name)): ((link))"  # not named: kept
            assert patched["template_category_name"] == "General communication"
            assert patched["body_fr"] == "Bonjour ((name))"
            assert patched["subject_fr"] == "Réinitialiser"
            assert patched["updated_at"] is not None
            assert await _process_type(running_engine, tid) == "bulk"

            got = await client.get(f"/v2/manage-template/{tid}", headers=headers)
            assert got.json() == patched
            # The read API shows the same versions (its own shape).
            v1 = await client.get(f"/v2/template/{tid}/version/1", headers=headers)
            assert v1.json()["name"] == "Password reset"

            r = await client.delete(f"/v2/manage-template/{tid}", headers=headers)
            assert r.status_code == 200, r.text
            assert r.json()["archived"] is True
            assert r.json()["version"] == 3
            r = await client.delete(f"/v2/manage-template/{tid}", headers=headers)
            assert error_of(r, 400) == ["Template is already archived."]
            # An archived template sends no more (the other processes hear of it too).
            sent = await client.post(
                "/v2/notifications/email",
                json={"email_address": "someone@example.com", "template_id": tid,
                      "personalisation": {"name": "Ada", "link": "x"}},
                headers=jwt_header(made["keys"]["normal"]),
            )  # fmt: skip
            assert sent.status_code == 400, sent.text


async def _process_type(running: RunningEngine, template_id: str) -> str:
    from tests import sql

    rows = await sql.fetch(
        running.engine.store, "SELECT process_type FROM templates WHERE id = $1",
        uuid.UUID(template_id),
    )  # fmt: skip
    return str(rows[0]["process_type"])


async def test_permission_is_checked_first_and_costs_send_keys_nothing(
    running_engine: RunningEngine,
) -> None:
    made = await running_engine.create_service()
    sid = made["service"]["id"]
    reports_only = await key_with(running_engine, sid, "manage_reports")
    tid = made["email_template"]
    async with running_engine.client() as client:
        for key in (made["keys"]["normal"], made["keys"]["team"], reports_only):
            headers = jwt_header(key)
            calls = [
                client.post("/v2/manage-template", json={"bogus": 1}, headers=headers),
                client.get("/v2/manage-template/template-categories", headers=headers),
                client.get(f"/v2/manage-template/{tid}", headers=headers),
                client.get("/v2/manage-template/not-a-uuid", headers=headers),
                client.patch(f"/v2/manage-template/{tid}", json={"name": "x"}, headers=headers),
                client.delete(f"/v2/manage-template/{tid}", headers=headers),
            ]
            for call in calls:
                r = await call
                assert r.status_code == 403, r.text
                assert r.json()["errors"] == [{"error": "ForbiddenError", "message": NO_PERMISSION}]
        # French, with the French catalogue (issue 22).
        r = await client.get(
            "/v2/manage-template/template-categories",
            headers={**jwt_header(reports_only), "Accept-Language": "fr"},
        )
        assert r.json()["errors"][0]["message"] == (
            "Cette clé d'API n'a pas la permission de gérer les gabarits."
        )
    # Only GC's two permissions exist.
    async with running_engine.admin() as admin:
        r = await admin.post(f"/admin/services/{sid}/api-keys",
                             json={"name": "k", "permissions": ["send_letters"]})  # fmt: skip
        assert r.status_code == 400, r.text
        assert "permissions" in r.json()["errors"][0]["message"]


async def test_categories_and_gc_errors(running_engine: RunningEngine) -> None:
    made = await running_engine.create_service()
    sid = made["service"]["id"]
    headers = jwt_header(await key_with(running_engine, sid, "manage_templates"))
    sms = {"name": "n", "template_type": "sms", "content": "Hi"}
    async with running_engine.client() as client:
        r = await client.get("/v2/manage-template/template-categories", headers=headers)
        listed = r.json()["template_categories"]
        assert len(listed) == 9  # GC's nine visible ones; its three generic ones are hidden
        assert {"template_category_id": AUTHENTICATION, "name": "Authentication"} in listed

        r = await client.post("/v2/manage-template", json=sms, headers=headers)
        error, message, categories = category_error(r)
        assert (error, message) == ("TemplateCategoryValidationError",
                                    "template_category_id is a required property")  # fmt: skip
        assert categories == listed
        r = await client.post(
            "/v2/manage-template", json={**sms, "template_category_id": "nope"}, headers=headers
        )
        assert category_error(r)[:2] == (
            "TemplateCategoryValidationError",
            "template_category_id must be a valid UUID",
        )
        r = await client.post(
            "/v2/manage-template", json={**sms, "template_category_id": str(uuid.uuid4())},
            headers={**headers, "Accept-Language": "fr"},
        )  # fmt: skip
        error, message, categories = category_error(r)
        assert error == "TemplateCategoryNotFoundError"
        assert message == "template_category_id introuvable"
        assert categories == listed  # kept beside the translated envelope

        # jsonschema's messages, every one at once (GC's validate).
        r = await client.post(
            "/v2/manage-template",
            json={"template_type": "letter", "content": 5, "template_category_id": GENERAL,
                  "colour": "red"},
            headers=headers,
        )  # fmt: skip
        assert sorted(error_of(r, 400)) == sorted([
            "name is a required property",
            "Additional properties are not allowed (colour was unexpected)",
            "content 5 is not of type string",
            "template_type letter is not one of [sms, email]",
        ])  # fmt: skip
        email = {"name": "n", "template_type": "email", "content": "c",
                 "template_category_id": GENERAL}  # fmt: skip
        r = await client.post("/v2/manage-template", json=email, headers=headers)
        assert error_of(r, 400) == ["subject is a required property"]
        r = await client.post(
            "/v2/manage-template", json={**email, "subject": "s",
                                         "parent_folder_id": str(uuid.uuid4())},
            headers=headers,
        )  # fmt: skip
        assert error_of(r, 400) == ["parent_folder_id not found"]
        r = await client.post(
            "/v2/manage-template",
            json={**sms, "template_category_id": GENERAL, "content": "a" * 613},
            headers=headers,
        )
        assert error_of(r, 400) == ["Content has a character count greater than the limit of 612"]
        r = await client.post(
            "/v2/manage-template",
            json={**sms, "template_category_id": GENERAL, "name": "n" * 256},
            headers=headers,
        )
        assert error_of(r, 400) == ["Template name must be less than 255 characters"]

        tid = made["sms_template"]
        r = await client.patch(
            f"/v2/manage-template/{tid}", json={"template_type": "sms"}, headers=headers
        )
        assert error_of(r, 400) == [
            "Additional properties are not allowed (template_type was unexpected)"
        ]
        r = await client.patch(f"/v2/manage-template/{uuid.uuid4()}", json={"name": "x"},
                               headers=headers)  # fmt: skip
        assert error_of(r, 404) == ["No result found"]
        r = await client.get("/v2/manage-template/not-a-uuid", headers=headers)
        assert error_of(r, 400) == ["id is not a valid UUID"]
        # Another service's template is not found.
        other = await running_engine.create_service()
        r = await client.get(f"/v2/manage-template/{other['sms_template']}", headers=headers)
        assert error_of(r, 404) == ["No result found"]


async def test_concurrent_updates_each_take_their_own_version(
    running_engine: RunningEngine,
) -> None:
    made = await running_engine.create_service()
    sid, tid = made["service"]["id"], made["sms_template"]
    headers = jwt_header(await key_with(running_engine, sid, "manage_templates"))
    versions: list[int] = []
    async with running_engine.client() as client:

        async def patch(n: int) -> None:
            r = await client.patch(
                f"/v2/manage-template/{tid}", json={"content": f"v{n}"}, headers=headers
            )
            assert r.status_code == 200, r.text
            versions.append(r.json()["version"])

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for n in range(4):
                    nursery.start_soon(patch, n)
        assert sorted(versions) == [2, 3, 4, 5]
        for v in range(2, 6):
            r = await client.get(f"/v2/template/{tid}/version/{v}", headers=headers)
            assert r.status_code == 200, r.text
