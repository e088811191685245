"""Texts to a service's number (issue 24): two-way SMS through SNS, as GC users asked in
cds-snc/notification-api #735 and #809.

AWS End User Messaging SMS (formerly Pinpoint) publishes each text received on a number
with two-way SMS to an SNS topic; the topic delivers it to ``POST
/notifications/inbound/sns``, verified exactly as receipts are (``engine.api.receipts``:
signature, topic allow-list, subscription confirmation). The SNS ``Message`` is AWS's
JSON record: ``originationNumber`` (the sender), ``destinationNumber`` (our number),
``messageBody``, ``inboundMessageId``, ``messageKeyword``, ``previousPublishedMessageId``.

Rules:
- The destination number picks the service (its ``inbound_number``, set by the admin
  API); a text to a number no service has is answered 200 and dropped (SNS would retry a
  refusal forever), and counted.
- Every text is stored once (``engine.store.inbound``: a redelivery is a no-op) before the
  200, sealed, and served by ``GET /v2/received-text-messages``.
- STOP / ARRET, START / DEBUT, HELP / AIDE (``engine.domain.inbound``) change the
  service's opt-out list (an opted-out number is refused at admission:
  ``post_notification``). They are stored like any text, as GC stores them.
- Each keyword text is answered with its bilingual reply (``engine.domain.inbound``),
  sent by the system service from the service's number (``_reply``). A redelivered text
  is not answered twice (it is a duplicate before the reply).
- A record we cannot read is a 400 (a retry would not help).
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

import msgspec

from engine.api.errors import BadRequestError
from engine.api.http import Response, json_response
from engine.domain import inbound as kw
from engine.domain.notification import RowSpec, accepted_row
from engine.domain.recipients import InvalidRecipient, validate_phone_number
from engine.domain.team_mail import SYSTEM_SERVICE_ID
from engine.domain.templates import CompiledSmsTemplate
from engine.domain.timestamps import utcnow
from engine.metrics import RECEIPT_MESSAGES

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps

log = logging.getLogger("engine.api.inbound_sms")
SOURCE = "sns-inbound"


class InboundRecord(msgspec.Struct, frozen=True):
    """AWS's two-way SMS record (the fields we use; others are ignored)."""

    originationNumber: str
    destinationNumber: str
    messageBody: str
    inboundMessageId: str


_decode = msgspec.json.Decoder(InboundRecord).decode


def _e164(value: str) -> str:
    try:
        return validate_phone_number(value, "CA").e164
    except InvalidRecipient:
        # (AWS writes E.164; "CA" only reads a number without "+")
        raise BadRequestError(f"Invalid inbound SMS event: {value} is not a phone number") from None


async def receive(deps: ApiDeps, text: str) -> Response:
    try:
        record = _decode(text)
    except msgspec.DecodeError as exc:
        RECEIPT_MESSAGES.labels(SOURCE, "invalid").inc()
        raise BadRequestError(f"Invalid inbound SMS event: {exc}") from None
    ours, theirs = _e164(record.destinationNumber), _e164(record.originationNumber)
    store = deps.store.inbound
    service_id = await store.service_for_number(ours)
    if service_id is None:
        RECEIPT_MESSAGES.labels(SOURCE, "unknown_number").inc()
        log.warning("text to a number no service has", extra={"number": ours})
        return json_response(200, {"result": "ignored"})
    new = await store.receive(
        service_id,
        notify_number=ours,
        user_number=theirs,
        content=record.messageBody,
        reference=record.inboundMessageId,
        at=utcnow(),
    )
    if new is None:
        RECEIPT_MESSAGES.labels(SOURCE, "duplicate").inc()
        return json_response(200, {"result": "duplicate"})
    action = kw.keyword(record.messageBody)
    if action == kw.OPT_OUT:
        await store.opt_out(service_id, theirs)
    elif action == kw.OPT_IN:
        await store.opt_in(service_id, theirs)
    if action is not None:
        await _reply(deps, ours, theirs, kw.REPLIES[action])
    RECEIPT_MESSAGES.labels(SOURCE, "accepted").inc()
    return json_response(200, {"result": "accepted", "id": str(new), "keyword": action})


async def _reply(deps: ApiDeps, ours: str, theirs: str, text: str) -> None:
    """The bilingual confirmation, from the service's number, sent by the system service
    through the engine's own pipeline: inserted ``created`` and unowned in the priority
    lane, the recovery sweep sends it (as team mail is sent: ``engine.actors.team_mail``)."""
    template = kw.REPLY_TEMPLATE
    current = await deps.store.templates.current_version(template.id)
    if current is None:  # the engine writes it at start; a store without it sends nothing
        log.warning("no system SMS template: inbound text not answered")
        return
    spec = RowSpec(
        service_id=SYSTEM_SERVICE_ID, template_id=template.id,
        template_version=int(current["version"]), api_key_id=None, key_type="normal",
        channel="sms", lane="priority", sender=ours, reference=None, scheduled_for=None,
        created_at=utcnow(), owner=None,
    )  # fmt: skip
    values: dict[str, object] = {"reply": text}
    rendered = CompiledSmsTemplate(template.content).render(values)
    await deps.store.insert_notifications(
        [accepted_row(spec, uuid.uuid4(), theirs, values, rendered)]
    )
