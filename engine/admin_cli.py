"""``python -m engine admin <action> ...``: the admin API from the shell, JSON in and out.

Talks to a running engine over HTTP (``--url``, default ``http://127.0.0.1:$NOTIFY_PORT``,
or the admin listener, ``$NOTIFY_ADMIN_HOST:$NOTIFY_ADMIN_PORT``, when that is set) with
the admin token from NOTIFY_ADMIN_TOKEN or the data folder. A JSON argument of ``-`` is
read from standard input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx2

from engine.config import Settings


def default_url(settings: Settings) -> str:
    """Where the admin API is served: its own listener if configured, else the API port."""
    if settings.admin_port is not None:
        return f"http://{settings.admin_host or '127.0.0.1'}:{settings.admin_port}"
    return f"http://127.0.0.1:{settings.port}"


# action -> (method, path template, positional ids, takes a JSON body)
ACTIONS: dict[str, tuple[str, str, tuple[str, ...], bool]] = {
    "create-service": ("POST", "/admin/services", (), True),
    "get-service": ("GET", "/admin/services/{service_id}", ("service_id",), False),
    "update-service": ("PATCH", "/admin/services/{service_id}", ("service_id",), True),
    "create-template": ("POST", "/admin/services/{service_id}/templates", ("service_id",), True),
    "update-template": (
        "PUT",
        "/admin/services/{service_id}/templates/{template_id}",
        ("service_id", "template_id"),
        True,
    ),
    "create-api-key": ("POST", "/admin/services/{service_id}/api-keys", ("service_id",), True),
    "revoke-api-key": (
        "DELETE",
        "/admin/services/{service_id}/api-keys/{key_id}",
        ("service_id", "key_id"),
        False,
    ),
    "add-reply-to": ("POST", "/admin/services/{service_id}/reply-to", ("service_id",), True),
    "add-sms-sender": ("POST", "/admin/services/{service_id}/sms-senders", ("service_id",), True),
    "set-callback": ("PUT", "/admin/services/{service_id}/callback", ("service_id",), True),
    "resume-callback": (
        "POST", "/admin/services/{service_id}/callback/resume", ("service_id",), False,
    ),
    "test-callback": (
        "POST", "/admin/services/{service_id}/callback/test", ("service_id",), False,
    ),
    "add-team-member": (
        "POST", "/admin/services/{service_id}/team-members", ("service_id",), True,
    ),
    # Issue 27: console users ({"platform_admin": true} for the operator) and their roles.
    "create-console-user": ("POST", "/admin/console-users", (), True),
    "set-console-roles": (
        "PUT", "/admin/services/{service_id}/console-users/{user_id}",
        ("service_id", "user_id"), True,
    ),
}  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help="engine base URL")
    parser.add_argument("action", choices=sorted(ACTIONS))
    parser.add_argument("args", nargs="*", help="ids, then the JSON body (or - for stdin)")


def run_admin(args: argparse.Namespace, settings: Settings) -> int:
    method, template, ids, has_body = ACTIONS[args.action]
    expected = len(ids) + (1 if has_body else 0)
    if len(args.args) != expected:
        names = " ".join(i.upper() for i in ids) + (" JSON" if has_body else "")
        print(f"usage: python -m engine admin {args.action} {names}", file=sys.stderr)
        return 2
    path = template.format(**dict(zip(ids, args.args, strict=False)))
    body = None
    if has_body:
        raw = args.args[-1]
        text = sys.stdin.read() if raw == "-" else raw
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            print(f"invalid JSON body: {exc}", file=sys.stderr)
            return 2
    token = settings.admin_token or _saved_token(settings.data_dir)
    if not token:
        print("no admin token: set NOTIFY_ADMIN_TOKEN (or NOTIFY_DATA_DIR)", file=sys.stderr)
        return 2
    base = args.url or default_url(settings)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx2.Client(base_url=base, timeout=30) as client:
            response = client.request(method, path, json=body, headers=headers)
    except httpx2.HTTPError as exc:
        print(f"cannot reach the engine at {base}: {exc!r}", file=sys.stderr)
        return 1
    try:
        print(json.dumps(response.json(), indent=2))
    except ValueError:
        print(f"HTTP {response.status_code}: {response.text}", file=sys.stderr)
    return 0 if response.status_code < 400 else 1


def _saved_token(data_dir: str) -> str:
    """The token ``serve`` generated into the data folder, if this machine runs the engine."""
    path = Path(data_dir) / "admin_token"
    return path.read_text().strip() if path.exists() else ""
