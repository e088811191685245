"""AwsHttpSession, the lean aiobotocore HTTP session, against tiny loopback servers: keep-alive,
the pool bound, timeouts, TLS and response framing, through an aiobotocore SNS client or the
session alone. (The providers through it against moto: tests/providers/test_aws.py.)"""

from __future__ import annotations

import io
import ssl
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from aiobotocore.awsrequest import AioAWSResponse
from aiobotocore.config import AioConfig
from botocore.awsrequest import AWSRequest
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
    SSLError,
)

from engine.config import Settings
from engine.domain.notification import SmsMessage
from engine.http1.aws_session import MAX_RESPONSE_BYTES, AwsHttpSession
from engine.providers.aws import client_config, describe, open_client
from engine.providers.sns import SnsProvider
from tests.providers.conftest import CREDENTIALS, REGION
from tests.tls_support import self_signed

PUBLISH_OK = (
    b'<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
    b"<MessageId>loopback-1</MessageId></PublishResult><ResponseMetadata>"
    b"<RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>"
)


def sms(n: int = 0) -> SmsMessage:
    return SmsMessage(notification_id=uuid.uuid4(), service_id=uuid.UUID(int=1),
                      to=f"+1613555{n:04d}", body=f"code {n}", sender=None)  # fmt: skip


# -- a tiny loopback HTTP/1.1 server ---------------------------------------------------
class Loopback:
    """Counts connections, records requests, answers with ``self.answer`` (raw bytes) after
    ``delay`` seconds, or never when ``silent``; closes after answering when ``close``, and
    without answering once a connection has answered ``drop_after`` requests."""

    def __init__(self) -> None:
        self.connections = self.active = self.most_active = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.answer = ok(PUBLISH_OK)
        self.delay = 0.0
        self.silent = self.close = False
        self.drop_after: int | None = None
        self.url = ""

    async def handle(self, stream: trio.abc.Stream) -> None:
        self.connections += 1
        buffer, answered = bytearray(), 0
        try:
            while (request := await read_request(stream, buffer)) is not None:
                self.requests.append(request)
                if answered == self.drop_after:
                    break
                answered += 1
                self.active += 1
                self.most_active = max(self.most_active, self.active)
                try:
                    if self.silent:
                        await trio.sleep_forever()
                    await trio.sleep(self.delay)
                    await stream.send_all(self.answer)
                finally:
                    self.active -= 1
                if self.close:
                    break
        except trio.BrokenResourceError:
            pass
        finally:
            await trio.aclose_forcefully(stream)


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\n%bContent-Length: %d\r\n\r\n%b" % (extra, len(body), body)


async def read_request(
    stream: trio.abc.Stream, buffer: bytearray
) -> tuple[str, dict[str, str], bytes] | None:
    async def more() -> None:
        data = await stream.receive_some(65536)
        if not data:
            raise EOFError
        buffer.extend(data)

    try:
        while b"\r\n\r\n" not in buffer:
            await more()
        head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
        del buffer[: len(head) + 4]
        line, *fields = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
        body = b""
        if headers.get("transfer-encoding") == "chunked":
            while True:
                while b"\r\n" not in buffer:
                    await more()
                size = int(bytes(buffer[: buffer.index(b"\r\n")]), 16)
                while len(buffer) < buffer.index(b"\r\n") + 2 + size + 2:
                    await more()
                start = buffer.index(b"\r\n") + 2
                body += bytes(buffer[start : start + size])
                del buffer[: start + size + 2]
                if size == 0:
                    break
        else:
            length = int(headers.get("content-length", "0"))
            while len(buffer) < length:
                await more()
            body = bytes(buffer[:length])
            del buffer[:length]
    except EOFError:
        return None
    return line, headers, body


