"""A CSV of recipients sent as a bulk job from the console (the ``send`` role), and the
job's progress (the ``view`` role).

Rules:
- The upload is ``multipart/form-data`` (``engine.console.web.read_form``), the one console
  route whose body may be as large as the bulk API's (``app.LARGE_BODY_ROUTES``).
- The file is checked by the bulk API's own seam (``engine.api.v2.bulk.prepare``: the
  same sheet, header, limit, trial and row rules, sending as ``engine.api.auth.CONSOLE``);
  a sheet with bad rows is answered with a table of every bad row (its line in the file,
  the column, the problem, in the reader's language) and nothing is kept or sent.
- A sheet that passed is kept sealed, bound to the session, for ``KEEP_MINUTES``
  (``store.console_uploads``), until the member confirms: the send takes it (deleted in
  the same statement) and submits it through ``engine.api.v2.bulk.submit``, which checks
  it all again and writes the job. Nothing is sent before that confirmation.
- The job page shows the counts per status of the job's notifications (the statistics the
  bulk GET reads), refreshed by a link, never by a meta refresh.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

import msgspec

from engine.api.auth import CONSOLE
from engine.api.errors import ApiError
from engine.api.limits import check_body
from engine.api.router import Router
from engine.api.v2 import bulk
from engine.console import app
from engine.console.app import PREFIX, Ctx, not_found, service_page
from engine.console.pages.send import names_of, problems, sendable
from engine.domain import console_sending, csv_rows
from engine.domain import statuses as st
from engine.domain.errors import DomainError

if TYPE_CHECKING:
    from engine.api.http import Response
    from engine.console.pages import Wrap
    from engine.services import Template
    from engine.store.rows import Row

KEEP_MINUTES = 30
_PROBLEMS = {"Missing": "up_missing", "invalid recipient": "up_invalid_recipient",
             bulk.SMS_TOO_LONG: "up_too_long"}  # fmt: skip
_JOB_STATES = ("pending", "finished", "scheduled", "cancelled")


def add_routes(r: Router, wrap: Wrap) -> None:
    upload_path = f"{PREFIX}/services/{{service_id}}/send/{{template_id}}/upload"
    r.add("GET", upload_path, wrap(upload_form))
    r.add("POST", upload_path, wrap(upload))
    app.LARGE_BODY_ROUTES.add(upload_path)
    r.add("GET", f"{PREFIX}/services/{{service_id}}/uploads/{{upload_id}}", wrap(ready))
    r.add("POST", f"{PREFIX}/services/{{service_id}}/uploads/{{upload_id}}/send", wrap(send))
    r.add("GET", f"{PREFIX}/services/{{service_id}}/jobs/{{job_id}}", wrap(job))


def _page(c: Ctx, service: Row, template: Template, status: int, found: list[str],
          row_errors: list[tuple[int, str, str]]) -> Response:  # fmt: skip
    names = ", ".join(names_of(template)) or c.t("up_none")
    return c.render(status, "send_upload.html", service=service, section="send", tpl=template,
                    problems=found, row_errors=row_errors, names=names,
                    column=csv_rows.RECIPIENT_COLUMN[template.template_type])  # fmt: skip


def row_errors(c: Ctx, errors: list[csv_rows.RowError]) -> list[tuple[int, str, str]]:
    """(line in the file, column, problem in the reader's words) of every bad row."""
    return [(console_sending.file_line(e.row), header or "—",
             c.t(_PROBLEMS[problem]) if problem in _PROBLEMS else problem)
            for e in errors for header, problem in e.problems]  # fmt: skip


@service_page("send")
async def upload_form(c: Ctx, service: Row) -> Response:
    found = await sendable(c, service)
    if found is None:
        return not_found(c)
    return _page(c, service, found[1], 200, [], [])


@service_page("send")
async def upload(c: Ctx, service: Row) -> Response:
    found = await sendable(c, service)
    if found is None:
        return not_found(c)
    bundle, template = found
    name, content = c.files.get("file", ("", b""))  # parsed once, off the loop (app._wrap)
    if not content:
        return _page(c, service, template, 400, [c.t("up_no_file")], [])
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _page(c, service, template, 400, [c.t("up_not_text")], [])
    file_name = name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:200] or "upload.csv"
    body = bulk.PostBulkRequest(name=file_name, template_id=str(template.id), csv=text)
    try:
        check_body(msgspec.json.encode(body))  # as the bulk API refuses its body (U+0000)
        prepared = await bulk.prepare(c.deps, bundle, CONSOLE, body)
    except bulk.RowErrors as exc:
        summary = c.t("up_rows_bad", count=c.t.n(len(exc.errors)))
        return _page(c, service, template, 400, [summary], row_errors(c, exc.errors))
    except (ApiError, DomainError) as exc:
        return _page(c, service, template, 400, problems(c, exc), [])
    assert c.session_hash is not None
    upload_id = uuid.uuid4()
    await c.deps.store.console_uploads.keep(
        upload_id, session_hash=c.session_hash, service_id=service["id"],
        template_id=template.id, file_name=file_name, content=text,
        row_count=prepared.count, now=c.now,
        expires_at=c.now + dt.timedelta(minutes=KEEP_MINUTES),
    )  # fmt: skip
    return c.redirect(f"{PREFIX}/services/{service['id']}/uploads/{upload_id}")


