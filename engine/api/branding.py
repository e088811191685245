"""Email branding's endpoints (issue 22; the rules are ``engine.domain.branding``'s).

    PUT /admin/services/{id}/branding/logo    the raw image, its Content-Type; -> its URL
    GET /static/branding/{file}               the shipped images (our own drawings)
    GET /static/branding/logos/{id}/{digest}  a service's uploaded logo

Rules:
- A logo is PNG, JPEG or GIF (its first bytes must say so), at most 1 MiB; it is stored
  in PostgreSQL (``service_logos``) and named by the first 16 hex digits of its SHA-256,
  so its URL changes with it and every answer may be cached for a year (``immutable``).
- The static routes need no key: mail clients fetch them. They serve only the shipped
  files (read once, at import) and logos whose digest matches: nothing else is reachable.
- Setting the branding kind, colour and name is the service PATCH (``engine.api.admin``).
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from engine.api.errors import NotFoundError, ValidationError
from engine.api.http import Request, Response, json_response
from engine.domain import branding

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps

_STATIC = Path(__file__).resolve().parent.parent / "static" / "branding"
_FILES = {name: (_STATIC / name).read_bytes() for name in branding.STATIC_FILES}
_CACHE = [(b"cache-control", b"public, max-age=31536000, immutable")]


async def upload_logo(deps: ApiDeps, request: Request, service_id: uuid.UUID) -> Response:
    content_type = (request.header(b"content-type") or "").split(";")[0].strip().lower()
    data = request.body
    problem = branding.logo_problem(content_type, data)
    if problem is not None:
        raise ValidationError([problem])
    digest = hashlib.sha256(data).hexdigest()[:16]
    await deps.store.services.set_logo(service_id, digest, content_type, data)
    deps.service_changed(service_id)
    path = f"logos/{service_id}/{digest}"
    return json_response(
        200,
        {
            "service_id": str(service_id),
            "brand_logo": digest,
            "url": f"{deps.settings.asset_base}static/branding/{path}",
        },
    )


async def static_file(deps: ApiDeps, request: Request) -> Response:
    content = _FILES.get(request.path_params["name"])
    if content is None:
        raise NotFoundError()
    return Response(200, content, content_type=b"image/png", headers=_CACHE)


async def logo(deps: ApiDeps, request: Request) -> Response:
    try:
        service_id = uuid.UUID(request.path_params["service_id"])
    except ValueError:
        raise NotFoundError() from None
    row = await deps.store.services.logo(service_id, request.path_params["digest"])
    if row is None:
        raise NotFoundError()
    return Response(
        200, bytes(row["data"]), content_type=row["content_type"].encode(), headers=_CACHE
    )
