"""The layout's rules, checked on the source (the design's "nevers"):

- SQL only in ``engine/store/`` (the same pattern a reviewer greps for);
- ``domain/`` imports nothing of ours but ``domain/``; ``http1/`` nothing but ``http1/``
  and the watchdog (trio deadlines, which imports nothing of ours), and knows nothing of
  Notify;
- ``providers/`` never touch the store, the actors or the API;
- nothing below ``api/`` (actors, store, domain, providers, http1) imports ``api/``, and
  ``api/`` never imports the runtime (its handlers get narrow dependencies);
- no import cycle between packages (each top-level module of ``engine/`` counts as its
  own node), ``TYPE_CHECKING`` imports included.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "engine"
SQL = re.compile(r"SELECT|INSERT INTO|UPDATE .* SET|DELETE FROM")


def _sources() -> list[Path]:
    return sorted(ENGINE.rglob("*.py"))


def _node(module: str) -> str:
    """``engine.store.x`` -> ``store``; ``engine.metrics`` -> ``engine.metrics``."""
    parts = module.split(".")
    if len(parts) < 2:
        return "engine"
    return parts[1] if (ENGINE / parts[1]).is_dir() else f"engine.{parts[1]}"


def _imports(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
    return [(name, line) for name, line in found if name.split(".")[0] == "engine"]


def _package(path: Path) -> str:
    return _node(".".join(path.relative_to(ENGINE.parent).with_suffix("").parts))


def test_sql_lives_only_in_the_store() -> None:
    outside = [
        f"{path.relative_to(ENGINE.parent)}:{number}: {line.strip()}"
        for path in _sources()
        if _package(path) != "store"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SQL.search(line)
    ]
    assert outside == []


def test_lower_layers_import_only_what_they_may() -> None:
    allowed = {
        "domain": {"domain"},
        "http1": {"http1", "engine.watchdog"},
        "engine.watchdog": set(),
    }
    forbidden = {
        "providers": {"store", "actors", "api", "engine.runtime"},
        "store": {"actors", "api", "engine.runtime", "engine.services"},
        "actors": {"api", "engine.runtime", "engine.cli"},
        # Handlers get ``engine.api.deps.ApiDeps``, never the whole running engine.
        "api": {"engine.runtime", "engine.cli"},
    }
    breaches = []
    for path in _sources():
        package = _package(path)
        for module, line in _imports(path):
            target = _node(module)
            if package in allowed and target not in allowed[package]:
                breaches.append(f"{path.relative_to(ENGINE.parent)}:{line} imports {module}")
            if target in forbidden.get(package, set()):
                breaches.append(f"{path.relative_to(ENGINE.parent)}:{line} imports {module}")
            below_api = package in {"actors", "store", "domain", "providers", "http1"}
            if below_api and target == "api":
                breaches.append(f"{path.relative_to(ENGINE.parent)}:{line} imports {module}")
    assert breaches == []


def test_no_import_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in _sources():
        source = _package(path)
        for module, _ in _imports(path):
            target = _node(module)
            if target != source:
                graph[source].add(target)
    cycles = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            seen: set[str] = set()
            stack = [target]
            while stack:
                node = stack.pop()
                if node == source:
                    cycles.append(f"{source} -> {target} -> ... -> {source}")
                    break
                if node not in seen:
                    seen.add(node)
                    stack.extend(graph[node])
    assert cycles == []


def test_the_checks_see_a_breach() -> None:
    """The checks are not vacuous: they see the store's SQL and the API's imports."""
    store_sql = [p for p in _sources() if _package(p) == "store" and SQL.search(p.read_text())]
    assert store_sql
    api_imports = {_node(m) for p in _sources() if _package(p) == "api" for m, _ in _imports(p)}
    assert {"domain", "store"} <= api_imports
