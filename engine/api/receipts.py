"""Provider receipt endpoints: SNS HTTP(S) subscriptions deliver SES events and SNS SMS
delivery status records here.

    POST /notifications/receipts/ses   SES Delivery / Bounce / Complaint / Reject ... events
    POST /notifications/receipts/sns   SNS SMS delivery status records
    POST /notifications/inbound/sns    SNS two-way SMS: texts to a service's number
                                       (issue 24, ``engine.api.inbound_sms``)

Rules:
- SNS cannot send an API key. What protects these endpoints is the SNS message signature
  (``engine.providers.sns_signature``), checked before anything else is read
  (``NOTIFY_RECEIPTS_VERIFY_SIGNATURE``, default on). A bad signature is a 403 envelope.
- SNS posts JSON with ``Content-Type: text/plain``: the body is read as JSON whatever the
  header says.
- SNS signs the messages of every topic, anyone's. With ``NOTIFY_RECEIPTS_TOPIC_ARNS`` set,
  only those topics are accepted (403 otherwise); operators should set it.
- ``SubscriptionConfirmation`` is confirmed by GETting its ``SubscribeURL``, but only a URL
  on an SNS host (or an allow-listed prefix): a signed message still must not make the
  engine call anywhere else.
- A ``Notification`` becomes Receipts, applied through the store's group commit (batched
  with every other request in flight) before the 200: SNS deletes a message once we answer
  2xx, so answering earlier could lose a receipt in a crash. A store that cannot take them
  within a few seconds gives a 503 with ``Retry-After``, which SNS retries.
- An event we cannot read is a 400 (a retry would not help); an event that carries no
  receipt (Open, Click, Send ...) is a 200.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx2
import msgspec
import trio

from engine.api import inbound_sms
from engine.api.errors import ApiError, AuthError, BadRequestError
from engine.api.http import Request, Response, json_response
from engine.api.limits import check_body
from engine.api.router import Router
from engine.metrics import RECEIPT_MESSAGES, labelled
from engine.providers.base import Receipt
from engine.providers.ses_events import EventError, parse_ses_message
from engine.providers.sns_events import parse_sms_message
from engine.providers.sns_signature import (
    SIGNED_KEYS,
    SignatureError,
    SnsVerifier,
    parse_prefixes,
    url_allowed,
)

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps

log = logging.getLogger("engine.api.receipts")

Parser = Callable[[str], list[Receipt]]
RETRY_AFTER_SECONDS = 5
COMMIT_TIMEOUT_SECONDS = 10
CONFIRM_TIMEOUT = 10.0


def add_routes(router: Router, deps: ApiDeps) -> ReceiptsEndpoints:
    endpoints = ReceiptsEndpoints(deps)
    router.add("POST", "/notifications/receipts/ses", endpoints.ses)
    router.add("POST", "/notifications/receipts/sns", endpoints.sns)
    router.add("POST", "/notifications/inbound/sns", endpoints.inbound)
    return endpoints


async def commit(deps: ApiDeps, receipts: list[Receipt]) -> bool:
    """Apply ``receipts`` and return once the status changes are committed (True), or
    False when the store cannot take them now (SNS then retries the message)."""
    actor = deps.receipts
    if actor is None:
        return False
    try:
        await actor.submit(receipts, within=COMMIT_TIMEOUT_SECONDS)
    except (trio.TooSlowError, OSError, trio.BrokenResourceError, trio.ClosedResourceError):
        return False
    return True


class ReceiptsEndpoints:
    def __init__(self, deps: ApiDeps) -> None:
        settings = deps.settings
        self.deps = deps
        self.prefixes = parse_prefixes(settings.receipts_cert_hosts)
        self.topics = frozenset(
            arn.strip() for arn in settings.receipts_topic_arns.split(",") if arn.strip()
        )
        self.verifier = (
            SnsVerifier(extra_prefixes=self.prefixes)
            if settings.receipts_verify_signature
            else None
        )

    async def ses(self, request: Request) -> Response:
        return await self._handle(request, "ses-http", parse_ses_message)

    async def sns(self, request: Request) -> Response:
        return await self._handle(request, "sns-http", parse_sms_message)

    async def inbound(self, request: Request) -> Response:
        """Two-way SMS (issue 24): verified as receipts are, handled by ``inbound_sms``."""
        checked = await self.notification(request, "sns-inbound")
        if isinstance(checked, Response):
            return checked
        return await inbound_sms.receive(self.deps, checked["Message"])

    async def notification(self, request: Request, source: str) -> dict[str, Any] | Response:
        """The verified SNS ``Notification``, or the answer to any other message."""
        message = self._decode(request.body, source)
        if self.verifier is not None:
            try:
                await self.verifier.verify(message)
            except SignatureError as exc:
                RECEIPT_MESSAGES.labels(source, "bad_signature").inc()
                log.warning("SNS message refused", extra={"source": source, "reason": str(exc)})
                raise AuthError("Invalid SNS message signature") from None
        if self.topics and message.get("TopicArn") not in self.topics:
            # SNS signs every topic's messages, a stranger's too: the signature alone does
            # not say the message is from *our* topic.
            RECEIPT_MESSAGES.labels(source, "unknown_topic").inc()
            raise AuthError("SNS topic not allowed")
        kind = message["Type"]
        if kind == "SubscriptionConfirmation":
            await self._confirm(message, source)
            return json_response(200, {"result": "subscription confirmed"})
        if kind != "Notification":
            RECEIPT_MESSAGES.labels(source, "ignored").inc()
            return json_response(200, {"result": "ignored"})
        return message

    async def _handle(self, request: Request, source: str, parse: Parser) -> Response:
        checked = await self.notification(request, source)
        if isinstance(checked, Response):
            return checked
        message = checked
        try:
            receipts = parse(message["Message"])
        except EventError as exc:
            RECEIPT_MESSAGES.labels(source, "invalid").inc()
            log.warning("unreadable receipt event", extra={"source": source, "reason": str(exc)})
            raise BadRequestError(f"Invalid receipt event: {exc}") from None
        if not receipts:
            RECEIPT_MESSAGES.labels(source, "ignored").inc()
            return json_response(200, {"result": "ignored"})
        if not await commit(self.deps, receipts):
            RECEIPT_MESSAGES.labels(source, "busy").inc()
            error = ApiError(
                "Receipts are queued to capacity; retry later",
                status_code=503,
                wire_name="ServiceUnavailable",
            )
            return Response(
                503, error.body(), headers=[(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
            )
        labelled(RECEIPT_MESSAGES, source, "accepted").inc()
        return json_response(200, {"result": "accepted", "receipts": len(receipts)})

    def _decode(self, body: bytes, source: str) -> dict[str, Any]:
        check_body(body)
        try:
            message = msgspec.json.decode(body)
        except msgspec.DecodeError:
            message = None
        if (
            not isinstance(message, dict)
            or message.get("Type") not in SIGNED_KEYS
            or not isinstance(message.get("Message"), str)
        ):
            RECEIPT_MESSAGES.labels(source, "invalid").inc()
            raise BadRequestError("Request body is not an SNS message")
        return message

    async def _confirm(self, message: Mapping[str, Any], source: str) -> None:
        url = message.get("SubscribeURL")
        if not isinstance(url, str) or not url_allowed(url, self.prefixes):
            RECEIPT_MESSAGES.labels(source, "invalid").inc()
            raise BadRequestError("SubscribeURL is not an SNS URL")
        status = 0
        with trio.move_on_after(CONFIRM_TIMEOUT):
            try:
                async with httpx2.AsyncClient(timeout=CONFIRM_TIMEOUT) as client:
                    status = (await client.get(url)).status_code
            except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
                log.warning("subscription confirmation failed", extra={"error": str(exc)})
        if status != 200:
            RECEIPT_MESSAGES.labels(source, "confirm_failed").inc()
            # 502: SNS (or the operator) should try again; the subscription is not live.
            raise ApiError(
                "Could not confirm the SNS subscription",
                status_code=502,
                wire_name="BadGateway",
            )
        RECEIPT_MESSAGES.labels(source, "confirmed").inc()
        log.info("SNS subscription confirmed", extra={"topic": message.get("TopicArn")})
