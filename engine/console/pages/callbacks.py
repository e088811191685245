"""A service's API integration (GC's page of that name; the ``manage_api_keys`` role): the
delivery-receipt and received-text callbacks, their state, a response-time test, resume
and replay.

Rules:
- Setting a callback is the admin API's code (``engine.api.admin.configure_callback``):
  the same URL rules (https, public addresses, checked again at each connection:
  ``engine.domain.callback_urls``), the same sealing of the bearer token and signing
  secret. Neither secret is ever shown back: the page says whether one is set.
- "Test response time" is the callbacks' own health check
  (``CallbackManager.health_check``): the same HTTP client and address checks as every
  callback, the same headers; the page shows the time measured or why it failed, in
  words.
- The state is the admin API's (``store.callbacks.state``): suspended since when and why,
  the callbacks waiting and the oldest, the last success and failure. Resume and replay
  are the admin API's calls.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import msgspec

from engine.api.admin import CallbackConfig, configure_callback
from engine.api.admin_callbacks import REPLAY_DAYS, REPLAY_LIMIT, replay_range_ok
from engine.api.errors import ValidationError
from engine.api.http import Response
from engine.api.router import Router
from engine.console import web
from engine.console.app import PREFIX, Ctx, not_found, service_page
from engine.console.pages.api_keys import service_zone, when
from engine.domain import callbacks as cb

if TYPE_CHECKING:
    from engine.console.pages import Wrap
    from engine.store.rows import Row

KINDS = ("delivery_status", "inbound_sms")


def add_routes(r: Router, wrap: Wrap) -> None:
    base = f"{PREFIX}/services/{{service_id}}/callbacks"
    r.add("GET", base, wrap(callbacks))
    r.add("POST", f"{base}/replay", wrap(replay))
    r.add("POST", f"{base}/{{kind}}", wrap(save))
    r.add("POST", f"{base}/{{kind}}/test", wrap(test))
    r.add("POST", f"{base}/{{kind}}/resume", wrap(resume))


def test_words(c: Ctx, result: dict[str, Any]) -> tuple[bool, str]:
    """A health check's answer in words: (a success?, the sentence)."""
    ms = c.t.n(math.ceil(result["response_time"] * 1000))  # 0.3 ms: "1 ms", not "0 ms"
    status = result["status_code"]
    if status is None:
        key = "cb_test_timeout" if result.get("error") == "timeout" else "cb_test_connection"
        return False, c.t(key, ms=ms)
    if cb.classify(status) == "ok":
        return True, c.t("cb_test_ok", status=status, ms=ms)
    return False, c.t("cb_test_refused", status=status, ms=ms)


async def _page(c: Ctx, service: Row, status: int = 200, **extra: Any) -> Response:
    rows = {r["callback_type"]: r for r in await c.deps.store.callbacks.state(service["id"], KINDS)}
    time_zone = await service_zone(c, service)
    states = {
        kind: None if row is None else {
            "url": row["url"], "signed": row["signed"],
            "suspended": row["suspended_at"] is not None,
            "since": when(row["suspended_at"], time_zone),
            "reason": row["suspended_reason"] or "",
            "owed": row["owed"], "oldest": when(row["oldest_owed_at"], time_zone),
            "last_success": when(row["last_success_at"], time_zone),
            "last_failure": when(row["last_failure_at"], time_zone),
            "last_failure_why": row["last_failure"] or "",
        }
        for kind in KINDS
        for row in [rows.get(kind)]
    }  # fmt: skip
    context: dict[str, Any] = {"errors": {}, "form": {}, "tested": None, "notice": None,
                               "replay_errors": {}, "replay_form": {}}  # fmt: skip
    context.update(extra)
    notice = c.request.query().get("done", [""])[0]
    if context["notice"] is None and notice in ("saved", "resumed"):
        context["notice"] = c.t(f"cb_{notice}")
    return c.render(status, "callbacks.html", service=service, section="integration",
                    kinds=KINDS, states=states, replay_days=REPLAY_DAYS,
                    **context)  # fmt: skip


def _kind(c: Ctx) -> str | None:
    kind = c.request.path_params["kind"]
    return kind if kind in KINDS else None


@service_page("manage_api_keys")
async def callbacks(c: Ctx, service: Row) -> Response:
    return await _page(c, service)


@service_page("manage_api_keys")
async def save(c: Ctx, service: Row) -> Response:
    kind = _kind(c)
    if kind is None:
        return not_found(c)
    fields = web.form(c.request)
    url = fields.get("url", "").strip()
    token = fields.get("bearer_token", "")
    signing = fields.get("signing_secret", "") or None
    try:
        config = msgspec.convert({"url": url, "bearer_token": token, "callback_type": kind,
                                  "signing_secret": signing}, CallbackConfig)  # fmt: skip
        await configure_callback(c.deps, service["id"], config)
    except ValidationError as exc:
        message = exc.messages[0]
        field, words = (
            ("bearer_token", c.t("cb_token_short")) if message.startswith("bearer_token")
            else ("url", c.t("cb_url_refused", reason=message))
        )  # fmt: skip
        return await _page(c, service, 400, errors={kind: {field: words}},
                           form={kind: {"url": url}})  # fmt: skip
    return c.redirect(f"{PREFIX}/services/{service['id']}/callbacks?done=saved")


@service_page("manage_api_keys")
async def test(c: Ctx, service: Row) -> Response:
    kind = _kind(c)
    if kind is None:
        return not_found(c)
    result = await c.deps.callbacks.health_check((service["id"], kind))
    if result is None:
        return not_found(c)
    ok, words = test_words(c, result)
    return await _page(c, service, tested={"kind": kind, "ok": ok, "words": words})


@service_page("manage_api_keys")
async def resume(c: Ctx, service: Row) -> Response:
    kind = _kind(c)
    if kind is None:
        return not_found(c)
    if not await c.deps.store.callbacks.configured_types(service["id"], [kind]):
        return not_found(c)
    await c.deps.callbacks.resume(service["id"], [kind])
    c.deps.service_changed(service["id"])
    return c.redirect(f"{PREFIX}/services/{service['id']}/callbacks?done=resumed")


def _utc(text: str) -> dt.datetime | None:
    try:
        at = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at


@service_page("manage_api_keys")
async def replay(c: Ctx, service: Row) -> Response:
    fields = web.form(c.request)
    start, end = _utc(fields.get("start", "")), _utc(fields.get("end", ""))
    typed = {"start": fields.get("start", ""), "end": fields.get("end", "")}
    if not await c.deps.store.callbacks.state(service["id"], ("delivery_status",)):
        return await _page(c, service, 400, replay_errors={"start": c.t("cb_no_delivery")},
                           replay_form=typed)  # fmt: skip
    if start is None or end is None or not replay_range_ok(start, end):
        field = "start" if start is None else "end"
        refused = {field: c.t("cb_replay_bad", days=REPLAY_DAYS)}
        return await _page(c, service, 400, replay_form=typed, replay_errors=refused)
    queued = await c.deps.store.callbacks.replay(service["id"], start, end, limit=REPLAY_LIMIT)
    return await _page(c, service, notice=c.t("cb_replayed", count=c.t.n(queued)))
