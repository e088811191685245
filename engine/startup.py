"""One-line start-up errors and the exit codes of ``notify-engine`` (README "Exit codes").

Rules:
- A usual mistake at start (a busy port, an unreachable database, a secret key that does
  not open this database's keys, an embedded PostgreSQL that cannot start) ends the
  process with ONE line on stderr naming what to change (the port and its variable, the
  database and DATABASE_URL, NOTIFY_SECRET_KEY) and its own exit code; never a traceback.
  Anything else keeps its traceback (exit 1): it is a bug to report.
- Exit codes:
    0  stopped cleanly (SIGTERM / SIGINT, drained)
    1  an unexpected error (a traceback is printed), or a NOTIFY_WORKERS worker died
    2  configuration: a bad variable, a NOTIFY_SECRET_KEY that does not open the API keys
       stored in the database (e.g. a second node started without the first one's key)
    3  cannot listen: a port in use or not allowed
    4  database: unreachable or refusing us, or the embedded PostgreSQL cannot start
- DSNs are shown without their password.
"""

from __future__ import annotations

import errno
from urllib.parse import urlsplit

EXIT_CONFIG = 2
EXIT_LISTEN = 3
EXIT_DATABASE = 4


class StartupError(Exception):
    """A start-up failure a person fixes; ``str()`` is the one line to print."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def listen_error(exc: OSError, *, variable: str, host: str, port: int) -> StartupError:
    if exc.errno == errno.EADDRINUSE:
        why = "is already in use (another engine, or another program)"
    elif exc.errno == errno.EACCES:
        why = "is not allowed for this user (ports below 1024 need privileges)"
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = "names an address this machine does not have"
    else:
        why = f"cannot be listened on ({exc.strerror or exc})"
    return StartupError(
        f"cannot listen on {host}:{port}: port {port} {why}; set {variable} to another port"
        " (or stop what holds it)",
        EXIT_LISTEN,
    )


def database_error(dsn: str, exc: BaseException) -> StartupError:
    return StartupError(
        f"cannot reach the database {safe_dsn(dsn)}: {_reason(exc)}; check DATABASE_URL"
        " and that PostgreSQL is running and accepts this user",
        EXIT_DATABASE,
    )


def safe_dsn(dsn: str) -> str:
    """``postgresql://user@host:port/db``: the DSN without its password."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
        socket = f" ({parts.query})" if parts.query and not host else ""
    except ValueError:
        return "(an unreadable DATABASE_URL)"
    return f"{parts.scheme}://{user}{host}{port}{parts.path}{socket}"


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def find_startup_error(exc: BaseException) -> StartupError | None:
    """The StartupError in ``exc`` (a nursery's group included), or None. The embedded
    database's own error counts as one (exit 4)."""
    from engine.store.embedded import EmbeddedError

    if isinstance(exc, StartupError):
        return exc
    if isinstance(exc, EmbeddedError):
        return StartupError(str(exc), EXIT_DATABASE)
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_startup_error(inner)
            if found is not None:
                return found
    return None
