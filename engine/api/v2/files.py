"""Files in personalisation (GC, contract section 1.10) and ``GET /d/{document_id}``.

Rules:
- A personalisation value that is an object is a file: ``{"file": <base64>, "filename":
  3..255 characters (required to attach), "sending_method": "attach" | "link"}``. Email
  only. At most ``ATTACHMENT_NUM_LIMIT`` files, each at most ``ATTACHMENT_SIZE_LIMIT``
  bytes once decoded. GC's messages, as ``ValidationError``.
- ``link``: the file is stored in ``documents`` and the placeholder becomes its download
  URL, served without authentication (the random document id is the secret) for
  ``LINK_DAYS`` days. ``attach``: stored the same way and attached to the email at send
  time; the placeholder shows the file name. The notification's stored personalisation
  holds the URL / file name, never the file.
- GOV.UK's form (what the python client's ``prepare_upload`` writes): a file object with
  ``confirm_email_before_download`` and ``retention_period`` keys (null allowed) needs no
  ``sending_method``: it is a link, as GOV.UK's files are. It means what GOV.UK means:
  ``confirm_email_before_download`` (default true) makes the download ask for the
  recipient's email address first (``GET /d/{id}`` is a form; ``POST /d/{id}`` with the
  address the email was sent to answers the file, any other address 403);
  ``retention_period`` ("N weeks", 1 to 78; default "26 weeks") is how long the file is
  kept. GOV.UK's messages for bad values. GC's form keeps GC's rules (no confirmation,
  ``LINK_DAYS``).
- Simulated recipients get the fake URL ``<base>d/test-document`` and nothing is stored.
- Expired files are refused at once and removed by ``store.documents.delete_expired``
  (recovery runs it as housekeeping every ``timeout_every``).
- Safe files (issue 25): an empty file is refused (400); the content must be of GC's
  types (``engine.domain.file_types``, by magic bytes: the name only chooses between
  what the content allows), else 400 ``Unsupported file type ...`` as GC answers. The
  stored MIME type is the detected one. Checks run in the order GC's do: the request's
  own errors (all of them, one ValidationError), then the type, then the scanner.
- Every file is virus scanned before its notification is sent (``engine.actors.scanner``);
  a deployment without a scanner refuses files (400) unless it opted out
  (NOTIFY_FILES_WITHOUT_SCAN), and then its files are marked ``unscanned``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import uuid
from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import msgspec

from engine.api.errors import BadRequestError, NotFoundError, ValidationError
from engine.api.http import Request, Response
from engine.api.i18n import choose, translate
from engine.domain import file_types
from engine.domain.notification import Attachment
from engine.store.documents import NewDocument

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps, ApiStore

ATTACHMENT_NUM_LIMIT = 10
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
LINK_DAYS = 7
METHODS = ("attach", "link")
GOVUK_KEYS = ("confirm_email_before_download", "retention_period")
GOVUK_RETENTION_WEEKS = 26
_WEEKS = re.compile(r"^(\d+) weeks?$")
WRONG_ADDRESS = "This is not the email address the file was sent to"
NO_SCANNER = "Files cannot be sent: this deployment has no virus scanner"


class FileUpload(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    filename: str | None
    sending_method: str
    content: bytes
    mime_type: str
    document_id: uuid.UUID
    confirm_email: bool = False
    keep_days: int = LINK_DAYS


def has_files(personalisation: Mapping[str, Any]) -> bool:
    return any(isinstance(v, dict) for v in personalisation.values())


def extract_files(personalisation: Mapping[str, Any], channel: str) -> list[FileUpload]:
    """Validate and decode every file value; raise GC's errors."""
    found = [(k, v) for k, v in personalisation.items() if isinstance(v, dict)]
    if not found:
        return []
    if channel != "email":
        raise BadRequestError("Can only send a file by email")
    errors: list[str] = []
    if len(found) > ATTACHMENT_NUM_LIMIT:
        errors.append(
            f"File number exceed allowed limits of {ATTACHMENT_NUM_LIMIT} with number of "
            f"{len(found)}."
        )
    files: list[FileUpload] = []
    for key, value in found:
        upload = _one_file(key, value, errors)
        if upload is not None:
            files.append(upload)
    if errors:
        raise ValidationError(errors)
    for f in files:
        if not file_types.allowed(f.mime_type):
            raise BadRequestError(
                f"Unsupported file type '{f.mime_type}'. Supported types are: "
                f"'{file_types.ALLOWED_EXTENSIONS}'"
            )
    return files


