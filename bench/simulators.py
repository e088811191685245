"""Loopback simulators for the end-to-end benchmark: SES v2, SNS and a callback receiver.

    python -m bench.simulators ses --port 9001 --receipts-url URL [--receipt-delay-ms 50]
    python -m bench.simulators sns --port 9002 --receipts-url URL [--receipt-delay-ms 50]
    python -m bench.simulators aws --port 9001 --engine-url http://127.0.0.1:6011   # both
    python -m bench.simulators callbacks --port 9003 [--bearer-token T]

Each prints one JSON line ``{"listening": PORT}`` once it accepts connections (so
``--port 0`` works), then serves until killed. ``GET /stats`` answers JSON counters.

Rules:
- They accept the requests aiobotocore really sends (SES v2 rest-json: ``SendEmail``,
  ``SendBulkEmail``; SNS query protocol: ``Publish``) and answer with the shapes AWS
  answers with. Served by the engine's own trio + httptools ingress.
- Each accepted message gets a receipt posted back ``receipt_delay`` later, the way SNS
  delivers to an HTTP subscriber (``bench.sns_delivery``: one ``Notification`` per receipt,
  dummy signature, so run the engine with ``NOTIFY_RECEIPTS_VERIFY_SIGNATURE=false``). Its
  queue is bounded: when full, the SES/SNS API answers later.
- Recipients pick the outcome like the SES mailbox simulator and Notify's test numbers:
  ``bounce@`` / ``suppressionlist@simulator.amazonses.com`` and ``perm-fail@simulator.notify``
  bounce permanently, ``temp-fail@simulator.notify`` transiently, ``complaint@`` gets a
  delivery then a complaint; ``+15149301632`` / ``+15149301633`` fail; the rest deliver.
- The callback receiver records every POST (counts, statuses, per-id first time, and per
  id + status how many times and when first) and answers per ``POST /control {"mode":
  "ok"|"fail"|"slow"|"down", "status": 500, "delay_ms": 2000}``. "down" closes its second
  listener (``{"listening": P, "refusable": Q}``: point a callback URL at Q), so connections
  are refused, as from an endpoint that is down; any other mode opens it again.
- Fault injection (``bench/faults.py``): the AWS simulator counts sends per recipient (the
  benchmark's recipients are unique, so a recipient sent twice is a duplicate send; ``GET
  /stats?ids=1``, with the wall-clock times of each duplicate's acceptances) and ``POST
  /control {"mode": "ok"|"fail"|"hang", "status": 500}`` makes SES/SNS calls answer 5xx,
  or wait unanswered until the mode changes back.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import msgspec
import trio

from bench.sns_delivery import ReceiptPoster, new_id, ses_events, sms_delivery_log
from engine.http1.server import ServerLimits, serve

Headers = list[tuple[bytes, bytes]]
Reply = tuple[int, Headers, bytes]
Handler = Callable[[str, str, bytes, bytes, dict[bytes, bytes]], Awaitable[Reply]]
JSON = [(b"content-type", b"application/json")]
SNS_NS = "http://sns.amazonaws.com/doc/2010-03-31/"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def asgi(handler: Handler) -> Callable[..., Awaitable[None]]:
    """A minimal ASGI 3 app around ``handler(method, path, query, body, headers)``."""

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        path = scope["path"]
        if not path.startswith("/"):  # absolute-form target (httpx2 under aiobotocore sends it)
            path = urlsplit(path).path or "/"
        status, out_headers, body = await handler(
            scope["method"], path, scope["query_string"], b"".join(chunks), headers
        )
        out_headers = [*out_headers, (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": body})

    return app


# -- SES v2 and SNS ------------------------------------------------------------------------
def _ses_error(status: int, kind: str, message: str) -> Reply:
    headers = [*JSON, (b"x-amzn-errortype", kind.encode())]
    return status, headers, _encode({"message": message})


def _sns_error(code: str, message: str) -> Reply:
    xml = (f'<ErrorResponse xmlns="{SNS_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
           f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
           "</ErrorResponse>")  # fmt: skip
    return 400, [(b"content-type", b"text/xml")], xml.encode()


def ses_message_id() -> str:
    # The shape of a real SES id: hex timestamp, uuid, suffix.
    return f"{time.time_ns() // 1_000_000:016x}-{new_id()}-000000"


@dataclass
class AwsSimulator:
    ses: ReceiptPoster | None
    sns: ReceiptPoster | None
    port: int = 0  # set once listening
    stats: Counter[str] = field(default_factory=Counter)
    sends: Counter[str] = field(default_factory=Counter)  # accepted messages per recipient
    # Wall-clock times of every acceptance of a recipient accepted more than once
    # (``/stats?ids=1``): when the duplicates went out, to tell a resend's cause.
    sent_at: dict[str, list[float]] = field(default_factory=dict)
    mode: str = "ok"  # "fail": answer fail_status; "hang": answer once the mode changes
    fail_status: int = 500
    mode_changed: trio.Event = field(default_factory=trio.Event)

    async def handle(
        self, method: str, path: str, query: bytes, body: bytes, headers: dict[bytes, bytes]
    ) -> Reply:
        if method == "GET" and path == "/stats":
            out: dict[str, Any] = dict(self.stats)
            for name, poster in (("ses", self.ses), ("sns", self.sns)):
                if poster is not None:
                    out.update({f"{name}_receipts_{k}": v for k, v in poster.stats.items()})
            out["duplicate_recipients"] = sum(1 for n in self.sends.values() if n > 1)
            if b"ids=1" in query:
                out["sends"] = dict(self.sends)
                out["duplicates"] = {k: v for k, v in self.sent_at.items() if len(v) > 1}
            return 200, JSON, _encode(out)
        if method == "POST" and path == "/control":
            return self._control(body)
        if method == "POST" and (path.startswith("/v2/email/") or path == "/"):
            while self.mode == "hang":
                self.stats["calls_held"] += 1
                await self.mode_changed.wait()
            if self.mode == "fail":
                self.stats["calls_failed_on_purpose"] += 1
                return _ses_error(self.fail_status, "InternalFailure", "failing on purpose")
        if method == "POST" and path.startswith("/v2/email/") and self.ses is not None:
            return await self._ses(path, body)
        if method == "POST" and path == "/" and self.sns is not None:
            return await self._sns(body)
        return 404, JSON, _encode({"message": f"no route for {method} {path}"})

    def _accepted(self, recipients: Sequence[str]) -> None:
        now = time.time()
        for recipient in recipients:
            self.sends[recipient] += 1
            if self.sends[recipient] == 1:
                self.sent_at[recipient] = [now]
            else:
                self.sent_at[recipient].append(now)

    def _control(self, body: bytes) -> Reply:
        try:
            command = _decode(body)
            mode = command["mode"]
        except (msgspec.DecodeError, KeyError, TypeError):
            return 400, JSON, b'{"error": "expected {\\"mode\\": \\"ok|fail|hang\\"}"}'
        if mode not in ("ok", "fail", "hang"):
            return 400, JSON, b'{"error": "mode must be ok, fail or hang"}'
        self.mode, self.fail_status = mode, int(command.get("status", 500))
        self.mode_changed.set()
        self.mode_changed = trio.Event()
        return 200, JSON, _encode({"mode": self.mode})

    async def _ses(self, path: str, body: bytes) -> Reply:
        assert self.ses is not None
        try:
            request = _decode(body) if body else {}
        except msgspec.DecodeError:
            return _ses_error(400, "BadRequestException", "Invalid JSON")
        source = request.get("FromEmailAddress")
        if path == "/v2/email/outbound-emails":
            self.stats["ses_send_email_calls"] += 1
            destination = request.get("Destination") or {}
            to = [*destination.get("ToAddresses", ()), *destination.get("CcAddresses", ()),
                  *destination.get("BccAddresses", ())]  # fmt: skip
            raw = (request.get("Content") or {}).get("Raw")
            if (not to and raw is None) or not request.get("Content"):
                return _ses_error(
                    400, "BadRequestException", "Destination and Content are required"
                )
            mid = ses_message_id()
            for event in ses_events(mid, source or "", to):
                await self.ses.submit(event)
            self.stats["ses_emails"] += 1
            self._accepted(to)
            return 200, JSON, _encode({"MessageId": mid})
        if path == "/v2/email/outbound-bulk-emails":
            self.stats["ses_send_bulk_email_calls"] += 1
            entries = request.get("BulkEmailEntries") or []
            if not entries or len(entries) > 50:
                return _ses_error(400, "BadRequestException", "BulkEmailEntries must hold 1-50")
            if not request.get("DefaultContent"):
                return _ses_error(400, "BadRequestException", "DefaultContent is required")
            results = []
            for entry in entries:
                mid = ses_message_id()
                to = (entry.get("Destination") or {}).get("ToAddresses") or []
                self._accepted(to)
                for event in ses_events(mid, source or "", to):
                    await self.ses.submit(event)
                results.append({"Status": "SUCCESS", "MessageId": mid})
            self.stats["ses_emails"] += len(entries)
            return 200, JSON, _encode({"BulkEmailEntryResults": results})
        return _ses_error(404, "NotFoundException", f"unknown SES v2 operation {path}")

    async def _sns(self, body: bytes) -> Reply:
        assert self.sns is not None
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        action = form.get("Action")
        if action != "Publish":
            return _sns_error("InvalidAction", f"The action {escape(str(action))} is not valid")
        phone = form.get("PhoneNumber")
        if not form.get("Message") or not (phone or form.get("TopicArn") or form.get("TargetArn")):
            return _sns_error("InvalidParameter", "Invalid parameter: Message or target missing")
        mid = new_id()
        self.stats["sns_publishes"] += 1
        self._accepted([phone or form.get("TopicArn") or form.get("TargetArn") or ""])
        if phone:
            await self.sns.submit(sms_delivery_log(mid, phone))
        xml = (f'<PublishResponse xmlns="{SNS_NS}"><PublishResult><MessageId>{mid}</MessageId>'
               f"</PublishResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
               "</ResponseMetadata></PublishResponse>")  # fmt: skip
        return 200, [(b"content-type", b"text/xml")], xml.encode()


# -- the callback receiver ------------------------------------------------------------------
@dataclass
class CallbackReceiver:
    bearer_token: str | None = None
    port: int = 0  # set once listening
    mode: str = "ok"
    fail_status: int = 500
    delay: float = 0.0
    stats: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    per_second: Counter[int] = field(default_factory=Counter)
    first_seen: dict[str, float] = field(default_factory=dict)
    last_status: dict[str, str] = field(default_factory=dict)
    final: Counter[str] = field(default_factory=Counter)  # ids by their latest status
    # id -> status -> [times delivered, first time]: duplicate callbacks and recovery times
    calls: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    refusable_port: int = 0  # the second listener, closed while the mode is "down"
    mode_changed: trio.Event = field(default_factory=trio.Event)

    async def handle(
        self, method: str, path: str, query: bytes, body: bytes, headers: dict[bytes, bytes]
    ) -> Reply:
        if method == "GET" and path == "/stats":
            return 200, JSON, _encode(self.snapshot(with_ids=b"ids=1" in query))
        if method == "POST" and path == "/control":
            return self._control(body)
        if method == "POST" and path == "/reset":
            self.reset()
            return 200, JSON, b"{}"
        if method != "POST":
            return 405, JSON, b"{}"
        self.stats["received"] += 1
        expected = None if self.bearer_token is None else b"Bearer " + self.bearer_token.encode()
        if expected is not None and headers.get(b"authorization") != expected:
            self.stats["unauthorized"] += 1
            return 401, JSON, b'{"error": "bad bearer token"}'
        if self.mode == "fail":
            self.stats["failed_on_purpose"] += 1
            return self.fail_status, JSON, b'{"error": "failing on purpose"}'
        if self.mode == "slow":
            await trio.sleep(self.delay)
        try:
            payload = _decode(body)
        except msgspec.DecodeError:
            self.stats["bad_json"] += 1
            return 400, JSON, b'{"error": "bad json"}'
        if payload.get("health_check") is not None:
            self.stats["health_checks"] += 1
            return 200, JSON, b"{}"
        now = time.time()
        self.stats["accepted"] += 1
        self.per_second[int(now)] += 1
        status, nid = str(payload.get("status")), str(payload.get("id"))
        self.by_status[status] += 1
        self.first_seen.setdefault(nid, now)
        previous = self.last_status.get(nid)
        if previous is not None:
            self.final[previous] -= 1
        self.final[status] += 1
        self.last_status[nid] = status
        seen = self.calls.setdefault(nid, {}).setdefault(status, [0, now])
        seen[0] += 1
        return 200, JSON, b"{}"

    def reset(self) -> None:
        self.mode, self.delay = "ok", 0.0
        for table in (self.stats, self.by_status, self.per_second, self.first_seen,
                      self.last_status, self.final, self.calls):  # fmt: skip
            table.clear()

    def _control(self, body: bytes) -> Reply:
        try:
            command = _decode(body)
            mode = command["mode"]
        except (msgspec.DecodeError, KeyError, TypeError):
            return 400, JSON, b'{"error": "expected {\\"mode\\": \\"ok|fail|slow|down\\"}"}'
        if mode not in ("ok", "fail", "slow", "down"):
            return 400, JSON, b'{"error": "mode must be ok, fail, slow or down"}'
        self.mode = mode
        self.fail_status = int(command.get("status", 500))
        self.delay = float(command.get("delay_ms", 2000)) / 1000
        self.mode_changed.set()
        self.mode_changed = trio.Event()
        return 200, JSON, _encode({"mode": self.mode})

    def snapshot(self, *, with_ids: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            **{k: self.stats[k] for k in ("received", "accepted", "health_checks")},
            **dict(self.stats), "unique_ids": len(self.first_seen),
            "by_status": dict(self.by_status), "per_second": dict(self.per_second),
            "final": {k: v for k, v in self.final.items() if v},
            "first_at": min(self.per_second, default=None),
            "last_at": max(self.first_seen.values(), default=None), "mode": self.mode,
            "duplicate_callbacks": sum(
                1 for statuses in self.calls.values() for n, _ in statuses.values() if n > 1
            ),
        }  # fmt: skip
        if with_ids:
            out["ids"] = {k: [t, self.last_status[k]] for k, t in self.first_seen.items()}
            out["calls"] = self.calls
        return out


# -- running them ---------------------------------------------------------------------------
_LIMITS = ServerLimits(max_connections=8192, keepalive_timeout=300, drain_seconds=2)


async def run_aws(
    *, host: str = "127.0.0.1", port: int = 0, ses_receipts_url: str | None = None,
    sns_receipts_url: str | None = None, receipt_delay: float = 0.05, ses: bool = True,
    sns: bool = True, shutdown: trio.Event | None = None, receipt_attempts: int = 8,
    task_status: trio.TaskStatus[AwsSimulator] = trio.TASK_STATUS_IGNORED,
) -> None:  # fmt: skip
    """Serve SES v2 and/or SNS until ``shutdown``; ``task_status`` gets the simulator
    (its ``port`` set)."""
    async with trio.open_nursery() as posters:
        found: list[ReceiptPoster | None] = []
        for wanted, url, topic in ((ses, ses_receipts_url, "ses-receipts"),
                                   (sns, sns_receipts_url, "sms-delivery-logs")):  # fmt: skip
            if not wanted:
                found.append(None)
                continue
            if not url:
                raise ValueError("a receipts URL is needed")
            arn = f"arn:aws:sns:ca-central-1:000000000000:{topic}"
            poster = ReceiptPoster(url, arn, delay=receipt_delay, attempts=receipt_attempts)
            await posters.start(poster.run)
            found.append(poster)
        sim = AwsSimulator(found[0], found[1])
        await _serve(sim, sim.handle, host, port, shutdown, task_status)
        posters.cancel_scope.cancel()


async def run_callbacks(
    *, host: str = "127.0.0.1", port: int = 0, bearer_token: str | None = None,
    shutdown: trio.Event | None = None,
    task_status: trio.TaskStatus[CallbackReceiver] = trio.TASK_STATUS_IGNORED,
) -> None:  # fmt: skip
    """Serve the callback receiver until ``shutdown``, and its refusable second listener."""
    receiver = CallbackReceiver(bearer_token)
    async with trio.open_nursery() as nursery:
        await nursery.start(_refusable_listener, receiver, host)
        await _serve(receiver, receiver.handle, host, port, shutdown, task_status)
        nursery.cancel_scope.cancel()


async def _refusable_listener(
    receiver: CallbackReceiver, host: str, *, task_status: trio.TaskStatus[None]
) -> None:
    """Serve on ``receiver.refusable_port`` except while the mode is "down" (closed, so
    connections are refused); the port stays the same across reopenings."""
    app, started = asgi(receiver.handle), False
    while True:
        closed = trio.Event()
        async with trio.open_nursery() as nursery:
            receiver.refusable_port = await nursery.start(partial(
                serve, app, host=host, port=receiver.refusable_port, limits=_LIMITS,
                shutdown=closed,
            ))  # fmt: skip
            if not started:
                started = True
                task_status.started()
            while receiver.mode != "down":
                await receiver.mode_changed.wait()
            closed.set()
        while receiver.mode == "down":
            await receiver.mode_changed.wait()


async def _serve(
    owner: Any, handler: Handler, host: str, port: int, shutdown: trio.Event | None,
    task_status: trio.TaskStatus[Any],
) -> None:  # fmt: skip
    async with trio.open_nursery() as nursery:
        owner.port = await nursery.start(
            partial(serve, asgi(handler), host=host, port=port, limits=_LIMITS, shutdown=shutdown)
        )
        task_status.started(owner)


async def _main(args: argparse.Namespace) -> None:
    async with trio.open_nursery() as nursery:
        if args.kind == "callbacks":
            started: Any = await nursery.start(
                partial(
                    run_callbacks, host=args.host, port=args.port, bearer_token=args.bearer_token
                )
            )
        else:
            ses_url = sns_url = getattr(args, "receipts_url", None)
            if args.kind == "aws":
                base = args.engine_url.rstrip("/")
                ses_url = f"{base}/notifications/receipts/ses"
                sns_url = f"{base}/notifications/receipts/sns"
            started = await nursery.start(partial(
                run_aws, host=args.host, port=args.port, ses_receipts_url=ses_url,
                sns_receipts_url=sns_url, receipt_delay=args.receipt_delay_ms / 1000,
                ses=args.kind in ("ses", "aws"), sns=args.kind in ("sns", "aws"),
                receipt_attempts=args.receipt_attempts,
            ))  # fmt: skip
        ports = {"listening": started.port}
        if args.kind == "callbacks":
            ports["refusable"] = started.refusable_port
        print(json.dumps(ports), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.simulators",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="kind", required=True)
    for kind in ("ses", "sns", "aws", "callbacks"):
        p = sub.add_parser(kind)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=0)
        if kind in ("ses", "sns"):
            p.add_argument("--receipts-url", required=True)
        if kind == "aws":
            p.add_argument("--engine-url", default="http://127.0.0.1:6011")
        if kind != "callbacks":
            p.add_argument("--receipt-delay-ms", type=float, default=50.0)
            # 8: about 18 s of retries; SNS's default HTTP delivery policy retries ~60 s.
            p.add_argument("--receipt-attempts", type=int, default=8)
        else:
            p.add_argument("--bearer-token", default=None)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("simulators listen on loopback only")
    try:
        trio.run(_main, args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
