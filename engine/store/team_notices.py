"""Team notices: the system service's templates, and which notices were sent
(``engine.domain.team_mail`` has the rules; migration 0016 the system service and table).

Rules:
- ``claim`` inserts the (service, template, period) row and answers whether this call did:
  only the claimant sends, so a notice goes out at most once, whatever the processes and
  restarts. A crash after the claim and before the mail's rows are committed loses that
  notice (at most once, never twice).
- ``ensure_system`` creates the system service if it is missing, then writes each system
  template as a new version when its subject or
  content changed (under the row lock of its upsert: processes starting together write one
  version).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from engine.domain.team_mail import SYSTEM_SERVICE_ID, SystemTemplate
from engine.store._pipe import Pipe

_SYNC_SQL = """
WITH t AS (
    INSERT INTO templates AS t (id, service_id, name, template_type, subject, content,
                                process_type, version, created_by)
    VALUES ($1, $2, $3, $6, $4, $5, 'priority', 1, 'notify-engine')
    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, subject = EXCLUDED.subject,
        content = EXCLUDED.content, version = t.version + 1, updated_at = now()
    WHERE (t.name, t.subject, t.content) IS DISTINCT FROM
          (EXCLUDED.name, EXCLUDED.subject, EXCLUDED.content)
    RETURNING t.id, t.version, t.service_id, t.name, t.subject, t.content
)
INSERT INTO template_versions (template_id, version, service_id, name, template_type,
                               subject, content, process_type, created_by)
SELECT id, version, service_id, name, $6, subject, content, 'priority', 'notify-engine'
FROM t
"""


class TeamNotices:
    def __init__(self, pipe: Pipe) -> None:
        self._pipe = pipe

    async def ensure_system(self, name: str, templates: Sequence[SystemTemplate]) -> None:
        """The system service and its templates, as the code has them."""
        await self._pipe.execute(
            "INSERT INTO services (id, name, email_from, restricted, rate_limit,"
            " email_daily_limit, sms_daily_limit, email_annual_limit, sms_annual_limit)"
            " VALUES ($1, $2, 'notify', false, 100000, 1000000, 0, 100000000, 0)"
            " ON CONFLICT (id) DO NOTHING",
            SYSTEM_SERVICE_ID,
            name,
        )
        for t in templates:
            await self._pipe.execute(
                _SYNC_SQL,
                t.id,
                SYSTEM_SERVICE_ID,
                t.name,
                t.subject,
                t.content,
                t.template_type,
            )

    async def claim(
        self, service_id: uuid.UUID, template: str, period: str, recipients: int
    ) -> bool:
        """Record the notice; True if this call is the one that records it."""
        row = await self._pipe.fetchrow(
            "INSERT INTO team_notices (service_id, template, period, recipients)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
            service_id,
            template,
            period,
            recipients,
        )
        return row is not None

    async def sent(self, service_id: uuid.UUID) -> list[tuple[str, str]]:
        """(template, period) of every notice sent about a service, oldest first."""
        rows = await self._pipe.fetch(
            "SELECT template, period FROM team_notices WHERE service_id = $1 ORDER BY sent_at",
            service_id,
        )
        return [(r["template"], r["period"]) for r in rows]