@asynccontextmanager
async def loopback(tls: ssl.SSLContext | None = None) -> AsyncIterator[Loopback]:
    server = Loopback()
    async with trio.open_nursery() as nursery:
        if tls is None:
            listeners = await nursery.start(partial(trio.serve_tcp, server.handle, 0,
                                                    host="127.0.0.1"))  # fmt: skip
            port = listeners[0].socket.getsockname()[1]
        else:
            listeners = await nursery.start(partial(trio.serve_ssl_over_tcp, server.handle, 0,
                                                    tls, host="127.0.0.1"))  # fmt: skip
            port = listeners[0].transport_listener.socket.getsockname()[1]
        server.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        yield server
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def sns_client(url: str, config: AioConfig | None = None) -> AsyncIterator[Any]:
    settings = Settings(aws_endpoint_url=url, aws_region=REGION)
    async with open_client("sns", settings, config=config, credentials=CREDENTIALS) as c:
        yield c


async def publish(client: Any, n: int = 0) -> Any:
    return await client.publish(PhoneNumber=f"+1613555{n:04d}", Message="hi")


@asynccontextmanager
async def session(**kwargs: Any) -> AsyncIterator[AwsHttpSession]:
    values: dict[str, Any] = {"timeout": (2.0, 2.0), "verify": True, "proxies": {}}
    values.update(kwargs)
    async with AwsHttpSession(**values) as s:
        yield s


async def call(s: AwsHttpSession, url: str, method: str = "POST", **kwargs: Any) -> Any:
    return await s.send(AWSRequest(method=method, url=url, **kwargs).prepare())


# -- keep-alive and the pool bound -----------------------------------------------------
async def test_sequential_calls_reuse_one_connection() -> None:
    with trio.fail_after(30):
        async with loopback() as server, sns_client(server.url) as client:
            for i in range(10):
                response = await publish(client, i)
                assert response["MessageId"] == "loopback-1"
    assert server.connections == 1
    line, headers, body = server.requests[-1]
    assert line == "POST / HTTP/1.1"
    assert headers["content-length"] == str(len(body))
    assert b"Action=Publish" in body


async def test_concurrent_calls_beyond_the_pool_wait_for_a_connection() -> None:
    config = client_config(max_connections=2)
    with trio.fail_after(30):
        async with loopback() as server, sns_client(server.url, config) as client:
            server.delay = 0.05
            async with trio.open_nursery() as nursery:
                for i in range(8):
                    nursery.start_soon(publish, client, i)
    assert len(server.requests) == 8
    assert server.connections == 2
    assert server.most_active == 2


async def test_a_full_pool_times_out_as_connect_timeout() -> None:
    with trio.fail_after(30):
        async with (
            loopback() as server,
            session(
                max_pool_connections=1,
                connector_args={"pool_timeout": 0.2, "keepalive_timeout": 12},
            ) as s,
        ):
            server.silent = True
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call, s, server.url + "/")  # holds the only connection
                await trio.sleep(0.1)
                with pytest.raises(ConnectTimeoutError):
                    await call(s, server.url + "/")
                nursery.cancel_scope.cancel()


async def test_an_idle_connection_the_server_closed_is_replaced() -> None:
    with trio.fail_after(30):
        async with loopback() as server, sns_client(server.url) as client:
            server.close = True  # answers with keep-alive, then closes anyway
            await publish(client)
            await trio.sleep(0.1)
            assert (await publish(client))["MessageId"] == "loopback-1"
    assert server.connections == 2


async def test_a_reused_connection_that_drops_the_request_is_retried_once() -> None:
    with trio.fail_after(30):
        async with loopback() as server, session() as s:
            server.drop_after = 1  # the idle-close race: the request meets a closing server
            for _ in range(2):
                assert (await call(s, server.url + "/", data=b"x")).status_code == 200
    assert (len(server.requests), server.connections) == (3, 2)


async def test_a_new_connection_that_drops_the_request_is_not_retried() -> None:
    with trio.fail_after(30):
        async with loopback() as server, session() as s:
            server.drop_after = 0
            with pytest.raises(ConnectionClosedError):
                await call(s, server.url + "/", data=b"x")
    assert (len(server.requests), server.connections) == (1, 1)


