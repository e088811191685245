"""Command line: ``notify-engine serve | migrate | demo | admin ... | data reencrypt | db``
(``python -m engine`` is the same).

``serve`` and ``demo`` need no setup: without DATABASE_URL an embedded PostgreSQL starts in
NOTIFY_DATA_DIR, and a missing NOTIFY_SECRET_KEY / NOTIFY_ADMIN_TOKEN is generated once
into that folder (mode 0600) so restarts keep decrypting stored keys.

``data reencrypt`` re-seals, in bounded batches, every personal value not sealed with the
first key of NOTIFY_DATA_KEYS (legacy clear rows included); safe while engines run and in
several processes at once (``engine.store.sealing``).

Without DATABASE_URL the embedded PostgreSQL (``engine.store.embedded``) runs in
NOTIFY_DATA_DIR/pg: ``serve`` / ``demo`` stop it when they stop, unless
NOTIFY_EMBEDDED_KEEP_RUNNING=true; ``migrate`` / ``data`` stop it only if they started
it; ``db status`` / ``db stop`` look at it and stop it.

Start-up mistakes are one line on stderr with an exit code of their own
(``engine.startup``: 2 configuration, 3 a port, 4 the database); ``serve`` / ``demo`` log
``stopped`` (with the exit code) as their very last line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import trio

from engine.config import ConfigError, Settings, load_settings
from engine.crypto import SecretBox, new_secret_key
from engine.logs import configure_logging
from engine.startup import EXIT_CONFIG, find_startup_error, listen_error

log = logging.getLogger("engine")


def _persisted_secret(data_dir: str, name: str, created: list[str]) -> str:
    path = Path(data_dir) / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    created.append(str(path.absolute()))
    value = new_secret_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


def settings_with_secrets(created: list[str] | None = None) -> Settings:
    """Settings, with a missing secret key / admin token generated once into the data
    folder; the paths of new files are appended to ``created`` (logged at start)."""
    created = [] if created is None else created
    settings = load_settings()
    overrides: dict[str, Any] = {}
    if not settings.secret_key:
        overrides["secret_key"] = _persisted_secret(settings.data_dir, "secret_key", created)
    if not settings.admin_token:
        overrides["admin_token"] = _persisted_secret(settings.data_dir, "admin_token", created)
    return load_settings(**overrides) if overrides else settings


async def run_server(settings: Settings, *, on_ready: Any = None) -> None:
    from engine.api.app import EngineApp, server_error_body
    from engine.console.app import with_console
    from engine.gc_policy import tune_for_serving
    from engine.http1.server import ServerLimits, ServerStats, serve
    from engine.metrics import OPEN_CONNECTIONS
    from engine.observability import MetricsApp
    from engine.runtime import open_engine
    from engine.workers import is_worker_child, watch_parent

    box = SecretBox(settings.secret_key)
    limits = ServerLimits(
        max_body_bytes=settings.max_body_bytes,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        keepalive_timeout=settings.keepalive_timeout,
        max_connections=settings.max_connections,
        drain_seconds=settings.drain_seconds,
    )
    async with open_engine(settings, box) as engine:
        shutdown = trio.Event()
        stats = ServerStats()
        OPEN_CONNECTIONS.set_function(lambda: stats.open_connections)
        async with trio.open_nursery() as nursery:
            watchers = [_watch_signals] + ([watch_parent] if is_worker_child() else [])
            nursery.start_soon(_watch_for_shutdown, shutdown, watchers)
            deps = engine.api_deps()
            separate_admin = settings.admin_port is not None
            port = await _listen(
                nursery,
                partial(
                    serve,
                    # Issue 27: the web console under /console, on the public listener.
                    with_console(EngineApp(deps, "public" if separate_admin else "all"), deps),
                    limits=limits,
                    shutdown=shutdown,
                    reuse_port=settings.workers > 1,
                    stats=stats,
                    error_body=server_error_body,
                ),
                "NOTIFY_PORT",
                settings.host,
                settings.port,
            )
            admin_port = None
            if settings.admin_port is not None:
                # /admin only here (e.g. loopback or an internal network), never on `port`.
                admin_port = await _listen(
                    nursery,
                    partial(
                        serve,
                        EngineApp(deps, "admin"),
                        limits=limits,
                        shutdown=shutdown,
                        reuse_port=settings.workers > 1,
                        error_body=server_error_body,
                    ),
                    "NOTIFY_ADMIN_PORT",
                    settings.admin_host or settings.host,
                    settings.admin_port,
                )
            if settings.metrics_port:
                # This process's own metrics, whatever process the shared API port reaches.
                await _listen(
                    nursery,
                    partial(serve, MetricsApp(), shutdown=shutdown, error_body=server_error_body),
                    "NOTIFY_METRICS_PORT",
                    settings.host,
                    settings.metrics_port,
                )
            tune_for_serving(settings.gc_young_threshold)
            log.info("listening", extra={"host": settings.host, "port": port})
            if admin_port is not None:
                host = settings.admin_host or settings.host
                log.info("admin listening", extra={"host": host, "port": admin_port})
            if on_ready is not None:
                await on_ready(engine, port)
            await shutdown.wait()
            log.info("draining")
            # serve() returns once drained; then stop watching signals.
            nursery.cancel_scope.deadline = trio.current_time() + settings.drain_seconds + 1


async def _listen(nursery: trio.Nursery, serve: Any, variable: str, host: str, port: int) -> int:
    """Start one listener; a port that cannot be bound is one line naming it (exit 3)."""
    try:
        bound: int = await nursery.start(partial(serve, host=host, port=port))
    except OSError as exc:
        raise listen_error(exc, variable=variable, host=host, port=port) from None
    return bound


async def _watch_for_shutdown(
    shutdown: trio.Event, watchers: Sequence[Callable[[trio.Event], Awaitable[None]]]
) -> None:
    """Run every watcher (each sets ``shutdown`` on its cause) until one of them does."""
    async with trio.open_nursery() as nursery:
        for watch in watchers:
            nursery.start_soon(watch, shutdown)
        await shutdown.wait()
        nursery.cancel_scope.cancel()
    # Draining (bounded by NOTIFY_DRAIN_SECONDS): a repeated stop signal must not cut it
    # short, and repeats are normal: systemd signals the whole cgroup while the
    # NOTIFY_WORKERS parent forwards its own, and a worker's parent-death signal follows
    # the EOF of its parent's pipe.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


async def _watch_signals(shutdown: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            shutdown.set()
            return


async def run_migrate(settings: Settings) -> list[int]:
    from engine.store.store import Store

    dsn = settings.database_url
    if not dsn:
        from engine.store.embedded import start_embedded

        dsn = await trio.to_thread.run_sync(start_embedded, settings.data_dir)
    async with Store.open(dsn) as store:
        return await store.migrate()


async def run_reencrypt(settings: Settings, *, window: int) -> dict[str, Any]:
    from engine.crypto import DataKeys
    from engine.store.store import Store

    dsn = settings.database_url
    if not dsn:
        from engine.store.embedded import start_embedded

        dsn = await trio.to_thread.run_sync(start_embedded, settings.data_dir)
    keys = DataKeys.from_settings(settings.secret_key, settings.data_keys)
    async with Store.open(dsn, data_keys=keys) as store:
        result = await store.reencrypt.run(window=window)
    return {
        "write_key": keys.write_id,
        "resealed": result.resealed,
        "remaining": result.remaining,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="notify-engine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the engine (API, actors, providers)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    sub.add_parser("demo", help="serve, with a demo service, templates and key printed")
    admin_parser = sub.add_parser("admin", help="call the admin API of a running engine")
    from engine.admin_cli import add_arguments

    add_arguments(admin_parser)
    data_parser = sub.add_parser("data", help="personal data at rest")
    data_sub = data_parser.add_subparsers(dest="data_command", required=True)
    reencrypt = data_sub.add_parser(
        "reencrypt", help="re-seal every personal value with the first NOTIFY_DATA_KEYS key"
    )
    reencrypt.add_argument("--window", type=int, default=1000, help="rows per transaction")
    db_parser = sub.add_parser("db", help="the embedded PostgreSQL of NOTIFY_DATA_DIR")
    db_sub = db_parser.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("status", help="print whether it runs (exit 0 running, 1 stopped)")
    db_sub.add_parser("stop", help="stop it (a fast shutdown: sessions are cut)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    created: list[str] = []
    try:
        # The admin and db commands only read; they must not generate secrets for an engine.
        if args.command in ("admin", "db"):
            settings = load_settings()
        else:
            settings = settings_with_secrets(created)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
    configure_logging(settings.log_level)
    for path in created:
        log.info("generated a secret (mode 0600)", extra={"path": path})
    if args.command == "admin":
        from engine.admin_cli import run_admin

        raise SystemExit(run_admin(args, settings))
    if args.command == "db":
        raise SystemExit(_run_db(args.db_command, settings))
    serving = args.command in ("serve", "demo")
    embedded = None
    stop_embedded = False
    code = 0
    try:
        if not settings.database_url and not _is_worker_child():
            from engine.store.embedded import Embedded

            embedded = Embedded(settings.data_dir)
            # The engine stops the server it runs on unless told to keep it warm (also
            # when interrupted while starting it); the one-shot commands stop only a
            # server they started (an engine may be using it).
            stop_embedded = serving and not settings.embedded_keep_running
            # While pg_ctl starts the server (a subprocess: the GIL is free), import what
            # serving needs (~1 s of CPU) instead of after it: a faster restart.
            preimport = threading.Thread(target=_import_for_serving, daemon=True)
            if serving:
                preimport.start()
            dsn, started = embedded.start()
            if serving:
                preimport.join()
            stop_embedded = stop_embedded or (started and not serving)
            settings = msgspec.structs.replace(settings, database_url=dsn)
            os.environ["DATABASE_URL"] = dsn  # NOTIFY_WORKERS children use the same server
        code = _run(args, settings)
    except KeyboardInterrupt:
        code = 130  # Ctrl-C before the engine was serving (e.g. during migrations)
    except BaseException as exc:
        problem = find_startup_error(exc)
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        code = problem.exit_code
    finally:
        if embedded is not None and stop_embedded:
            _stop_embedded(embedded)
    if serving:
        log.info("stopped", extra={"exit_code": code})
    raise SystemExit(code)


def _import_for_serving() -> None:
    import engine.api.app
    import engine.demo
    import engine.runtime  # noqa: F401


def _is_worker_child() -> bool:
    from engine.workers import is_worker_child

    return is_worker_child()


def _stop_embedded(embedded: Any) -> None:
    from engine.store.embedded import EmbeddedError

    try:
        embedded.stop()
    except EmbeddedError as exc:
        print(f"error: {exc}", file=sys.stderr)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        from engine.workers import die_with_parent, is_worker_child, run_workers

        if is_worker_child():
            die_with_parent()
        elif settings.workers > 1:
            return run_workers(settings)
        trio.run(run_server, settings)
    elif args.command == "migrate":
        applied = trio.run(run_migrate, settings)
        print(json.dumps({"applied": applied}))
    elif args.command == "demo":
        from engine.demo import print_demo

        trio.run(partial(run_server, settings, on_ready=print_demo))
    elif args.command == "data":
        result = trio.run(partial(run_reencrypt, settings, window=max(1, args.window)))
        print(json.dumps(result))
        return 1 if any(result["remaining"].values()) else 0
    return 0


def _run_db(command: str, settings: Settings) -> int:
    """``db status`` / ``db stop`` of NOTIFY_DATA_DIR's embedded server (one JSON line)."""
    from engine.store.embedded import Embedded, EmbeddedError

    embedded = Embedded(settings.data_dir)
    if command == "stop":
        try:
            stopped = embedded.stop()
        except EmbeddedError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 4
        print(json.dumps({"pgdata": str(embedded.pgdata), "stopped": stopped}))
        return 0
    status = embedded.status()
    shown: dict[str, Any] = {"pgdata": str(status.pgdata), "running": status.running}
    if status.running:
        shown |= {"pid": status.pid, "database_url": status.dsn()}
    print(json.dumps(shown))
    return 0 if status.running else 1
