"""Templates and their history.

Rules:
- Every save writes the template (insert at version 1, or update to the next version) and
  its row in ``template_versions`` in one transaction, so any version a notification
  names can be read back (``version``: recovery rebuilds messages from rows).
- Archiving (``archive``, GC's DELETE /v2/manage-template) is a save too: the next
  version, archived, with its history row (GC versions it the same way).
- A save through the API names its expected current version (``expected``): it writes
  only if the template is still at that version, so two concurrent updates cannot both
  take the same next version (the loser gets False and reads again).
"""

from __future__ import annotations

import uuid

from engine.store._pipe import Pipe, Statement, affected
from engine.store.rows import Row

_COLUMNS = (
    "id, service_id, name, template_type, subject, content, process_type,"
    " version, archived, created_by, created_at, updated_at, subject_fr, content_fr,"
    " template_category_id"
)

# A version's history row: the template row as just written (by ``created_by``).
_HISTORY_SQL = (
    "INSERT INTO template_versions (template_id, version, service_id, name, template_type,"
    " subject, content, process_type, created_by, subject_fr, content_fr,"
    " template_category_id)"
    " SELECT id, version, service_id, name, template_type, subject, content, process_type,"
    " $2, subject_fr, content_fr, template_category_id FROM templates WHERE id = $1"
)


class Templates:
    def __init__(self, pipe: Pipe) -> None:
        self._pipe = pipe

    async def for_service(self, service_id: uuid.UUID) -> list[Row]:
        """The current version of each of the service's templates
        (``engine.services.Template``'s fields)."""
        return await self._pipe.fetch(
            f"SELECT {_COLUMNS} FROM templates WHERE service_id = $1", service_id
        )

    async def current(self, template_id: uuid.UUID, service_id: uuid.UUID) -> Row | None:
        """The template's current version if it is the service's (``Template``'s fields)."""
        row: Row | None = await self._pipe.fetchrow(
            f"SELECT {_COLUMNS} FROM templates WHERE id = $1 AND service_id = $2",
            template_id,
            service_id,
        )
        return row

    async def version(self, template_id: uuid.UUID, version: int) -> Row | None:
        """One version of a template (``engine.services.Template``'s fields)."""
        row: Row | None = await self._pipe.fetchrow(
            "SELECT v.template_id AS id, v.service_id, v.name, v.template_type, v.subject,"
            " v.content, v.process_type, v.version, t.archived, v.created_by, v.created_at,"
            " t.updated_at, v.subject_fr, v.content_fr, v.template_category_id"
            " FROM template_versions v JOIN templates t ON t.id = v.template_id"
            " WHERE v.template_id = $1 AND v.version = $2",
            template_id,
            version,
        )
        return row

    async def versions(self, template_id: uuid.UUID, service_id: uuid.UUID) -> list[Row]:
        """Every version of the service's template, oldest first: who wrote it and when,
        and its versioned fields (``engine.domain.template_edits.VERSIONED``)."""
        return await self._pipe.fetch(
            "SELECT version, created_by, created_at, name, subject, content, subject_fr,"
            " content_fr, template_category_id FROM template_versions"
            " WHERE template_id = $1 AND service_id = $2 ORDER BY version",
            template_id,
            service_id,
        )

    async def current_version(self, template_id: uuid.UUID) -> Row | None:
        """``version`` and ``service_id`` of a template, or None if there is none."""
        row: Row | None = await self._pipe.fetchrow(
            "SELECT version, service_id FROM templates WHERE id = $1", template_id
        )
        return row

    async def save(
        self, template_id: uuid.UUID, service_id: uuid.UUID, *, version: int, name: str,
        template_type: str, subject: str | None, content: str, process_type: str,
        created_by: str, subject_fr: str | None = None, content_fr: str | None = None,
        template_category_id: uuid.UUID | None = None, expected: int | None = None,
    ) -> bool:  # fmt: skip
        """Write ``version`` of the template: a new template at version 1, else the next
        version of an existing one; with its history row. With ``expected``, only if the
        template is still at that version (False: it was not, nothing was written)."""
        write: Statement
        if version == 1:
            write = (
                "INSERT INTO templates (id, service_id, name, template_type, subject, content,"
                " process_type, version, created_by, subject_fr, content_fr,"
                " template_category_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
                (template_id, service_id, name, template_type, subject, content,
                 process_type, version, created_by, subject_fr, content_fr,
                 template_category_id),
            )  # fmt: skip
        else:
            write = (
                "UPDATE templates SET name=$3, template_type=$4, subject=$5, content=$6,"
                " process_type=$7, version=$8, subject_fr=$9, content_fr=$10,"
                " template_category_id=coalesce($11, template_category_id),"
                " updated_at=now() WHERE id=$1 AND service_id=$2"
                " AND ($12::int IS NULL OR version = $12)",
                (template_id, service_id, name, template_type, subject, content,
                 process_type, version, subject_fr, content_fr, template_category_id,
                 expected),
            )  # fmt: skip

        async def go() -> bool:
            async with self._pipe.pool.acquire() as conn, conn.transaction():
                if affected(await conn.execute(write[0], *write[1])) == 0:
                    return False
                await conn.execute(_HISTORY_SQL, template_id, created_by)
                return True

        return await self._pipe.db.call(go)

    async def archive(self, template_id: uuid.UUID, service_id: uuid.UUID, *, version: int,
                      created_by: str) -> bool:  # fmt: skip
        """Archive the template as its next version ``version`` (False: it is no longer at
        ``version - 1``)."""

        async def go() -> bool:
            async with self._pipe.pool.acquire() as conn, conn.transaction():
                status = await conn.execute(
                    "UPDATE templates SET archived = true, version = $3, updated_at = now()"
                    " WHERE id = $1 AND service_id = $2 AND version = $3 - 1",
                    template_id, service_id, version,
                )  # fmt: skip
                if affected(status) == 0:
                    return False
                await conn.execute(_HISTORY_SQL, template_id, created_by)
                return True

        return await self._pipe.db.call(go)
