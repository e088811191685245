"""What the console sends, through the engine itself (as ``engine.actors.team_mail`` sends
the team's mail): the sign-in code by email (``engine.domain.console.CODE_TEMPLATE``) or by
SMS (``engine.domain.console_people.SMS_CODE_TEMPLATE``) and the invitation to a service
(``INVITE_TEMPLATE``). Each is one ``created`` row of the system service in the priority
lane, rendered from its system template (written at start by ``TeamMailer.ensure``), then
the recovery sweep is woken so it leaves at once rather than at the next sweep.
The row's ``created_at`` is the real time (its partition), never the console's clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.domain import console, console_people
from engine.domain.notification import RowSpec, accepted_row, new_ids
from engine.domain.team_mail import SYSTEM_SERVICE_ID, SystemTemplate
from engine.domain.templates import CompiledEmailTemplate, CompiledSmsTemplate
from engine.domain.timestamps import utcnow

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps


async def _send(deps: ApiDeps, template: SystemTemplate, to: str, values: dict[str, str]) -> None:
    current = await deps.store.templates.current_version(template.id)
    if current is None:
        raise RuntimeError(f"the system template {template.name} is not written: ensure")
    channel = template.template_type
    spec = RowSpec(
        service_id=SYSTEM_SERVICE_ID, template_id=template.id,
        template_version=int(current["version"]), api_key_id=None, key_type="normal",
        channel=channel, lane="priority", sender=None, reference=None, scheduled_for=None,
        created_at=utcnow(), owner=None,
    )  # fmt: skip
    rendered = (
        CompiledEmailTemplate(template.subject or "", template.content).render(dict(values))
        if channel == "email"
        else CompiledSmsTemplate(template.content).render(dict(values))
    )
    [nid] = new_ids(1, spec.created_at)
    await deps.store.insert_notifications([accepted_row(spec, nid, to, dict(values), rendered)])
    deps.wake_recovery()


async def send_code(deps: ApiDeps, address: str, code: str) -> None:
    values = {"code": code, "minutes": str(console.CODE_MINUTES)}
    await _send(deps, console.CODE_TEMPLATE, address, values)


async def send_sms_code(deps: ApiDeps, phone: str, code: str) -> None:
    await _send(deps, console_people.SMS_CODE_TEMPLATE, phone, {"code": code})


async def send_invitation(
    deps: ApiDeps, address: str, *, service_name: str, inviter: str, url: str
) -> None:
    values = {"service_name": service_name, "inviter": inviter, "url": url,
              "hours": str(console_people.INVITE_HOURS)}  # fmt: skip
    await _send(deps, console_people.INVITE_TEMPLATE, address, values)
