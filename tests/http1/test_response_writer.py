"""The server's response serialisation (sans-IO): the bytes for ASGI response messages, read
back with the clients' response reader."""

from __future__ import annotations

import pytest

from engine.http1.response_reader import ResponseReader
from engine.http1.response_writer import ResponseWriter, error_response, plain_error_body


def wire(writer: ResponseWriter, status: int, headers: list[tuple[bytes, bytes]],
         parts: list[bytes], *, close: bool = False) -> bytes:  # fmt: skip
    writer.start(status, headers, close=close)
    return b"".join(writer.body(p, more=i < len(parts) - 1) for i, p in enumerate(parts))


def parsed(data: bytes) -> ResponseReader:
    reader = ResponseReader(1 << 20)
    reader.feed(data)
    assert reader.complete
    return reader


def test_a_single_body_gets_a_content_length_in_one_piece() -> None:
    data = wire(ResponseWriter(True), 200, [(b"content-type", b"text/plain")], [b"hello"])
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"\r\ncontent-length: 5" in head
    assert b"transfer-encoding" not in head
    assert b"\r\ndate: " in head
    assert body == b"hello"
    assert (parsed(data).status, parsed(data).keep_alive) == (200, True)


def test_a_body_in_several_messages_is_chunked() -> None:
    writer = ResponseWriter(True)
    data = wire(writer, 201, [], [b"ab", b"", b"cd", b""])
    assert b"\r\ntransfer-encoding: chunked\r\n" in data
    reader = parsed(data)
    assert (reader.status, bytes(reader.body), writer.done) == (201, b"abcd", True)


def test_an_apps_content_length_is_kept() -> None:
    data = wire(ResponseWriter(True), 200, [(b"content-length", b"4")], [b"ab", b"cd"])
    assert data.count(b"content-length") == 1
    assert bytes(parsed(data).body) == b"abcd"


@pytest.mark.parametrize(
    ("keep", "app_headers", "close", "expected"),
    [
        (True, [(b"connection", b"keep-alive")], False, True),  # the server owns the header
        (True, [(b"Connection", b"close")], False, False),  # an app may ask to close
        (True, [], True, False),  # a drain closes
        (False, [], False, False),  # the request asked to close
    ],
)
def test_connection_header(
    keep: bool, app_headers: list[tuple[bytes, bytes]], close: bool, expected: bool
) -> None:
    writer = ResponseWriter(keep)
    data = wire(writer, 200, app_headers, [b"x"], close=close)
    assert writer.keep_alive is expected
    assert data.lower().count(b"connection:") == (0 if expected else 1)
    assert parsed(data).keep_alive is expected


def test_messages_out_of_order_are_refused() -> None:
    writer = ResponseWriter(True)
    with pytest.raises(RuntimeError):
        writer.body(b"x", more=False)
    writer.start(200, [], close=False)
    with pytest.raises(RuntimeError):
        writer.start(200, [], close=False)
    writer.body(b"x", more=False)
    with pytest.raises(RuntimeError):
        writer.body(b"y", more=False)


def test_error_responses_close_and_carry_the_given_body() -> None:
    data = error_response(413, *plain_error_body(413, "too big"))
    reader = parsed(data)
    assert (reader.status, bytes(reader.body), reader.keep_alive) == (413, b"too big", False)
    assert (b"content-type", b"text/plain; charset=utf-8") in reader.headers