async def test_connections_idle_past_the_keepalive_timeout_are_not_reused() -> None:
    with trio.fail_after(30):
        async with loopback() as server, session(connector_args={"keepalive_timeout": 0}) as s:
            for _ in range(2):
                await call(s, server.url + "/", data=b"x")
    assert server.connections == 2


# -- timeouts and connection errors, and how the providers classify them ----------------
async def test_a_server_that_never_answers_is_a_read_timeout_and_retryable() -> None:
    config = client_config(read_timeout=0.3)
    with trio.fail_after(30):
        async with loopback() as server, sns_client(server.url, config) as client:
            server.silent = True
            with pytest.raises(ReadTimeoutError) as caught:
                await publish(client)
            assert describe(caught.value)[0] == "retryable"
            [result] = await SnsProvider(client, name="sns").send_batch([sms()])
    assert result.outcome == "retryable"
    assert result.detail is not None
    assert result.detail.startswith("ReadTimeoutError")


async def test_a_server_that_stops_reading_is_a_write_timeout() -> None:
    async def never_read(stream: trio.abc.Stream) -> None:
        await trio.sleep_forever()

    with trio.fail_after(30):
        async with (
            trio.open_nursery() as nursery,
            session(connector_args={"write_timeout": 0.3, "keepalive_timeout": 12}) as s,
        ):
            [listener] = await nursery.start(partial(trio.serve_tcp, never_read, 0,
                                                     host="127.0.0.1"))  # fmt: skip
            url = f"http://127.0.0.1:{listener.socket.getsockname()[1]}/"
            with pytest.raises(ConnectTimeoutError):  # as HttpxSession maps a WriteTimeout
                await call(s, url, data=b"x" * (32 << 20))
            nursery.cancel_scope.cancel()


async def test_connection_refused_is_an_endpoint_connection_error() -> None:
    async with loopback() as server:
        url = server.url
    with trio.fail_after(30):
        async with sns_client(url) as client:
            with pytest.raises(EndpointConnectionError) as caught:
                await publish(client)
    assert describe(caught.value)[0] == "retryable"


async def test_a_connection_closed_mid_response_is_connection_closed() -> None:
    with trio.fail_after(30):
        async with loopback() as server, session() as s:
            server.answer, server.close = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nab", True
            with pytest.raises(ConnectionClosedError):
                await call(s, server.url + "/", data=b"x")


# -- TLS ---------------------------------------------------------------------------------
@asynccontextmanager
async def tls_loopback(names: tuple[str, ...]) -> AsyncIterator[tuple[Loopback, str]]:
    with tempfile.TemporaryDirectory() as folder:
        cert, key = self_signed(Path(folder), names)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        async with loopback(context) as server:
            yield server, str(cert)


async def test_https_verifies_the_certificate_and_honours_a_ca_bundle() -> None:
    with trio.fail_after(30):
        async with tls_loopback(("localhost", "127.0.0.1")) as (server, ca):
            url = server.url.replace("127.0.0.1", "localhost")
            async with session() as s:  # the default trust store does not know this CA
                with pytest.raises(SSLError):
                    await call(s, url + "/", data=b"x")
            async with session(verify=ca) as s:
                for _ in range(3):
                    response = await call(s, url + "/", data=b"x")
                    assert (response.status_code, await response.content) == (200, PUBLISH_OK)
            async with session(verify=False) as s:
                assert (await call(s, url + "/", data=b"x")).status_code == 200
    assert server.connections == 3  # the refused handshake, one kept alive, one unverified


async def test_https_checks_the_host_name() -> None:
    with trio.fail_after(30):
        async with tls_loopback(("elsewhere.example",)) as (server, ca), session(verify=ca) as s:
            with pytest.raises(SSLError):
                await call(s, server.url + "/", data=b"x")


