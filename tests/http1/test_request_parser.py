"""The server's request parser (sans-IO): limits and the pipeline bound from bytes alone."""

from __future__ import annotations

from engine.http1.request_parser import MAX_PIPELINE, RequestParser


class Clock:
    now = 7.0


def parser() -> RequestParser:
    return RequestParser(max_header_bytes=200, max_body_bytes=10, clock=Clock())


def test_requests_split_anywhere_come_out_whole() -> None:
    p = parser()
    raw = b"POST /a?b=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyzGET /c HTTP/1.0\r\n\r\n"
    for i in range(len(raw)):
        assert p.feed(raw[i : i + 1]) == (b"", None)
    first, second = p.ready
    assert (first.method, first.url, b"".join(first.body)) == (b"POST", b"/a?b=1", b"xyz")
    assert (first.keep_alive, second.version, second.keep_alive) == (True, "1.0", False)
    assert p.started_at == 7.0


def test_the_pipeline_bound_hands_back_the_rest() -> None:
    p = parser()
    raw = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * (MAX_PIPELINE + 400)
    rest, error = p.feed(raw)
    assert error is None
    assert len(p.ready) >= MAX_PIPELINE
    assert rest
    assert raw.endswith(rest)


def status_of(raw: bytes) -> int | None:
    _, error = parser().feed(raw)
    return None if error is None else error.status


def test_limits_are_errors_with_their_status() -> None:
    assert status_of(b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n") == 413
    assert (
        status_of(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n" + b"x" * 11) == 413
    )
    assert status_of(b"GET / HTTP/1.1\r\nX: " + b"f" * 300 + b"\r\n\r\n") == 431
    assert status_of(b"GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n") == 400
    assert status_of(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n") == 400


def test_expect_continue_is_noted_until_the_body_arrives() -> None:
    p = parser()
    p.feed(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n")
    assert (p.expect_continue, p.in_progress(), p.headers_done) == (True, True, True)
    p.feed(b"x")
    assert (p.expect_continue, p.in_progress(), len(p.ready)) == (False, False, 1)