def _one_file(key: str, value: Mapping[str, Any], errors: list[str]) -> FileUpload | None:
    before = len(errors)
    govuk = any(k in value for k in GOVUK_KEYS)
    allowed = ("file", "filename", "sending_method", *(GOVUK_KEYS if govuk else ()))
    unexpected = [k for k in value if k not in allowed]
    if unexpected:
        names = ", ".join(unexpected)
        verb = "was" if len(unexpected) == 1 else "were"
        errors.append(f"Additional properties are not allowed ({names} {verb} unexpected)")
    data, filename, method = value.get("file"), value.get("filename"), value.get("sending_method")
    confirm, keep_days = False, LINK_DAYS
    if govuk:
        method = method if method is not None else "link"
        confirm, keep_days = _govuk_options(value, errors)
    if data is None:
        errors.append(f"personalisation {key} file is a required property")
    elif not isinstance(data, str):
        errors.append(f"personalisation {key} file is not of type string")
    if method is None:
        errors.append(f"personalisation {key} sending_method is a required property")
    elif method not in METHODS:
        errors.append(f"personalisation {key} sending_method {method} is not one of [attach, link]")
    if filename is None:
        if method == "attach":
            errors.append(f"personalisation {key} filename is a required property")
    elif not isinstance(filename, str):
        errors.append(f"personalisation {key} filename is not of type string")
    elif len(filename) < 3:
        errors.append(f"personalisation {key} filename {filename} is too short")
    elif len(filename) > 255:
        errors.append(f"personalisation {key} filename {filename} is too long")
    if len(errors) > before or not isinstance(data, str):
        return None
    try:
        content = base64.b64decode(data)
    except (binascii.Error, ValueError) as exc:
        errors.append(f"{key} : {exc} : Error decoding base64 field")
        return None
    if len(content) > ATTACHMENT_SIZE_LIMIT:
        errors.append(
            f"{key} : File size for {filename} is {len(content)} and greater than allowed "
            f"limit of {ATTACHMENT_SIZE_LIMIT}."
        )
        return None
    if not content:
        errors.append(f"personalisation {key} file is empty")
        return None
    name = filename if isinstance(filename, str) else None
    mime = file_types.detect(content, name)
    return FileUpload(key=key, filename=name, sending_method=str(method), content=content,
                      mime_type=mime, document_id=uuid.uuid4(), confirm_email=confirm,
                      keep_days=keep_days)  # fmt: skip


def _govuk_options(value: Mapping[str, Any], errors: list[str]) -> tuple[bool, int]:
    """(confirm before download, days kept) of a GOV.UK file, with GOV.UK's defaults."""
    confirm = value.get("confirm_email_before_download")
    if confirm is not None and not isinstance(confirm, bool):
        errors.append(
            f"Unsupported value for confirm_email_before_download: {confirm}. Use a boolean "
            "true or false value."
        )
    period = value.get("retention_period")
    weeks = GOVUK_RETENTION_WEEKS
    if period is not None:
        match = _WEEKS.match(period.strip().lower()) if isinstance(period, str) else None
        if match is None or not 1 <= int(match[1]) <= 78:
            errors.append(
                f"Unsupported value for retention_period: {period}. Supported periods are "
                "from 1 to 78 weeks."
            )
        else:
            weeks = int(match[1])
    return confirm is not False, weeks * 7


def apply_files(
    personalisation: Mapping[str, Any], files: Sequence[FileUpload], base_url: str, *,
    simulated: bool,
) -> dict[str, Any]:  # fmt: skip
    """Personalisation with each file replaced by its URL (link) or its name (attach)."""
    out = dict(personalisation)
    for f in files:
        if f.sending_method == "link":
            out[f.key] = f"{base_url}d/{'test-document' if simulated else f.document_id}"
        else:
            out[f.key] = f.filename or ""
    return out


