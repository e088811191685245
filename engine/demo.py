"""The demo: a service, an email and an SMS template and a live API key, created through
the engine's own admin API once, remembered in the data folder, printed at every start,
with the next steps (how to stop, where the data and the admin token are, the admin CLI,
the docs)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import httpx2
import trio

if TYPE_CHECKING:
    from engine.runtime import Engine

EMAIL_TEMPLATE = textwrap.dedent(
    """\
    # Hello ((name))

    Your application ((reference)) has been received.

    * we check it within 5 working days
    * we email you when it is done

    ^ Keep this email: you will need the reference.
    """
)


async def ensure_demo(base_url: str, admin_token: str, state_file: trio.Path) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx2.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        if await state_file.exists():
            state: dict[str, Any] = json.loads(await state_file.read_text())
            found = await client.get(f"/admin/services/{state['service_id']}")
            if found.status_code == 200:
                return state
        service = (await client.post(
            "/admin/services",
            json={"name": "Demo service", "email_from": "demo", "restricted": False},
        )).json()  # fmt: skip
        sid = service["id"]
        email = (await client.post(f"/admin/services/{sid}/templates", json={
            "name": "Application received", "type": "email",
            "subject": "We received your application, ((name))", "content": EMAIL_TEMPLATE,
        })).json()  # fmt: skip
        sms = (await client.post(f"/admin/services/{sid}/templates", json={
            "name": "Code", "type": "sms", "content": "Your code is ((code))",
            "process_type": "priority",
        })).json()  # fmt: skip
        key = (await client.post(
            f"/admin/services/{sid}/api-keys", json={"name": "demo", "key_type": "normal"}
        )).json()  # fmt: skip
    state = {
        "service_id": sid,
        "email_template_id": email["id"],
        "sms_template_id": sms["id"],
        "api_key": key["key"],
    }
    await state_file.write_text(json.dumps(state))
    await state_file.chmod(0o600)
    return state


def demo_text(
    base: str,
    state: dict[str, Any],
    *,
    data_dir: str = ".notify-data",
    token: str = "NOTIFY_ADMIN_TOKEN",
    cli: str = "notify-engine",
) -> str:
    key = state["api_key"]
    payload = json.dumps({
        "email_address": "someone@example.com",
        "template_id": state["email_template_id"],
        "personalisation": {"name": "Ada", "reference": "A-123"},
    })  # fmt: skip
    return textwrap.dedent(
        f"""
        ================ notify-engine demo is ready ================
        API:            {base}
        service id:     {state["service_id"]}
        API key:        {key}
        email template: {state["email_template_id"]}
        SMS template:   {state["sms_template_id"]}

        Send an email (then GET the printed id to see it reach "delivered"):

          curl -sS -X POST {base}/v2/notifications/email \\
            -H "Authorization: ApiKey-v1 {key}" \\
            -H "Content-Type: application/json" \\
            -d '{payload}'

          curl -sS {base}/v2/notifications/<id> -H "Authorization: ApiKey-v1 {key}"

        With the official Python client (pip install notifications-python-client):

          from notifications_python_client.notifications import NotificationsAPIClient
          client = NotificationsAPIClient("{key}", base_url="{base}")
          sent = client.send_email_notification(
              email_address="someone@example.com",
              template_id="{state["email_template_id"]}",
              personalisation={{"name": "Ada", "reference": "A-123"}},
          )
          print(client.get_notification_by_id(sent["id"])["status"])

        Next steps:
          stop:         Ctrl-C (an embedded PostgreSQL stops with the engine)
          data folder:  {data_dir}
          admin token:  {token}
          admin CLI:    {cli} admin --help   (e.g. admin get-service {state["service_id"]})
          docs:         README.md ("Configuration", "Running in production");
                        the API's OpenAPI document: {base}/v2/openapi
        ===============================================================
        """
    )


async def print_demo(engine: Engine, port: int) -> None:
    s = engine.settings
    base = f"http://{s.host}:{port}"
    admin = f"http://{s.admin_host or s.host}:{s.admin_port}" if s.admin_port else base
    state = await ensure_demo(admin, s.admin_token, trio.Path(s.data_dir) / "demo.json")
    print(demo_text(base, state, **_where(s.data_dir)), flush=True)


def _where(data_dir: str) -> dict[str, str]:
    """The banner's paths: the data folder, the admin token's file (when generated), and
    how to call this engine again (``notify-engine`` when on PATH, else the script beside
    this Python, e.g. ``.venv/bin/notify-engine``, else ``python -m engine``)."""
    folder = os.path.abspath(data_dir)
    saved = os.path.join(folder, "admin_token")
    token = saved if os.path.exists(saved) else "NOTIFY_ADMIN_TOKEN (set by you)"
    beside = os.path.join(os.path.dirname(sys.executable), "notify-engine")
    if not os.path.exists(beside):
        cli = f"{sys.executable} -m engine"
    elif (found := shutil.which("notify-engine")) and os.path.samefile(found, beside):
        cli = "notify-engine"
    else:
        relative = os.path.relpath(beside)
        cli = beside if relative.startswith("..") else relative
    return {"data_dir": folder, "token": token, "cli": cli}