def _upload_id(c: Ctx) -> uuid.UUID | None:
    try:
        return uuid.UUID(c.request.path_params["upload_id"])
    except ValueError:
        return None


@service_page("send")
async def ready(c: Ctx, service: Row) -> Response:
    upload_id = _upload_id(c)
    if upload_id is None or c.session_hash is None:
        return not_found(c)
    kept = await c.deps.store.console_uploads.peek(
        upload_id, session_hash=c.session_hash, service_id=service["id"], now=c.now
    )
    bundle = await c.deps.registry.get(service["id"])
    template = None if kept is None or bundle is None else bundle.templates.get(
        kept["template_id"])  # fmt: skip
    if kept is None or template is None:
        return c.render(404, "error.html", title=c.t("up_title"), message=c.t("up_gone"))
    return c.render(200, "send_ready.html", service=service, section="send", upload=kept,
                    tpl=template, problems=[])  # fmt: skip


@service_page("send")
async def send(c: Ctx, service: Row) -> Response:
    upload_id = _upload_id(c)
    if upload_id is None or c.session_hash is None:
        return not_found(c)
    kept = await c.deps.store.console_uploads.take(
        upload_id, session_hash=c.session_hash, service_id=service["id"], now=c.now
    )
    bundle = await c.deps.registry.get(service["id"])
    if kept is None or bundle is None:
        return c.render(404, "error.html", title=c.t("up_title"), message=c.t("up_gone"))
    body = bulk.PostBulkRequest(name=kept["file_name"], template_id=str(kept["template_id"]),
                                csv=kept["content"])  # fmt: skip
    template = bundle.templates.get(kept["template_id"])
    try:
        made = await bulk.submit(c.deps, bundle, CONSOLE, body)
    except (ApiError, DomainError) as exc:
        if template is None:
            return not_found(c)
        errors = row_errors(c, exc.errors) if isinstance(exc, bulk.RowErrors) else []
        return _page(c, service, template, 400, problems(c, exc), errors)
    return c.redirect(f"{PREFIX}/services/{service['id']}/jobs/{made.id}")


@service_page("view")
async def job(c: Ctx, service: Row) -> Response:
    try:
        job_id = uuid.UUID(c.request.path_params["job_id"])
    except ValueError:
        return not_found(c)
    row = await c.deps.store.jobs.get(service["id"], job_id)
    if row is None:
        return not_found(c)
    statistics = await c.deps.store.jobs.statistics(job_id)
    templates = await c.deps.store.templates.for_service(service["id"])
    template_name = next((t["name"] for t in templates if t["id"] == row["template_id"]), "")
    kind = next((t["template_type"] for t in templates if t["id"] == row["template_id"]), "email")
    counts: dict[str, int] = {}  # statuses a reader reads alike are counted together
    for status, n in statistics:
        label = st.status_description(status, kind, c.lang)
        counts[label] = counts.get(label, 0) + n
    state = row["job_status"]
    return c.render(200, "send_job.html", service=service, section="send", job=row,
                    template_name=template_name, counts=list(counts.items()),
                    job_state=c.t(f"job_{state}") if state in _JOB_STATES else state)  # fmt: skip
