"""PostgreSQL connection URLs."""

from __future__ import annotations

from urllib.parse import urlsplit


def with_database(dsn: str, name: str) -> str:
    """The same server, another database: only the URL's path changes (an embedded
    server's URL carries its socket folder, slashes included, in the query string)."""
    return urlsplit(dsn)._replace(path=f"/{name}").geturl()
