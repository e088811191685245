"""The sign-in code, sent through the engine itself (as ``engine.actors.team_mail`` sends
the team's mail): one ``created`` row of the system service in the priority lane, rendered
from ``engine.domain.console.CODE_TEMPLATE`` (written at start by ``TeamMailer.ensure``),
then the recovery sweep is woken so the code leaves at once rather than at the next sweep.
The row's ``created_at`` is the real time (its partition), never the console's clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.domain import console
from engine.domain.notification import RowSpec, accepted_row, new_ids
from engine.domain.team_mail import SYSTEM_SERVICE_ID
from engine.domain.templates import CompiledEmailTemplate
from engine.domain.timestamps import utcnow

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps

_compiled = CompiledEmailTemplate(console.CODE_TEMPLATE.subject or "",
                                  console.CODE_TEMPLATE.content)  # fmt: skip


async def send_code(deps: ApiDeps, address: str, code: str) -> None:
    template = console.CODE_TEMPLATE
    current = await deps.store.templates.current_version(template.id)
    if current is None:
        raise RuntimeError("the console's code template is not written: TeamMailer.ensure")
    spec = RowSpec(
        service_id=SYSTEM_SERVICE_ID, template_id=template.id,
        template_version=int(current["version"]), api_key_id=None, key_type="normal",
        channel="email", lane="priority", sender=None, reference=None, scheduled_for=None,
        created_at=utcnow(), owner=None,
    )  # fmt: skip
    values = {"code": code, "minutes": str(console.CODE_MINUTES)}
    [nid] = new_ids(1, spec.created_at)
    row = accepted_row(spec, nid, address, dict(values), _compiled.render(dict(values)))
    await deps.store.insert_notifications([row])
    deps.wake_recovery()
