"""A small method + path router. Routes are named by their template, which is also the
``route`` label on API metrics (never the raw path: ids would explode cardinality)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from engine.api.http import Request, Response

Handler = Callable[[Request], Awaitable[Response]]
_PARAM = re.compile(r"\{(\w+)\}")


class Route:
    __slots__ = ("handler", "method", "pattern", "template")

    def __init__(self, method: str, template: str, handler: Handler) -> None:
        self.method = method
        self.template = template
        self.handler = handler
        regex = _PARAM.sub(lambda m: f"(?P<{m[1]}>[^/]+)", template)
        self.pattern = re.compile(f"^{regex}/?$")


class Router:
    def __init__(self) -> None:
        self._static: dict[tuple[str, str], Route] = {}
        self._dynamic: list[Route] = []
        self._paths: dict[str, set[str]] = {}

    def add(self, method: str, template: str, handler: Handler) -> None:
        route = Route(method, template, handler)
        if "{" in template:
            self._dynamic.append(route)
        else:
            self._static[(method, template)] = route
            self._static[(method, template + "/")] = route
        self._paths.setdefault(template, set()).add(method)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """Return (route, params, path_exists). path_exists without a route means 405."""
        route = self._static.get((method, path))
        if route is not None:
            return route, {}, True
        path_exists = False
        for candidate in self._dynamic:
            m = candidate.pattern.match(path)
            if m is None:
                continue
            if candidate.method == method:
                return candidate, m.groupdict(), True
            path_exists = True
        if not path_exists:
            stripped = path.rstrip("/") or "/"
            path_exists = stripped in self._paths
        return None, {}, path_exists

    def allowed(self, path: str) -> list[str]:
        """The methods served at ``path`` (a 405's ``Allow`` header), sorted."""
        methods: set[str] = set()
        stripped = path.rstrip("/") or "/"
        methods.update(self._paths.get(stripped, ()))
        for candidate in self._dynamic:
            if candidate.pattern.match(path):
                methods.add(candidate.method)
        return sorted(methods)

    def templates(self) -> dict[str, set[str]]:
        return self._paths
