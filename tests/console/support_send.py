"""Helpers for the console's sending tests: a multipart upload with the visitor's cookies,
and a recorder around the store's notification reads (a seam: the store object's own
attribute, so a test sees which read a search used)."""

from __future__ import annotations

import re
from typing import Any

import httpx2

from tests.console.support import Visitor

_UPLOAD = re.compile(r"/console/services/[^/]+/uploads/([0-9a-f-]{36})")


async def upload(v: Visitor, path: str, name: str, content: bytes) -> httpx2.Response:
    """POST a CSV as ``multipart/form-data`` (field ``file``) with the CSRF token."""
    v.client.cookies.clear()
    response = await v.client.post(
        path, data={"csrf_token": v.csrf}, files={"file": (name, content, "text/csv")},
        headers=v._headers(),
    )  # fmt: skip
    return v._keep(response)


def upload_id(location: str) -> str:
    found = _UPLOAD.search(location)
    assert found is not None, location
    return found[1]


class RecordingReads:
    """Passes every call to the store's ``notifications`` and records the names called."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        async def recorded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args))
            return await target(*args, **kwargs)

        return recorded
