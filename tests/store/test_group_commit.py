"""The group-commit writer isolates a request whose rows the database refuses (issue 20,
item 1b): a batch failing with a row error is split and written again, so only the bad
request's waiter fails; connection errors still fail everyone. A fake write function
and trio's MockClock (autojump): no database."""

from __future__ import annotations

import math
from collections.abc import Sequence

import asyncpg
import pytest
import trio

from engine.store.group_commit import ROW_ERRORS, GroupCommit

BAD = "bad"


class FakeDatabase:
    """Writes all or nothing: a batch holding ``BAD`` raises ``error`` and keeps nothing."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.transactions: list[list[str]] = []
        self.committed: list[str] = []

    async def write(self, items: list[str]) -> list[list[int]]:
        await trio.sleep(0.001)  # a round trip
        self.transactions.append(list(items))
        if BAD in items:
            raise self.error
        self.committed.extend(items)
        return [[len(item)] for item in items]


async def submit_together(
    db: FakeDatabase, requests: Sequence[Sequence[str]], *, split: bool = True
) -> list[list[int] | Exception]:
    """Submit every request at once (one batch: the linger holds them all)."""
    commit: GroupCommit[str, int] = GroupCommit(
        "test", db.write, max_rows=10_000, linger=0.05, mailbox=1000,
        split_on=ROW_ERRORS if split else (),
    )  # fmt: skip
    outcomes: list[list[int] | Exception] = [[] for _ in requests]

    async def one(i: int) -> None:
        try:
            outcomes[i] = await commit.submit(requests[i])
        except Exception as exc:
            outcomes[i] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(commit.run_writer)
        async with trio.open_nursery() as clients:
            for i in range(len(requests)):
                clients.start_soon(one, i)
        await commit.close()
    return outcomes


NUL_REFUSED = asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence")


@pytest.mark.parametrize("n", [2, 3, 8, 13, 64])
async def test_only_the_bad_request_fails(autojump_clock: object, n: int) -> None:
    for bad_at in sorted({0, n // 2, n - 1}):
        db = FakeDatabase(NUL_REFUSED)
        requests = [[f"r{i}a", f"r{i}b"] for i in range(n)]
        requests[bad_at] = ["r-bad-a", BAD]
        outcomes = await submit_together(db, requests)
        assert outcomes[bad_at] is NUL_REFUSED
        good = [i for i in range(n) if i != bad_at]
        assert all(outcomes[i] == [len(x) for x in requests[i]] for i in good), outcomes
        assert sorted(db.committed) == sorted(x for i in good for x in requests[i])
        everything = sorted(x for r in requests for x in r)
        assert sorted(db.transactions[0]) == everything, "one batch at first"
        extra = len(db.transactions) - 1
        assert extra <= 2 * math.ceil(math.log2(n)), (n, bad_at, extra)
        assert all(("r-bad-a" in t) == (BAD in t) for t in db.transactions), (
            "a request's items are never split apart"
        )


async def test_a_unique_violation_is_isolated_too(autojump_clock: object) -> None:
    db = FakeDatabase(asyncpg.UniqueViolationError("duplicate key"))
    outcomes = await submit_together(db, [["a"], [BAD], ["c"], ["d"]])
    assert isinstance(outcomes[1], asyncpg.UniqueViolationError)
    assert [outcomes[i] for i in (0, 2, 3)] == [[1], [1], [1]]


async def test_connection_errors_still_fail_everyone(autojump_clock: object) -> None:
    lost = OSError("connection reset")
    db = FakeDatabase(lost)
    outcomes = await submit_together(db, [["a"], [BAD], ["c"]])
    assert outcomes == [lost, lost, lost]
    assert len(db.transactions) == 1, "not retried"


async def test_without_split_on_a_row_error_fails_the_batch(autojump_clock: object) -> None:
    db = FakeDatabase(NUL_REFUSED)
    outcomes = await submit_together(db, [["a"], [BAD], ["c"]], split=False)
    assert outcomes == [NUL_REFUSED] * 3
    assert len(db.transactions) == 1


async def test_many_bad_requests_fail_alone_within_the_bound(autojump_clock: object) -> None:
    db = FakeDatabase(NUL_REFUSED)
    for n, bad in [(24, range(0, 24, 2)), (32, range(32)), (64, (3, 17, 40))]:
        db.transactions.clear()
        requests = [[BAD] if i in bad else [f"g{i}"] for i in range(n)]
        outcomes = await submit_together(db, requests)
        assert all(outcomes[i] is NUL_REFUSED for i in bad)
        assert all(outcomes[i] == [len(f"g{i}")] for i in range(n) if i not in bad)
        assert len(db.transactions) - 1 <= 2 * (n - 1)


async def test_a_ticket_bounds_the_wait_and_the_rows_still_commit(autojump_clock: object) -> None:
    """The receipts' bound (engine.watchdog): a write stuck for 30 s releases a waiter with
    a 10 s ticket at 10 s (within the watchdog's tick), without a cancel scope; its items
    stay in the batch and commit when the write completes. A waiter without a ticket waits."""
    from engine.watchdog import Watchdog

    committed: list[str] = []

    async def slow_write(items: list[str]) -> list[list[int]]:
        await trio.sleep(30)
        committed.extend(items)
        return [[1] for _ in items]

    commit: GroupCommit[str, int] = GroupCommit(
        "test", slow_write, max_rows=100, linger=0.01, mailbox=2
    )
    watchdog = Watchdog(0.5)
    outcomes: dict[str, object] = {}

    async def bounded(item: str) -> None:
        start = trio.current_time()
        with watchdog.ticket(10) as ticket:
            try:
                await commit.submit([item], ticket)
                outcomes[item] = "committed"
            except trio.TooSlowError:
                outcomes[item] = trio.current_time() - start

    async def unbounded(item: str) -> None:
        await commit.submit([item])
        outcomes[item] = trio.current_time()

    async with trio.open_nursery() as nursery:
        await nursery.start(watchdog.run)
        nursery.start_soon(commit.run_writer)
        async with trio.open_nursery() as clients:
            clients.start_soon(bounded, "a")
            clients.start_soon(unbounded, "b")
            await trio.sleep(1)
            # The writer holds a and b; two more fill the mailbox; the fifth request waits
            # for room under its ticket's deadline, and gives up at it.
            for item in ("c", "d", "e"):
                clients.start_soon(bounded, item)
                await trio.sleep(0.1)
        await commit.close()
        nursery.cancel_scope.cancel()
    for item in ("a", "c", "d", "e"):
        waited = outcomes[item]
        assert isinstance(waited, float), (item, waited)
        assert 10 <= waited <= 10.5, (item, waited)
    waited_unbounded = outcomes["b"]
    assert isinstance(waited_unbounded, float)
    assert waited_unbounded >= 30  # no ticket: it waited for the write
    assert sorted(committed) == ["a", "b", "c", "d"]  # e never got into the mailbox
    assert watchdog.held() == 0
