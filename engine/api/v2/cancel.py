"""DELETE /v2/notifications/{id}: cancel a scheduled notification before it is sent.

GC Notify added this (cds-snc/notification-api PR #3034) and deletes the row; we keep it
with status ``cancelled`` so GET and the list still show what happened.

Rules:
- Only a notification of the caller's service, still ``created``, with a ``scheduled_for``
  and not yet claimed by any engine process (``owner IS NULL``) can be cancelled. The check
  and the change are one statement (``store.notifications.cancel``), so a recovery sweep
  claiming the row at the same moment either wins (the cancel is refused) or loses (the
  row is never sent).
- 200 with the notification (as GET shows it) on success.
- Unknown id -> 404 NoResultFound; bad id -> 400 ``notification_id is not a valid UUID``;
  otherwise 400 with GC's wording: not scheduled / already sent / already cancelled.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import msgspec

from engine.api.auth import AuthContext
from engine.api.errors import BadRequestError, NotFoundError, ValidationError
from engine.api.http import Request, Response
from engine.api.i18n import choose
from engine.api.v2.get_notifications import serialize
from engine.domain import statuses as st
from engine.store.notifications import StatusChange

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps

NOT_SCHEDULED = "Notification is not scheduled and cannot be deleted"
ALREADY_SENT = "Notification has already been sent and cannot be deleted"
ALREADY_CANCELLED = "Notification has already been cancelled"

_encode = msgspec.json.Encoder().encode


async def cancel_notification(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    try:
        notification_id = uuid.UUID(request.path_params["notification_id"])
    except ValueError:
        raise ValidationError(["notification_id is not a valid UUID"]) from None
    service_id = ctx.bundle.service.id
    row = await deps.store.notifications.cancel(service_id, notification_id)
    if row is None:
        current = await deps.store.notifications.schedule_of(service_id, notification_id)
        if current is None:
            raise NotFoundError()
        if current["status"] == st.CANCELLED:
            raise BadRequestError(ALREADY_CANCELLED)
        if current["scheduled_for"] is None:
            raise BadRequestError(NOT_SCHEDULED)
        raise BadRequestError(ALREADY_SENT)
    await deps.on_changes(
        [
            StatusChange(
                id=row["id"],
                status=st.CANCELLED,
                previous_status=st.CREATED,
                notification_type=row["notification_type"],
                process_type=row["process_type"],
                age_s=None,  # no latency metric for a cancellation
            )
        ]
    )
    base = request.base_url(deps.settings.public_url)
    language = choose(request.header(b"accept-language"))
    return Response(200, _encode(serialize(row, base, language)))
