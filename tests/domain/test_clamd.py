"""clamd's INSTREAM framing and replies (engine.domain.clamd), without a socket."""

from __future__ import annotations

import struct

import pytest

from engine.domain.clamd import (
    Address,
    ReplyReader,
    ScanError,
    TooLarge,
    Verdict,
    instream,
    parse_address,
    parse_reply,
)


def test_a_file_is_the_command_then_length_prefixed_chunks_then_a_zero_chunk() -> None:
    data = bytes(range(256)) * 5  # 1280 bytes
    frames = [bytes(f) for f in instream(data, max_bytes=10_000, chunk=500)]
    assert frames[0] == b"zINSTREAM\0"
    assert frames[1:] == [
        struct.pack(">I", 500), data[:500],
        struct.pack(">I", 500), data[500:1000],
        struct.pack(">I", 280), data[1000:],
        b"\0\0\0\0",
    ]  # fmt: skip


def test_an_empty_file_is_only_the_terminating_chunk() -> None:
    assert [bytes(f) for f in instream(b"", max_bytes=1)] == [b"zINSTREAM\0", b"\0\0\0\0"]


def test_a_file_over_the_scanner_s_limit_is_not_framed() -> None:
    with pytest.raises(TooLarge):
        list(instream(b"x" * 11, max_bytes=10))


@pytest.mark.parametrize(
    ("line", "verdict"),
    [
        (b"stream: OK", Verdict(True)),
        (b"stream: Win.Test.EICAR_HDB-1 FOUND", Verdict(False, "Win.Test.EICAR_HDB-1")),
    ],
)
def test_replies(line: bytes, verdict: Verdict) -> None:
    assert parse_reply(line) == verdict


@pytest.mark.parametrize(
    "line", [b"INSTREAM size limit exceeded. ERROR", b"stream: lstat() failed ERROR", b"PONG",
             b"stream: MAYBE"],
)  # fmt: skip
def test_errors_and_garbage_are_no_verdict(line: bytes) -> None:
    with pytest.raises(ScanError):
        parse_reply(line)


def test_the_reply_is_whole_at_its_nul_whatever_the_pieces() -> None:
    reader = ReplyReader()
    assert reader.feed(b"stream: Ev") is None
    assert reader.feed(b"il FOU") is None
    assert reader.feed(b"ND\0") == Verdict(False, "Evil")


def test_a_connection_closed_before_the_nul_is_no_verdict() -> None:
    reader = ReplyReader()
    reader.feed(b"stream: O")
    with pytest.raises(ScanError):
        reader.feed(b"")
    with pytest.raises(ScanError):
        ReplyReader().feed(b"x" * 5000)


def test_addresses() -> None:
    assert parse_address("unix:/run/clamav/clamd.ctl") == Address(path="/run/clamav/clamd.ctl")
    assert parse_address("/tmp/c.sock") == Address(path="/tmp/c.sock")
    assert parse_address("tcp://127.0.0.1:3310") == Address(host="127.0.0.1", port=3310)
    assert parse_address("clamav:3310") == Address(host="clamav", port=3310)
    for bad in ("clamav", "host:port", ":3310", "h:0"):
        with pytest.raises(ValueError, match="not a clamd address"):
            parse_address(bad)
