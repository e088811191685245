"""Safe callback URLs through the admin API and at delivery, with the deployment's defaults
(https only, public addresses only)."""

from __future__ import annotations

import pytest

from tests.api.test_admin import error_of
from tests.conftest import serving_engine


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
