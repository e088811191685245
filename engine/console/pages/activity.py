"""A service's activity (the ``view`` role): its recent notifications, filtered by channel
and status group, searched by reference and by recipient, a page at a time; and one
notification's page.

Rules:
- The list is ``store.notifications.activity`` (live and team keys and the console's own
  sends, jobs included; test keys' are not shown), newest first, ``PAGE_SIZE`` a page, the
  next page after the last id shown (``older_than``).
- A search is by reference (an indexed equality on ``client_reference``) and, when the
  text is an email address or a phone number, by recipient through its keyed hash
  (``store.notifications.by_recipient``): a clear recipient is never compared in SQL.
  Both answers are joined, newest first.
- A status is shown in the reader's language with the API's own words
  (``engine.domain.statuses.status_description``, issue 22). The recipient is shown opened
  to a member who may view the service (as GC shows it).
- A notification of another service is not found (404), as in the API.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from engine.api.http import Response
from engine.api.router import Router
from engine.console.app import PREFIX, Ctx, not_found, service_page
from engine.domain import console_sending as cs
from engine.domain import statuses as st

if TYPE_CHECKING:
    from engine.console.pages import Wrap
    from engine.store.rows import Row


def add_routes(r: Router, wrap: Wrap) -> None:
    base = f"{PREFIX}/services/{{service_id}}/notifications"
    r.add("GET", base, wrap(activity))
    r.add("GET", f"{base}/{{notification_id}}", wrap(notification))


def _when(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


async def _template_names(c: Ctx, service_id: uuid.UUID) -> dict[Any, str]:
    rows = await c.deps.store.templates.for_service(service_id)
    return {r["id"]: r["name"] for r in rows}


def shown(c: Ctx, row: Row, names: dict[Any, str]) -> dict[str, Any]:
    """A notification as the console shows it."""
    kind, status = row["notification_type"], row["status"]
    return {
        "id": row["id"], "recipient": row["recipient"], "reference": row["client_reference"],
        "type": kind, "status": status,
        "status_text": st.status_description(status, kind, c.lang, row["feedback_subtype"]),
        "template": names.get(row["template_id"], c.t("act_deleted_template")),
        "subject": row["subject"], "body": row["body"],
        "created": _when(row["created_at"]), "sent": _when(row["sent_at"]),
        "completed": _when(row["updated_at"]) if status in st.COMPLETED else None,
    }  # fmt: skip


@service_page("view")
async def activity(c: Ctx, service: Row) -> Response:
    # U+0000 cannot reach PostgreSQL: dropped from what was typed.
    query = {k: v[0].replace("\x00", "") for k, v in c.request.query().items()}
    channel = query.get("channel", "") if query.get("channel") in cs.CHANNELS else ""
    group = query.get("status", "") if query.get("status") in cs.STATUS_GROUPS else ""
    search = query.get("search", "").strip()
    older_than = None
    if query.get("older_than"):
        try:
            older_than = uuid.UUID(query["older_than"])
        except ValueError:
            older_than = None
    store = c.deps.store.notifications
    types, statuses = ([channel] if channel else []), cs.statuses_of(group)
    rows = await store.activity(service["id"], types=types, statuses=statuses,
                                reference=search or None, older_than=older_than,
                                limit=cs.PAGE_SIZE)  # fmt: skip
    if search:
        bundle = await c.deps.registry.get(service["id"])
        region = bundle.service.phone_region if bundle is not None else "CA"
        found = cs.recipient_of(search, region)
        if found is not None:  # the keyed hash: no clear recipient is compared in SQL
            hashed = await store.by_recipient(service["id"], found[1], limit=cs.PAGE_SIZE)
            wanted = [r for r in hashed if r["key_type"] != "test"
                      and (not types or r["notification_type"] in types)
                      and (not statuses or r["status"] in statuses)]  # fmt: skip
            seen = {r["id"] for r in rows}
            rows = [*rows, *(r for r in wanted if r["id"] not in seen)]
            rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
            rows = rows[: cs.PAGE_SIZE]
    names = await _template_names(c, service["id"])
    where = f"{PREFIX}/services/{service['id']}/notifications"
    kept = {"search": search, "channel": channel, "status": group}
    args = [(k, v) for k, v in kept.items() if v]
    next_link = None
    if len(rows) == cs.PAGE_SIZE and not search:
        next_link = f"{where}?{urlencode([*args, ('older_than', str(rows[-1]['id']))])}"
    first = f"{where}?{urlencode(args)}" if args else where
    return c.render(200, "activity.html", service=service, section="activity",
                    rows=[shown(c, r, names) for r in rows], search=search, channel=channel,
                    group=group, next=next_link, first=first, paged=older_than is not None,
                    simulated=query.get("simulated") == "1")  # fmt: skip


@service_page("view")
async def notification(c: Ctx, service: Row) -> Response:
    try:
        notification_id = uuid.UUID(c.request.path_params["notification_id"])
    except ValueError:
        return not_found(c)
    row = await c.deps.store.notifications.get(service["id"], notification_id)
    if row is None:
        return not_found(c)
    names = await _template_names(c, service["id"])
    sent = c.request.query().get("sent", [""])[0] == "1"
    return c.render(200, "activity_notification.html", service=service, section="activity",
                    n=shown(c, row, names), sent=sent)  # fmt: skip
