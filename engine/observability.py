"""What the engine measures about itself beyond single call sites.

- ``observe_changes``: status transitions, and the pipeline latencies SREs alert on
  (created -> sent, created -> delivered) per channel and lane, from committed changes.
- ``watch_loop_lag``: a trio task that sleeps a fixed interval and records how late it
  wakes up. A busy or blocked event loop shows here before it shows anywhere else.
- ``MetricsApp``: a tiny ASGI app serving only ``/metrics`` and ``/_status`` on a
  per-process port (``NOTIFY_METRICS_PORT``), so that with several engine processes
  sharing the API port (SO_REUSEPORT) each one is still scraped as its own target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from engine.domain import statuses as st
from engine.metrics import (
    EVENT_LOOP_LAG,
    STATUS_TRANSITIONS,
    TIME_TO_DELIVERED,
    TIME_TO_SENT,
    labelled,
)

if TYPE_CHECKING:
    from engine.http1.asgi import Receive, Scope, Send
    from engine.store.notifications import StatusChange

_HANDED_OVER = frozenset({st.SENDING, st.SENT, st.PENDING})


def observe_changes(changes: Sequence[StatusChange]) -> None:
    for change in changes:
        if change.status == change.previous_status:
            continue
        labelled(STATUS_TRANSITIONS, change.notification_type, change.status).inc()
        if change.age_s is None:
            continue
        age = max(change.age_s, 0.0)
        if change.status in _HANDED_OVER and change.previous_status == st.CREATED:
            labelled(TIME_TO_SENT, change.notification_type, change.process_type).observe(age)
        elif change.status == st.DELIVERED:
            labelled(TIME_TO_DELIVERED, change.notification_type, change.process_type).observe(age)


async def watch_loop_lag(
    *, interval: float = 0.25, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    task_status.started()
    while True:
        planned = trio.current_time() + interval
        await trio.sleep_until(planned)
        EVENT_LOOP_LAG.observe(max(trio.current_time() - planned, 0.0))


class MetricsApp:
    """ASGI app for the per-process metrics port."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/metrics":
            status, body, ctype = 200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST.encode()
        elif scope["path"] == "/_status":
            status, body, ctype = 200, b'{"status":"ok"}', b"application/json"
        else:
            status, body, ctype = 404, b"", b"text/plain"
        headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
