"""Command line: ``python -m engine serve | migrate | demo | admin ... | data reencrypt``.

``serve`` and ``demo`` need no setup: without DATABASE_URL an embedded PostgreSQL starts in
NOTIFY_DATA_DIR, and a missing NOTIFY_SECRET_KEY / NOTIFY_ADMIN_TOKEN is generated once
into that folder (mode 0600) so restarts keep decrypting stored keys.

``data reencrypt`` re-seals, in bounded batches, every personal value not sealed with the
first key of NOTIFY_DATA_KEYS (legacy clear rows included); safe while engines run and in
several processes at once (``engine.store.sealing``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import trio

from engine.config import ConfigError, Settings, load_settings
from engine.crypto import SecretBox, new_secret_key
from engine.logs import configure_logging

log = logging.getLogger("engine")


def _persisted_secret(data_dir: str, name: str) -> str:
    path = Path(data_dir) / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = new_secret_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


def settings_with_secrets() -> Settings:
    settings = load_settings()
    overrides: dict[str, Any] = {}
    if not settings.secret_key:
        overrides["secret_key"] = _persisted_secret(settings.data_dir, "secret_key")
    if not settings.admin_token:
        overrides["admin_token"] = _persisted_secret(settings.data_dir, "admin_token")
    return load_settings(**overrides) if overrides else settings


async def run_server(settings: Settings, *, on_ready: Any = None) -> None:
    from engine.api.app import EngineApp, server_error_body
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
            port = await nursery.start(
                partial(
                    serve,
                    EngineApp(deps, "public" if separate_admin else "all"),
                    host=settings.host,
                    port=settings.port,
                    limits=limits,
                    shutdown=shutdown,
                    reuse_port=settings.workers > 1,
                    stats=stats,
                    error_body=server_error_body,
                )
            )
            admin_port = None
            if settings.admin_port is not None:
                # /admin only here (e.g. loopback or an internal network), never on `port`.
                admin_port = await nursery.start(
                    partial(
                        serve,
                        EngineApp(deps, "admin"),
                        host=settings.admin_host or settings.host,
                        port=settings.admin_port,
                        limits=limits,
                        shutdown=shutdown,
                        reuse_port=settings.workers > 1,
                        error_body=server_error_body,
                    )
                )
            if settings.metrics_port:
                # This process's own metrics, whatever process the shared API port reaches.
                await nursery.start(
                    partial(
                        serve,
                        MetricsApp(),
                        host=settings.host,
                        port=settings.metrics_port,
                        shutdown=shutdown,
                        error_body=server_error_body,
                    )
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
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
    args = parser.parse_args(argv)
    try:
        # The admin CLI only reads the token; it must not generate secrets for an engine.
        settings = load_settings() if args.command == "admin" else settings_with_secrets()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log_level)
    if args.command == "serve":
        from engine.workers import die_with_parent, is_worker_child, run_workers

        if is_worker_child():
            die_with_parent()
        elif settings.workers > 1:
            raise SystemExit(run_workers(settings))
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
        raise SystemExit(1 if any(result["remaining"].values()) else 0)
    elif args.command == "admin":
        from engine.admin_cli import run_admin

        raise SystemExit(run_admin(args, settings))
