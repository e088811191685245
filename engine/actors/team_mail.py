"""TeamMailer: the engine's own mail to a service's team (``engine.domain.team_mail`` has
what is sent, when, and in which words).

Rules:
- Notices arrive through ``post`` (synchronous, never blocks: the admission path's leases
  and the callback breaker call it). The mailbox is bounded; a full one drops a notice
  with a log line (a warning, not a message anyone sent: the path that raised it must not
  wait for mail).
- For each notice: the team's email addresses are read, the notice is claimed
  (``store.team_notices.claim``: at most once per event and period, across processes and
  restarts), then one email per address is rendered from the system template and
  inserted ``created`` and unowned, in the priority lane. The recovery sweep sends it
  within ``NOTIFY_RECOVERY_SWEEP_SECONDS``, through the same lanes and providers as every
  notification (it is durable from the insert).
- A team without an email address gets nothing; the notice is claimed all the same (it
  would have nobody to go to later either).
- The system service and its templates are written at start (``ensure``) from the code
  (the console's sign-in code, ``engine.domain.console.CODE_TEMPLATE``, among them: the
  console sends it itself, as a row of the system service).
"""

from __future__ import annotations

import logging
import uuid

import trio

from engine.domain import console, console_people, inbound
from engine.domain.notification import RowSpec, accepted_row, new_ids
from engine.domain.team_mail import SYSTEM_SERVICE_ID, TEMPLATES, Notice
from engine.domain.templates import CompiledEmailTemplate
from engine.domain.timestamps import utcnow
from engine.store.errors import DatabaseUnavailable
from engine.store.store import Store

log = logging.getLogger("engine.team_mail")


class TeamMailer:
    def __init__(self, store: Store, *, mailbox: int = 1000) -> None:
        self._store = store
        self._send, self._receive = trio.open_memory_channel[Notice](mailbox)
        self._versions: dict[uuid.UUID, int] = {}
        self._compiled = {
            name: CompiledEmailTemplate(t.subject or "", t.content) for name, t in TEMPLATES.items()
        }

    async def ensure(self, name: str = "Notify") -> None:
        """Write the system service and its templates; learn their current versions."""
        # Issue 24: SMS replies; issue 27: the console's sign-in codes.
        every = [*TEMPLATES.values(), inbound.REPLY_TEMPLATE, console.CODE_TEMPLATE,
                 *console_people.SYSTEM_TEMPLATES]  # fmt: skip
        await self._store.team_notices.ensure_system(name, every)
        for t in every:
            row = await self._store.templates.current_version(t.id)
            assert row is not None, "ensure_system wrote every template"
            self._versions[t.id] = int(row["version"])

    def post(self, notice: Notice) -> None:
        try:
            self._send.send_nowait(notice)
        except trio.WouldBlock:
            log.warning(
                "team notice dropped: mailbox full",
                extra={"service_id": str(notice.service_id), "template": notice.template},
            )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async for notice in self._receive:
            try:
                await self.send(notice)
            except DatabaseUnavailable:
                log.warning("team notice not sent: database unavailable",
                            extra={"service_id": str(notice.service_id)})  # fmt: skip
            except Exception:
                log.exception("team notice failed", extra={"service_id": str(notice.service_id)})

    async def send(self, notice: Notice) -> int:
        """Send one notice to the service's team (once); returns the emails written."""
        team = await self._store.services.team_members(notice.service_id)
        addresses = sorted({r["email_address"] for r in team if r["email_address"]})
        template = TEMPLATES[notice.template]
        claimed = await self._store.team_notices.claim(
            notice.service_id, notice.template, notice.period, len(addresses)
        )
        if not claimed or not addresses:
            return 0
        spec = RowSpec(
            service_id=SYSTEM_SERVICE_ID, template_id=template.id,
            template_version=self._versions[template.id], api_key_id=None, key_type="normal",
            channel="email", lane="priority", sender=None, reference=None, scheduled_for=None,
            created_at=utcnow(), owner=None,
        )  # fmt: skip
        rendered = self._compiled[notice.template].render(dict(notice.values))
        rows = [
            accepted_row(spec, nid, address, dict(notice.values), rendered)
            for nid, address in zip(
                new_ids(len(addresses), spec.created_at), addresses, strict=True
            )
        ]
        await self._store.insert_notifications(rows)
        log.info(
            "team notice sent",
            extra={"service_id": str(notice.service_id), "template": notice.template,
                   "recipients": len(rows)},
        )  # fmt: skip
        return len(rows)
