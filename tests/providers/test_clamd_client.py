"""The trio clamd client against a real clamd (the tests' own signatures), and against
sockets that are not a working clamd."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import pytest
import trio

from engine.domain.clamd import ScanError, TooLarge, Verdict
from engine.providers.clamd import ClamdClient
from tests.clamd_support import CLEAN_PDF, EICAR, OWN_FILE, STREAM_MAX, Clamd


async def test_verdicts_from_a_real_clamd(clamd: Clamd) -> None:
    client = ClamdClient(clamd.address, timeout=10)
    assert await client.ping()
    assert await client.scan(CLEAN_PDF) == Verdict(True)
    assert await client.scan(b"%PDF-1.4 " + EICAR + b" trailer") == Verdict(
        False, "Notify.Test.EICAR.UNOFFICIAL"
    )
    assert await client.scan(OWN_FILE) == Verdict(False, "Notify.Test.OwnFile.UNOFFICIAL")
    big = CLEAN_PDF + bytes(3 * 1024 * 1024)  # several chunks
    assert await client.scan(big) == Verdict(True)


async def test_many_scans_at_once_within_the_bound(clamd: Clamd) -> None:
    client = ClamdClient(clamd.address, timeout=10, concurrency=2)
    results: list[Verdict] = []

    async def one(i: int) -> None:
        results.append(await client.scan(EICAR if i % 2 else CLEAN_PDF))

    async with trio.open_nursery() as nursery:
        for i in range(10):
            nursery.start_soon(one, i)
    assert sorted(r.clean for r in results) == [False] * 5 + [True] * 5


async def test_over_clamd_s_stream_limit_is_an_error_not_clean(clamd: Clamd) -> None:
    too_big = CLEAN_PDF + bytes(STREAM_MAX + 1)
    with pytest.raises(TooLarge):  # refused before sending: the client knows the limit
        await ClamdClient(clamd.address, max_bytes=STREAM_MAX).scan(too_big)
    # A client told a larger limit than clamd's gets clamd's refusal: still no verdict.
    with pytest.raises(ScanError):
        await ClamdClient(clamd.address, max_bytes=10 * STREAM_MAX, timeout=10).scan(too_big)


async def test_no_clamd_is_a_scan_error() -> None:
    with tempfile.TemporaryDirectory() as folder:
        client = ClamdClient(f"unix:{Path(folder) / 'absent.sock'}", timeout=2)
        with pytest.raises(ScanError):
            await client.scan(CLEAN_PDF)
        assert not await client.ping()


async def test_a_silent_scanner_is_a_scan_error_at_the_deadline() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts (the kernel's backlog) and never answers
        port = listener.getsockname()[1]
        client = ClamdClient(f"127.0.0.1:{port}", timeout=0.5)
        with trio.fail_after(5), pytest.raises(ScanError, match="no verdict within"):
            await client.scan(CLEAN_PDF)
