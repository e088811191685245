"""The end-to-end benchmark's load process: single POSTs of the Notify v2 API.

    python -m bench.loadgen --url http://127.0.0.1:6011 --key KEY --template ID \\
        --count 20000 [--first 0] [--connections 64] [--rate 0] --out FILE

Rules:
- Raw trio sockets + httptools, HTTP/1.1 keep-alive, one request in flight per connection
  (closed loop), so a request's latency is the engine's answer time, not a client queue.
  A client per request in httpx would cost more CPU than the engine spends answering.
- JWT auth as the official clients do it: HS256 ``{iss, iat}``, a fresh token each second.
- ``--rate R`` paces the whole process to R requests/s (for "p99 at 1,000 requests/s");
  0 = as fast as the engine answers.
- Every request is sent once: a refused or failed one is counted, never retried, so the
  number of 201 answers is exactly the number of notifications the engine owes.
- Writes ``{"sent", "created", "errors", "started", "finished"}`` as JSON to FILE and each
  request's latency (seconds, float64, native order) to FILE + ".lat". Bounded by --deadline.
- ``--ids``: also FILE + ".ids", one ``<notification id> <unix time>`` line per 201 (what
  ``bench/faults.py`` checks delivery against); off by default, so the benchmark's client
  does not parse bodies.
"""

from __future__ import annotations

import argparse
import json
import time
from array import array
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import httptools
import jwt
import msgspec
import trio

_encode = msgspec.json.Encoder().encode


class _Token:
    """A JWT per second: ``iat`` must be within 30 s of the server's clock."""

    def __init__(self, key: str) -> None:
        self.service_id, self.secret = key[-73:-37], key[-36:]
        self._second = -1
        self._header = b""

    def header(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            token = jwt.encode({"iss": self.service_id, "iat": now}, self.secret, "HS256")
            self._second, self._header = now, b"authorization: Bearer " + token.encode()
        return self._header


class _Response:
    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.done = False
        self.keep_alive = True
        self.body = b""

    def on_headers_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        self.done = True


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        parts = urlsplit(args.url)
        assert parts.hostname in ("127.0.0.1", "localhost", "::1"), "loopback targets only"
        self.host, self.port = parts.hostname, parts.port or 80
        self.token = _Token(args.key)
        self.template = args.template
        self.path = f"/v2/notifications/{args.channel}".encode()
        self.channel = args.channel
        self.indexes = iter(range(args.first, args.first + args.count))
        self.interval = 1 / args.rate if args.rate else 0.0
        self.next_slot = 0.0
        self.latencies = array("d")
        self.counts: Counter[str] = Counter()
        self.ids: list[str] | None = [] if args.ids else None

    def request(self, i: int) -> bytes:
        if self.channel == "email":
            fields: dict[str, Any] = {"email_address": f"user{i}@example.com"}
        else:
            fields = {"phone_number": f"+1613{7_000_000 + i % 1_000_000}"}  # valid 613-7xx
        body = _encode(
            {
                **fields,
                "template_id": self.template,
                "personalisation": {"name": f"User {i}", "code": str(i)},
            }
        )
        host = b"host: %s:%d" % (self.host.encode(), self.port)
        head = [
            b"POST " + self.path + b" HTTP/1.1",
            host,
            self.token.header(),
            b"content-type: application/json",
            b"content-length: %d" % len(body),
            b"",
            b"",
        ]
        return b"\r\n".join(head) + body

    async def connection(self) -> None:
        stream: trio.SocketStream | None = None
        try:
            for i in self.indexes:
                if self.interval:
                    self.next_slot = max(self.next_slot + self.interval, trio.current_time())
                    await trio.sleep_until(self.next_slot)
                response = _Response()
                self.counts["sent"] += 1
                started = time.perf_counter()
                try:
                    with trio.fail_after(30):
                        if stream is None:  # refused while the engine is down: an error
                            stream = await trio.open_tcp_stream(self.host, self.port)
                        await stream.send_all(self.request(i))
                        while not response.done:
                            data = await stream.receive_some(65_536)
                            if not data:
                                raise trio.BrokenResourceError("closed by the server")
                            response.parser.feed_data(data)
                except (
                    OSError,
                    trio.BrokenResourceError,
                    trio.TooSlowError,
                    httptools.HttpParserError,
                ) as exc:
                    self.counts[f"error_{type(exc).__name__}"] += 1
                    if stream is not None:
                        await stream.aclose()
                    stream = None
                    continue
                self.latencies.append(time.perf_counter() - started)
                status = response.parser.get_status_code()
                self.counts["created" if status == 201 else f"status_{status}"] += 1
                if status == 201 and self.ids is not None:
                    self.ids.append(f"{msgspec.json.decode(response.body)['id']} {time.time()}")
                if not response.keep_alive:
                    await stream.aclose()
                    stream = None
        finally:
            if stream is not None:
                with trio.CancelScope(shield=True):
                    await stream.aclose()


async def run(args: argparse.Namespace) -> tuple[Load, float, float]:
    load = Load(args)
    started = time.time()
    with trio.move_on_after(args.deadline):
        async with trio.open_nursery() as nursery:
            for _ in range(args.connections):
                nursery.start_soon(load.connection)
    return load, started, time.time()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.loadgen",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--template", required=True)
    p.add_argument("--channel", choices=("email", "sms"), default="email")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--deadline", type=float, default=3600.0)
    p.add_argument("--out", required=True)
    p.add_argument("--ids", action="store_true", help="write each 201's id to OUT.ids")
    args = p.parse_args(argv)
    load, started, finished = trio.run(run, args)
    if load.ids is not None:
        with open(args.out + ".ids", "w") as ids:
            ids.write("".join(line + "\n" for line in load.ids))
    with open(args.out + ".lat", "wb") as lat:
        load.latencies.tofile(lat)
    errors = {k: v for k, v in load.counts.items() if k not in ("sent", "created")}
    with open(args.out, "w") as f:
        json.dump(
            {
                "sent": load.counts["sent"],
                "created": load.counts["created"],
                "errors": errors,
                "started": started,
                "finished": finished,
            },
            f,
        )


if __name__ == "__main__":
    main()
