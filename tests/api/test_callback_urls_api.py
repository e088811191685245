"""Safe callback URLs through the admin API and at delivery, with the deployment's defaults
(https only, public addresses only)."""

from __future__ import annotations

import pytest

from engine.crypto import SecretBox
from tests import sql
from tests.api.test_admin import error_of
from tests.api.test_slice import jwt_header
from tests.conftest import SECRET_KEY, serving_engine


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/cb", "url is not a valid https url"),
        ("https://127.0.0.1/cb", "url must not point to a loopback, private, link-local or "
                                 "reserved address (127.0.0.1)"),
        ("https://localhost:8443/cb", "url must not point to a loopback"),
        ("https://169.254.169.254/latest/meta-data", "url must not point to a loopback"),
        ("https://[::ffff:10.0.0.1]/cb", "url must not point to a loopback"),
        ("https://u:p@example.com/cb", "url must not contain a user name or password"),
    ],
)  # fmt: skip
async def test_an_unsafe_callback_url_is_refused(
    aio_loop: None, database_url: str, url: str, message: str
) -> None:
    async with serving_engine(
        database_url, callback_allow_http=False, callback_allow_private=False
    ) as running:
        sid = (await running.create_service())["service"]["id"]
        async with running.admin() as admin:
            r = await admin.put(
                f"/admin/services/{sid}/callback", json={"url": url, "bearer_token": "x" * 20}
            )
        [got] = error_of(r, 400)
        assert got.startswith(message), got


async def test_an_unsafe_callback_host_is_refused_and_http_send_urls_too(
    aio_loop: None, database_url: str
) -> None:
    """Per-send URLs (issue 23): an allowlist entry must resolve to public addresses only,
    and a send's URL must be https, under the deployment's defaults."""
    async with serving_engine(
        database_url, callback_allow_http=False, callback_allow_private=False
    ) as running:
        setup = await running.create_service()
        sid = setup["service"]["id"]
        async with running.admin() as admin:
            for host, message in (
                ("localhost", "url must not point to a loopback"),
                ("127.0.0.1", "url must not point to a loopback"),
                ("169.254.169.254", "url must not point to a loopback"),
                ("10.1.2.3", "url must not point to a loopback"),
                ("[::1]", "url must not point to a loopback"),
                ("no-such-host.invalid", "url host no-such-host.invalid cannot be resolved"),
            ):
                r = await admin.put(
                    f"/admin/services/{sid}/callback/hosts", json={"hosts": ["93.184.215.14", host]}
                )
                [got] = error_of(r, 400)
                assert got.startswith(message), (host, got)
            r = await admin.put(f"/admin/services/{sid}/callback/hosts",
                                json={"hosts": ["93.184.215.14"]})  # fmt: skip
            assert r.status_code == 200, r.text
            state = (await admin.get(f"/admin/services/{sid}/callback")).json()
            assert state["callback_hosts"] == ["93.184.215.14"]
            # The endpoint written directly: setting it through the API would call it.
            await sql.execute(
                running.engine.store,
                "INSERT INTO service_callbacks (service_id, callback_type, url, bearer_sealed)"
                " VALUES ($1, 'delivery_status', 'https://93.184.215.14/cb', $2)",
                sid,
                SecretBox(SECRET_KEY).seal("t" * 20),
            )
        async with running.client() as client:
            r = await client.post("/v2/notifications/email", json={
                "email_address": "a@example.com", "template_id": setup["email_template"],
                "personalisation": {"name": "Ada", "code": "1"},
                "callback_url": "http://93.184.215.14/cb",
            }, headers=jwt_header(setup["keys"]["normal"]))  # fmt: skip
        [got] = error_of(r, 400)
        assert got == "callback_url is not a valid https url"
