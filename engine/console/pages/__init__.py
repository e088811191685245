"""The console's pages, one module per area; ``add_routes`` gathers their routes.

Rules:
- An area's module holds its handlers and its ``add_routes``; its words live in
  ``engine.console.words.<area>`` and its HTML in ``templates/<area>*.html``.
- The service navigation is ``engine.console.nav.SECTIONS``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from engine.api.http import Request, Response
from engine.api.router import Router
from engine.console.app import Ctx

Wrap = Callable[[Callable[[Ctx], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]]


def add_routes(r: Router, wrap: Wrap) -> None:
    from engine.console.pages import (
        account,
        activity,
        api_keys,
        callbacks,
        send,
        send_upload,
        services,
        settings,
        sign_in,
        team,
        templates,
        templates_edit,
        templates_preview,
    )

    for area in (sign_in, account, services, templates, templates_edit, templates_preview, send,
                 send_upload, activity, api_keys, callbacks, team, settings):  # fmt: skip
        area.add_routes(r, wrap)
