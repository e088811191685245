"""The service navigation: (words key, path under the service, role that sees the link), in
the order shown. A link is shown only to a user with its role (``links``); each page checks
the role itself (``engine.console.app.service_page``): a hidden link is a courtesy, not the
guard.
"""

from __future__ import annotations

from engine.domain import console

SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("dashboard", "", "view"),
    ("templates", "/templates", "view"),
    ("send", "/send", "send"),
    ("activity", "/notifications", "view"),
    ("api_keys", "/api-keys", "manage_api_keys"),
    ("team", "/team", "view"),
    ("integration", "/callbacks", "manage_api_keys"),
    ("settings", "/settings", "manage_settings"),
)


def links(roles: frozenset[str], platform_admin: bool) -> list[tuple[str, str]]:
    return [(key, path) for key, path, role in SECTIONS
            if console.has_role(roles, platform_admin, role)]  # fmt: skip