# -- the session contract: bodies, framing, delegation ---------------------------------
@pytest.mark.parametrize(
    ("body", "wire"),
    [
        (b"bytes", b"bytes"),
        (bytearray(b"array"), b"array"),
        ("text \u00e9", "text \u00e9".encode()),
        (io.BytesIO(b"file-like"), b"file-like"),
        (None, b""),
    ],
    ids=["bytes", "bytearray", "str", "file-like", "none"],
)
async def test_request_bodies_go_with_a_content_length(body: Any, wire: bytes) -> None:
    with trio.fail_after(30):
        async with loopback() as server, session() as s:
            response = await call(s, server.url + "/path?q=1", data=body, headers={"X-A": "b"})
    assert isinstance(response, AioAWSResponse)
    assert response.status_code == 200
    [(line, headers, received)] = server.requests
    assert line == "POST /path?q=1 HTTP/1.1"
    assert received == wire
    assert headers["content-length"] == str(len(wire))
    assert "transfer-encoding" not in headers
    assert headers["x-a"] == "b"


async def test_a_chunked_request_only_when_the_request_says_so() -> None:
    with trio.fail_after(30):
        async with loopback() as server, session() as s:
            headers = {"Transfer-Encoding": "chunked"}
            await call(s, server.url + "/", data=io.BytesIO(b"streamed"), headers=headers)
    [(_, sent, received)] = server.requests
    assert (sent["transfer-encoding"], received) == ("chunked", b"streamed")
    assert "content-length" not in sent


Answer = Callable[[bytes], bytes]


@pytest.mark.parametrize(
    ("answer", "reused"),
    [
        (lambda b: ok(b, b"X-Amzn-RequestId: r-1\r\n"), True),
        (lambda b: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         + b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in (b[:9], b[9:])) + b"0\r\n\r\n", True),
        (lambda b: b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b), True),
        (lambda b: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b, False),
    ],
    ids=["content-length", "chunked", "100-continue", "read-to-close"],
)  # fmt: skip
async def test_response_framings(answer: Answer, reused: bool) -> None:
    with trio.fail_after(30):
        async with loopback() as server, session() as s:
            server.answer = answer(PUBLISH_OK)
            server.close = not reused
            for _ in range(2):
                response = await call(s, server.url + "/", data=b"x")
                assert response.status_code == 200
                assert await response.content == PUBLISH_OK
    assert server.connections == (1 if reused else 2)


async def test_a_head_response_has_no_body_and_keeps_the_connection() -> None:
    with trio.fail_after(30):
        async with loopback() as server, session() as s:
            server.answer = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
            for _ in range(2):
                response = await call(s, server.url + "/key", method="HEAD")
                assert (response.status_code, await response.content) == (200, b"")
                assert response.headers["content-length"] == "10"
    assert server.connections == 1


async def test_headers_are_case_insensitive_and_errors_keep_their_body() -> None:
    with trio.fail_after(30):
        async with loopback() as server, session() as s:
            server.answer = b"HTTP/1.1 503 Busy\r\nRetry-After: 3\r\nContent-Length: 4\r\n\r\nbusy"
            response = await call(s, server.url + "/", data=b"x")
    assert response.status_code == 503
    assert response.headers["retry-after"] == response.headers["RETRY-AFTER"] == "3"
    assert await response.content == b"busy"


async def test_an_oversized_response_is_an_http_client_error() -> None:
    with trio.fail_after(30):
        async with loopback() as server, session() as s:
            size = MAX_RESPONSE_BYTES + 1
            server.answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size
            with pytest.raises(HTTPClientError, match="response body over"):
                await call(s, server.url + "/", data=b"x")


async def test_a_configured_proxy_hands_the_request_to_httpx_session() -> None:
    with trio.fail_after(30):
        async with loopback() as proxy:
            config = AioConfig(proxies={"http": proxy.url}).merge(client_config())
            async with sns_client("http://sns.invalid", config) as client:
                assert (await publish(client))["MessageId"] == "loopback-1"
    [(line, headers, _)] = proxy.requests
    assert line == "POST http://sns.invalid/ HTTP/1.1"  # absolute form: a proxy request
    assert headers["host"] == "sns.invalid"
