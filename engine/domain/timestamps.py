"""``utcnow``, the engine's one clock for stored times (aware, UTC); and Notify's wire
timestamp (its DATETIME_FORMAT, ``%Y-%m-%dT%H:%M:%S.%fZ``): always UTC,
always six fractional digits. Used by the v2 responses and the status callbacks alike.

A naive datetime is taken to be UTC already (the store only returns aware ones).
``isoformat`` rather than ``strftime``: the same text at a fraction of the cost, and it
is formatted once per notification on the hot path (every callback).
"""

from __future__ import annotations

import datetime as dt


def format_ts(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