def attachments(files: Sequence[FileUpload]) -> tuple[Attachment, ...]:
    return tuple(
        Attachment(filename=f.filename or "attachment", content=f.content, mime_type=f.mime_type)
        for f in files
        if f.sending_method == "attach"
    )


async def store_documents(
    store: ApiStore, service_id: uuid.UUID, notification_id: uuid.UUID,
    files: Sequence[FileUpload], recipient: str, *, scan: str,
) -> None:  # fmt: skip
    """``recipient``: the address a link asking for confirmation must be confirmed with;
    ``scan``: the documents' scan state (``engine.store.documents``)."""
    now = dt.datetime.now(dt.UTC)
    expires = now + dt.timedelta(days=LINK_DAYS)
    await store.documents.insert(
        service_id,
        notification_id,
        [
            NewDocument(
                id=f.document_id,
                personalisation_key=f.key,
                filename=f.filename,
                mime_type=f.mime_type,
                sending_method=f.sending_method,
                content=f.content,
                confirm_email=recipient if f.confirm_email and f.sending_method == "link" else None,
                expires_at=now + dt.timedelta(days=f.keep_days),
            )
            for f in files
        ],
        expires_at=expires,
        scan=scan,
    )


async def get_document(deps: ApiDeps, request: Request) -> Response:
    """GET /d/{document_id}: the file, to whoever has the link, until it expires; a file
    that asks for confirmation answers the form that asks for the address instead."""
    row = await _document(deps, request)
    if row["confirm_email"] is not None:
        return _confirm_page(request, "")
    return _file(row)


async def confirm_document(deps: ApiDeps, request: Request) -> Response:
    """POST /d/{document_id} (a form: ``email_address``): the file if the address is the
    one it was sent to (case and surrounding spaces ignored), else the form again, 403."""
    row = await _document(deps, request)
    if row["confirm_email"] is None:
        return _file(row)
    given = parse_qs(request.body.decode("utf-8", "replace")).get("email_address", [""])[0]
    if given.strip().lower() != row["confirm_email"].strip().lower():
        return _confirm_page(request, WRONG_ADDRESS, status=403)
    return _file(row)


async def _document(deps: ApiDeps, request: Request) -> Any:
    try:
        document_id = uuid.UUID(request.path_params["document_id"])
    except ValueError:
        raise NotFoundError() from None
    row = await deps.store.documents.get_link(document_id)
    if row is None:
        raise NotFoundError()
    return row


def _file(row: Any) -> Response:
    name = (row["filename"] or "document").replace('"', "")
    disposition = f'attachment; filename="{name}"'.encode("latin-1", "replace")
    return Response(
        200,
        bytes(row["content"]),
        content_type=row["mime_type"].encode(),
        headers=[(b"content-disposition", disposition), (b"cache-control", b"no-store")],
    )


def _confirm_page(request: Request, problem: str, status: int = 200) -> Response:
    """The page that asks for the recipient's address (English and French)."""
    french = choose(request.header(b"accept-language")) == "fr"
    title = "Confirmez votre adresse courriel" if french else "Confirm your email address"
    label = "Adresse courriel" if french else "Email address"
    button = "Continuer" if french else "Continue"
    error = f'<p role="alert">{escape(translate(problem, "fr") if french else problem)}</p>'
    page = (
        f'<!DOCTYPE html><html lang="{"fr" if french else "en"}"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body><h1>{title}</h1>{error if problem else ''}"
        '<form method="post"><label for="email_address">'
        f'{label}</label> <input id="email_address" name="email_address" type="email" '
        f'autocomplete="email" required> <button type="submit">{button}</button></form>'
        "</body></html>"
    )
    return Response(
        status,
        page.encode(),
        content_type=b"text/html; charset=utf-8",
        headers=[(b"cache-control", b"no-store")],
    )
