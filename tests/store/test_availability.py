"""Which driver errors mean "unreachable", and the store's availability state.

No database: ``is_unavailability`` is pure, and ``Availability`` runs on a fake database
thread (any object with ``call``) and a fake clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from engine.store.availability import Availability
from engine.store.errors import DatabaseUnavailable, is_unavailability, only_unavailability

UNREACHABLE = [
    ConnectionRefusedError(111, "Connection refused"),
    ConnectionResetError(104, "Connection reset by peer"),
    FileNotFoundError(2, "No such file or directory"),  # the Unix socket is gone
    OSError("Multiple exceptions: [Errno 111] Connect call failed"),
    TimeoutError(),  # asyncio.TimeoutError too
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.CannotConnectNowError("the database system is shutting down"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.InterfaceError("cannot perform operation: connection is closed"),
    # A statement issued between the server's unsolicited FATAL (shutdown, or a terminated
    # backend) and the connection's close: see test_a_statement_after_a_fatal_is_unreachable.
    asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
    DatabaseUnavailable("already classified"),
]
ANSWERED = [
    asyncpg.UniqueViolationError("duplicate key value"),  # 23505
    asyncpg.CharacterNotInRepertoireError("invalid byte sequence"),  # 22021 (a NUL)
    asyncpg.NumericValueOutOfRangeError("integer out of range"),  # 22003
    asyncpg.QueryCanceledError("canceling statement due to statement timeout"),  # 57014
    asyncpg.DataError("invalid input for query argument $1"),
    asyncpg.InterfaceError("pool is closing"),  # our own shutdown, not an outage
    asyncpg.InternalClientError("unknown error in protocol implementation"),
    ValueError("a bug"),
]


@pytest.mark.parametrize("exc", UNREACHABLE, ids=lambda e: type(e).__name__)
def test_unreachable(exc: Exception) -> None:
    assert is_unavailability(exc)


@pytest.mark.parametrize("exc", ANSWERED, ids=lambda e: type(e).__name__)
def test_not_unreachable(exc: Exception) -> None:
    assert not is_unavailability(exc)


class _SeesData:
    """Stands between an asyncpg connection's transport and its protocol: counts the
    ``data_received`` calls (the driver's own seam: the transport's ``_protocol``)."""

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.received = 0

    def data_received(self, data: bytes) -> None:
        self.received += 1
        self.protocol.data_received(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.protocol, name)


def test_a_statement_after_a_fatal_is_unreachable(database_url: str) -> None:
    """The "cannot switch to state 12" seen in logs during PostgreSQL outages: a stopping
    server sends every backend's connection an unsolicited ErrorResponse (FATAL 57P01),
    then closes it. asyncpg reads the message in one loop turn (an idle connection takes it
    as a protocol error: state 2, "error consume") and the close in a later one; a
    statement issued in between fails before anything is sent, with InternalClientError.
    Reproduced here with a terminated backend: it is an outage like the close itself."""
    import asyncio

    async def statement_between_fatal_and_close() -> BaseException:
        conn = await asyncpg.connect(database_url)
        other = await asyncpg.connect(database_url)
        try:
            await conn.fetchval("SELECT 1")  # prepared and cached: the next is a bind-execute
            seen = _SeesData(conn._transport._protocol)
            conn._transport._protocol = seen
            await other.fetchval("SELECT pg_terminate_backend($1)", conn.get_server_pid())
            for _ in range(100_000):  # bounded: the FATAL arrives within milliseconds
                if seen.received:
                    break
                await asyncio.sleep(0)
            try:
                await conn.fetchval("SELECT 1")
            except Exception as exc:
                return exc
            raise AssertionError("the statement ran on a terminated connection")
        finally:
            await other.close()
            conn.terminate()

    exc = asyncio.run(statement_between_fatal_and_close())
    assert isinstance(exc, asyncpg.InternalClientError), exc
    assert is_unavailability(exc)


def test_only_unavailability_looks_inside_groups() -> None:
    down = DatabaseUnavailable("x")
    assert only_unavailability(ExceptionGroup("g", [down, ExceptionGroup("h", [down])]))
    assert not only_unavailability(ExceptionGroup("g", [down, ValueError("bug")]))
    assert not only_unavailability(OSError("raw"))


class FakeThread:
    """Answers ``call`` with the next outcome: a value, or an exception to raise."""

    def __init__(self) -> None:
        self.outcomes: list[Any] = []

    async def call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


async def _noop() -> None:
    return None


def _gauge() -> float | None:
    return REGISTRY.get_sample_value("notify_database_up")


async def test_one_line_per_change_and_the_gauge(caplog: pytest.LogCaptureFixture) -> None:
    thread, now = FakeThread(), [100.0]
    state = Availability(thread, clock=lambda: now[0])  # type: ignore[arg-type]  # the fake
    assert state.available
    assert _gauge() == 1
    thread.outcomes = [ConnectionRefusedError(111, "refused")] * 50
    for _ in range(50):
        with pytest.raises(DatabaseUnavailable) as raised:
            await state.call(_noop)
        assert isinstance(raised.value.__cause__, ConnectionRefusedError)
        now[0] += 0.1
    assert not state.available
    assert state.down_since == 100.0
    assert _gauge() == 0
    thread.outcomes = ["row", "row"]
    assert await state.call(_noop) == "row"
    assert await state.call(_noop) == "row"
    assert state.available
    assert _gauge() == 1
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("WARNING", "database unavailable"),
        ("WARNING", "database available again"),
    ]


async def test_a_data_error_passes_unchanged_and_proves_the_server_is_there() -> None:
    thread, now = FakeThread(), [0.0]
    state = Availability(thread, clock=lambda: now[0])  # type: ignore[arg-type]  # the fake
    duplicate = asyncpg.UniqueViolationError("duplicate key value")
    thread.outcomes = [duplicate]
    with pytest.raises(asyncpg.UniqueViolationError):
        await state.call(_noop)
    assert state.available
    thread.outcomes = [ConnectionResetError(104, "reset")]
    now[0] = 1.0
    with pytest.raises(DatabaseUnavailable):
        await state.call(_noop)
    now[0] = 2.0
    thread.outcomes = [duplicate]
    with pytest.raises(asyncpg.UniqueViolationError):
        await state.call(_noop)
    assert state.available


async def test_a_call_older_than_the_last_change_does_not_flap_the_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    state = Availability(FakeThread(), clock=lambda: now[0])  # type: ignore[arg-type]
    now[0] = 1.0
    state.failed(OSError("refused"), started=1.0)  # down at 1.0
    state.answered(started=0.5)  # a call that began before the outage: says nothing
    assert not state.available
    now[0] = 3.0
    state.answered(started=2.0)  # back at 3.0
    state.failed(OSError("refused"), started=2.5)  # began while still down
    assert state.available
    assert len(caplog.records) == 2
