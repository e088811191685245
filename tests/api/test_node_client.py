"""The official ``notifications-node-client`` (npm) against a running engine: send an email
and an SMS, read both back, list them and read a template (``node_client_check.js``).

Runs whenever ``node`` is on PATH. The client is installed once with npm into
``tests/.node/`` (git-ignored) and reused; an install failure fails the test (only a
missing node skips it).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import trio

from tests.api.contract import (
    EMAIL_CONTENT_FIELDS,
    NOTIFICATION_FIELDS,
    POST_FIELDS,
    SMS_CONTENT_FIELDS,
    TEMPLATE_FIELDS,
)
from tests.conftest import RunningEngine

NODE = shutil.which("node")
NPM = shutil.which("npm")
NODE_DIR = Path(__file__).resolve().parents[1] / ".node"
PACKAGE = "notifications-node-client@^8"
SCRIPT = Path(__file__).with_name("node_client_check.js")

pytestmark = pytest.mark.skipif(
    NODE is None or NPM is None, reason="node/npm not installed: the node client test needs them"
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NODE_PATH"] = str(NODE_DIR / "node_modules")
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


async def _install() -> None:
    if (NODE_DIR / "node_modules" / "notifications-node-client" / "package.json").exists():
        return
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    assert NPM is not None
    with trio.fail_after(90):
        result = await trio.run_process(
            [NPM, "install", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR), PACKAGE],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=_env(),
        )
    assert result.returncode == 0, result.stderr.decode(errors="replace")


async def test_node_client_sends_and_reads_back(running_engine: RunningEngine) -> None:
    await _install()
    setup = await running_engine.create_service()
    assert NODE is not None
    args = [
        NODE,
        str(SCRIPT),
        running_engine.base_url,
        setup["keys"]["normal"],
        setup["email_template"],
        setup["sms_template"],
    ]
    with trio.fail_after(25):
        result = await trio.run_process(
            args, capture_stdout=True, capture_stderr=True, check=False, env=_env()
        )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    out = json.loads(result.stdout)

    email, sms = out["email"], out["sms"]
    assert set(email) == POST_FIELDS
    assert set(email["content"]) == EMAIL_CONTENT_FIELDS
    assert email["content"]["subject"] == "Hello Node"
    assert email["reference"] == "node-email"
    assert set(sms) == POST_FIELDS
    assert set(sms["content"]) == SMS_CONTENT_FIELDS
    assert sms["content"]["body"] == "Test service: Code: js-2"

    for sent, back in ((email, out["emailBack"]), (sms, out["smsBack"])):
        assert set(back) == NOTIFICATION_FIELDS
        assert back["id"] == sent["id"]
        assert back["status"] == "delivered"
        assert back["reference"] == sent["reference"]
    assert out["emailBack"]["email_address"] == "node@example.com"
    assert out["smsBack"]["phone_number"] == "+16135550199"
    assert [n["id"] for n in out["list"]["notifications"]] == [sms["id"], email["id"]]
    assert set(out["template"]) == TEMPLATE_FIELDS
    assert out["template"]["id"] == setup["email_template"]
    assert out["notFound"] == {
        "status": 404,
        "body": {
            "status_code": 404,
            "errors": [{"error": "NoResultFound", "message": "No result found"}],
        },
    }


async def test_node_client_unchanged_for_a_french_service_and_a_bilingual_template(
    running_engine: RunningEngine,
) -> None:
    """Issue 22: a service whose sends default to French, an email template with an English
    and a French version whose French holds [[fr]]/[[en]] blocks: the client needs nothing."""
    await _install()
    setup = await running_engine.create_service()
    sid = setup["service"]["id"]
    async with running_engine.admin() as admin:
        r = await admin.patch(f"/admin/services/{sid}", json={"default_language": "fr"})
        assert r.status_code == 200, r.text
        r = await admin.post(f"/admin/services/{sid}/templates", json={
            "name": "bilingual", "type": "email",
            "subject": "Hello ((name))", "content": "Code ((code))",
            "subject_fr": "Bonjour ((name))",
            "content_fr": "[[fr]]\nCode : ((code))\n[[/fr]]\n\n[[en]]\nCode: ((code))\n[[/en]]",
        })  # fmt: skip
        assert r.status_code == 201, r.text
        bilingual = r.json()["id"]
    assert NODE is not None
    args = [NODE, str(SCRIPT), running_engine.base_url, setup["keys"]["normal"], bilingual,
            setup["sms_template"]]  # fmt: skip
    with trio.fail_after(25):
        result = await trio.run_process(
            args, capture_stdout=True, capture_stderr=True, check=False, env=_env()
        )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    out = json.loads(result.stdout)
    email = out["email"]
    assert set(email) == POST_FIELDS
    assert email["content"]["subject"] == "Bonjour Node"
    assert email["content"]["body"] == "Code : js-1\n\nCode: js-1"
    assert out["emailBack"]["status"] == "delivered"
    assert out["emailBack"]["body"] == email["content"]["body"]
    assert set(out["template"]) >= TEMPLATE_FIELDS
    assert out["template"]["id"] == bilingual
