"""The response reader (sans-IO): RFC 9112 framing from bytes alone, fed whole and byte by
byte (a response may arrive split anywhere)."""

from __future__ import annotations

import pytest

from engine.http1.response_reader import IncompleteResponse, MalformedResponse, ResponseReader


def read(wire: bytes, *, eof: bool = False, split: bool = False, **kw: bool) -> ResponseReader:
    reader = ResponseReader(1000, **kw)
    pieces = [wire[i : i + 1] for i in range(len(wire))] if split else [wire]
    for piece in pieces:
        if reader.complete:
            break
        reader.feed(piece)
    if eof:
        reader.feed_eof()
    return reader


CHUNKED_WITH_TRAILERS = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
    b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n"
)


@pytest.mark.parametrize("split", [False, True], ids=["whole", "byte-by-byte"])
@pytest.mark.parametrize(
    ("wire", "eof", "status", "body", "keep_alive"),
    [
        (b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc", False, 201, b"abc", True),
        (CHUNKED_WITH_TRAILERS, False, 200, b"abcde", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", False, 200,
         b"ok", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False, 200, b"ok", False),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil the close", True, 200, b"until the close", False),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil the close", True, 200, b"until the close", False),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw", True, 200, b"raw", False),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
         b"HTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\nx", False, 202, b"x", True),
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", False, 204, b"", True),
        (b"HTTP/1.1 304 Not Modified\r\n\r\n", False, 304, b"", True),
    ],
    ids=["content-length", "chunked+trailers", "connection-close", "http/1.0-length",
         "http/1.0-close-delimited", "http/1.1-close-delimited", "non-chunked-coding",
         "1xx-skipped", "204", "304"],
)  # fmt: skip
def test_framings(
    wire: bytes, eof: bool, status: int, body: bytes, keep_alive: bool, split: bool
) -> None:
    reader = read(wire, eof=eof, split=split)
    assert (reader.complete, reader.status, bytes(reader.body)) == (True, status, body)
    assert reader.keep_alive is keep_alive
    assert reader.parser is None  # released: no reference cycle left for the collector


def test_trailers_are_kept_apart_from_the_headers() -> None:
    reader = read(CHUNKED_WITH_TRAILERS)
    assert (b"X-Sum", b"5") in reader.trailers
    assert all(name != b"X-Sum" for name, _ in reader.headers)


def test_interim_headers_are_not_the_final_headers() -> None:
    reader = read(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                  b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")  # fmt: skip
    assert reader.headers == [(b"Content-Length", b"0")]


def test_a_head_response_ends_with_its_head() -> None:
    reader = read(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", head_only=True)
    assert (reader.complete, reader.keep_alive, bytes(reader.body)) == (True, True, b"")


def test_bytes_after_the_response_make_the_connection_unusable() -> None:
    reader = read(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n\r\n")
    assert (reader.complete, reader.status, reader.keep_alive) == (True, 200, False)


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",  # framed, cut short
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"HTTP/1.1 200 OK\r\nContent-Le",  # the head, cut short
    ],
    ids=["content-length", "chunked", "head"],
)
def test_a_close_before_the_end_of_a_framed_response_is_incomplete(wire: bytes) -> None:
    reader = read(wire)
    with pytest.raises(IncompleteResponse):
        reader.feed_eof()


@pytest.mark.parametrize(
    ("wire", "match"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n" + b"x" * 1001, "over 1000 bytes"),
        (b"NOT HTTP AT ALL\r\n\r\n", "Expected HTTP"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
         "protocol switch"),
    ],
    ids=["too-large", "garbage", "101"],
)  # fmt: skip
def test_malformed_responses(wire: bytes, match: str) -> None:
    with pytest.raises(MalformedResponse, match=match):
        read(wire)
