"""The store's own errors, and which driver errors mean "the database is unreachable".

Rules:
- Every store call that fails because the database cannot be reached raises ONE error,
  ``DatabaseUnavailable`` (the driver's error is its ``__cause__``), whatever the driver
  said: connection refused, reset or closed, a socket that vanished with the server
  (``OSError``), a timeout of the database thread (``TimeoutError``), asyncpg's connection
  class (SQLSTATE 08) and the server's own "shutting down / starting up / too many
  connections" (57P01, 57P02, 57P03, 53300). Callers handle that one class: the API
  answers 503, actors back off (``engine.store.availability`` logs the state change).
- asyncpg's ``InternalClientError("cannot switch to state N; ...")`` is one too. A
  stopping server sends each connection an unsolicited FATAL (57P01), then closes it;
  asyncpg reads the message in one turn of its loop (an idle connection takes it as a
  protocol error and waits for a sync that never comes: state 2) and the close in a
  later one, and a statement issued in between fails with this error before anything
  is sent (tests/store/test_availability.py reproduces it with a terminated backend).
  Unclassified, it reached callers as an unexpected error (logged with a traceback)
  during PostgreSQL outages.
- Everything else passes unchanged. An error the server answered with (data errors,
  SQLSTATE 22 and 23; a cancelled statement, 57014) is not unavailability: the database
  is there and refused this statement.
- ``is_unavailability`` is a pure function of the exception (tested on its own).
"""

from __future__ import annotations

import asyncpg

# Server answers that mean "not serving now", beyond the connection class 08.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


# How long a loop that failed on an unreachable database waits before trying again: long
# enough that an outage costs a handful of calls a second, short enough to resume soon.
BACKOFF_S = 1.0


class DatabaseUnavailable(Exception):
    """The database could not be reached; the call may succeed if retried later."""


def only_unavailability(exc: BaseException) -> bool:
    """True when ``exc`` is ``DatabaseUnavailable``, or a group of nothing else (a nursery's)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(only_unavailability(e) for e in exc.exceptions)
    return isinstance(exc, DatabaseUnavailable)


def is_unavailability(exc: BaseException) -> bool:
    """True when ``exc`` says the database could not be reached (see the module rules)."""
    if isinstance(exc, DatabaseUnavailable | OSError):  # TimeoutError is an OSError
        return True
    if isinstance(exc, asyncpg.PostgresConnectionError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        return getattr(exc, "sqlstate", None) in _UNAVAILABLE_SQLSTATES
    if isinstance(exc, asyncpg.InternalClientError):
        return str(exc).startswith("cannot switch to state")  # see the module rules
    if isinstance(exc, asyncpg.InterfaceError):
        # "connection is closed", "connection was closed in the middle of operation"
        return "closed" in str(exc) and "pool" not in str(exc)
    return False
