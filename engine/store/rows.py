"""``Row``: what the store's read queries return where no Struct fits (yet).

A row is read by column name (``row["id"]``) or turned into a dict (``dict(row)``): the
asyncpg ``Record`` the queries return does both, and so does a plain dict, which is what a
fake store hands out in tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class Row(Protocol):
    def __getitem__(self, column: str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...
