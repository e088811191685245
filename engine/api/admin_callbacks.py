"""Admin API: what a service team needs to see and do about its callbacks (issue 23).

- ``GET /admin/services/{id}/callback[?callback_type=...]``: each endpoint's configuration
  without secrets (the URL, whether requests are signed, the statuses it wants), its
  suspension (since when, why), its last success and last failure, and what it is owed
  (how many callbacks, the oldest one's age). 404 when nothing is configured.
- ``POST /admin/services/{id}/callback/replay`` ``{"start": ..., "end": ...}``: queue again
  the delivery-status callbacks of the notifications created in [start, end), for a
  receiver that lost data; at most ``REPLAY_LIMIT`` a call, a range of at most
  ``REPLAY_DAYS`` days (notifications older than the service's retention are gone).
- ``PUT /admin/services/{id}/callback/hosts`` ``{"hosts": [...]}``: the service's
  allowlist for per-send ``callback_url`` (issue 23): host names or IP addresses, lower
  case, exact (no wildcards, any port), at most ``callback_urls.MAX_HOSTS``; each is
  resolved now and refused under the endpoint URL's rules (``_callback_url_problem``:
  loopback, private, link-local, metadata addresses unless the deployment allows them).
  An empty list turns per-send URLs off. The GET shows the list (``callback_hosts``) and
  each per-send origin's state (``origins``: suspension, last success and failure, owed).
- ``POST /admin/services/{id}/callback/resume`` ``{"origin": "https://host:port"}``: lift
  one per-send origin's suspension (without ``origin``: the endpoints', in
  ``engine.api.admin``).
The rest of the callback administration (set, resume, test) is in ``engine.api.admin``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import msgspec

from engine.api.admin import _callback_url_problem, _decode, _service_id
from engine.api.errors import NotFoundError, ValidationError
from engine.api.http import Request, Response, json_response
from engine.domain import callback_urls
from engine.domain.timestamps import format_ts

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps

KINDS = ("complaint", "delivery_status", "inbound_sms")
REPLAY_LIMIT = 100_000
REPLAY_DAYS = 31


class ReplayRange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    start: dt.datetime
    end: dt.datetime


class CallbackHosts(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    hosts: list[str]


class OriginTarget(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    origin: str


def replay_range_ok(start: dt.datetime, end: dt.datetime) -> bool:
    """A replay's range: ``end`` after ``start``, at most ``REPLAY_DAYS`` days later."""
    return start < end <= start + dt.timedelta(days=REPLAY_DAYS)


def _kinds(request: Request) -> tuple[str, ...]:
    asked = request.query().get("callback_type")
    if not asked:
        return KINDS
    if asked[0] not in KINDS:
        raise ValidationError([f"callback_type must be one of {', '.join(KINDS)}"])
    return (asked[0],)


async def get_callback_state(deps: ApiDeps, request: Request) -> Response:
    service_id = await _service_id(deps, request)
    rows = await deps.store.callbacks.state(service_id, _kinds(request))
    hosts = await deps.store.callbacks.hosts(service_id)
    if not rows and not hosts:
        raise NotFoundError("No callback configured")
    now = dt.datetime.now(dt.UTC)
    callbacks: list[dict[str, Any]] = [
        {
            "callback_type": r["callback_type"],
            "url": r["url"],
            "signed": r["signed"],
            "statuses": r["statuses"],  # None: every callback status
            "suspended": r["suspended_at"] is not None,
            "suspended_at": format_ts(r["suspended_at"]),
            "suspended_reason": r["suspended_reason"],
            "last_success_at": format_ts(r["last_success_at"]),
            "last_failure_at": format_ts(r["last_failure_at"]),
            "last_failure": r["last_failure"],
            "owed": r["owed"],
            "oldest_owed_at": format_ts(r["oldest_owed_at"]),
            "oldest_owed_age_seconds": (
                None if r["oldest_owed_at"] is None
                else round((now - r["oldest_owed_at"]).total_seconds(), 1)
            ),
            "updated_at": format_ts(r["updated_at"]),
        }
        for r in rows
    ]  # fmt: skip
    origins = [
        {
            "origin": r["origin"],
            "suspended": r["suspended_at"] is not None,
            "suspended_at": format_ts(r["suspended_at"]),
            "suspended_reason": r["suspended_reason"],
            "last_success_at": format_ts(r["last_success_at"]),
            "last_failure_at": format_ts(r["last_failure_at"]),
            "last_failure": r["last_failure"],
            "owed": r["owed"],
            "oldest_owed_at": format_ts(r["oldest_owed_at"]),
        }
        for r in await deps.store.callbacks.origins(service_id)
    ]
    return json_response(200, {
        "service_id": str(service_id), "callbacks": callbacks, "callback_hosts": hosts,
        "origins": origins,
    })  # fmt: skip


async def set_callback_hosts(deps: ApiDeps, request: Request) -> Response:
    service_id = await _service_id(deps, request)
    body: CallbackHosts = _decode(request, CallbackHosts)
    if len(body.hosts) > callback_urls.MAX_HOSTS:
        raise ValidationError([f"callback_hosts must have at most {callback_urls.MAX_HOSTS} hosts"])
    hosts = sorted({callback_urls.normal_host(h) for h in body.hosts})
    for host in hosts:
        problem = callback_urls.host_message(host)
        if problem is None:
            literal = f"[{host}]" if ":" in host else host
            problem = await _callback_url_problem(deps, f"https://{literal}/")
        if problem is not None:
            raise ValidationError([problem])
    await deps.store.callbacks.set_hosts(service_id, hosts)
    deps.service_changed(service_id)
    return json_response(200, {"service_id": str(service_id), "callback_hosts": hosts})


async def replay_callbacks(deps: ApiDeps, request: Request) -> Response:
    service_id = await _service_id(deps, request)
    body: ReplayRange = _decode(request, ReplayRange)
    if body.start.tzinfo is None or body.end.tzinfo is None:
        raise ValidationError(["start and end must have a time zone (e.g. 2026-12-06T00:00:00Z)"])
    if not replay_range_ok(body.start, body.end):
        raise ValidationError([f"end must be after start, within {REPLAY_DAYS} days"])
    if not await deps.store.callbacks.state(service_id, ("delivery_status",)):
        raise NotFoundError("No callback configured")
    queued = await deps.store.callbacks.replay(service_id, body.start, body.end, limit=REPLAY_LIMIT)
    return json_response(200, {
        "service_id": str(service_id), "queued": queued, "limit_reached": queued >= REPLAY_LIMIT,
    })  # fmt: skip
