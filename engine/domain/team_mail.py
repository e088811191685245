"""Mail the engine sends to a service's team: what happened to its callbacks and limits.

Rules:
- The engine sends it as a service of its own (``SYSTEM_SERVICE_ID``, created by migration
  0016), through the same pipeline and providers as any notification, from templates kept
  here (``TEMPLATES``, synced to the database at start so that recovery can render them
  again), to every team member's email address of the service concerned.
- Every template is bilingual, English then French, in ``[[en]]`` / ``[[fr]]`` blocks as GC
  Notify writes its own; subjects carry both languages.
- Notices, at most once per event and period (``Notice.period``; the store keeps a row per
  (service, notice, period), so many processes and restarts send it once):
  callback suspended (period: the suspension's time) and resumed (the resumption's time);
  80% and 100% of a daily limit (period: the service's local day, in its time zone: the
  budget's window) and of an annual limit (the fiscal year), for email and for SMS. 80% is
  "near", 100% "reached" (GC's thresholds). The daily reset is named as midnight in the
  service's zone ("midnight UTC" for a UTC service, as GC writes it).
- Numbers are written as each language writes them: 12,345 in English, 12 345 in French.
Pure: times and counts are arguments.
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

SYSTEM_SERVICE_ID = uuid.UUID("7ccf2088-32b6-4c38-bcfd-4fa3eb6dec27")
NEAR = 0.8

_LIMIT_FACTS = """\
[[en]]
((service_name)) has sent ((count_en)) of its ((period_en)) limit of ((limit_en)) \
((type_en)).

((what_next_en))

Limits protect the people your service writes to and the providers it sends through. If \
you need a higher limit, ask the team that runs Notify for your organisation.
[[/en]]

[[fr]]
((service_name)) a envoyé ((count_fr)) ((type_fr)) sur sa limite ((period_fr)) de \
((limit_fr)).

((what_next_fr))

Les limites protègent les personnes à qui votre service écrit et les fournisseurs par \
lesquels il envoie. S'il vous faut une limite plus élevée, adressez-vous à l'équipe qui \
exploite Notification pour votre organisation.
[[/fr]]
"""


class SystemTemplate(msgspec.Struct, frozen=True):
    id: uuid.UUID
    name: str
    subject: str | None
    content: str
    template_type: str = "email"  # "sms": the replies to inbound texts (issue 24)


TEMPLATES: dict[str, SystemTemplate] = {
    "callback-suspended": SystemTemplate(
        uuid.UUID("0c2a8a55-4f4e-4a4b-9a7e-6f1f6e0f7a01"),
        "Callbacks suspended | Rappels suspendus",
        "Callbacks suspended for ((service_name)) | Rappels suspendus pour ((service_name))",
        """\
[[en]]
We stopped sending ((callback_type_en)) callbacks to ((url)) on ((since)) UTC, because \
it failed too often: ((reason)).

Nothing is lost: the callbacks it is owed wait, and go out once it is resumed.

1. Check that the address answers HTTP 200 quickly (within 1 second) to a POST.
2. Fix what made it fail.
3. Resume it (the admin API's callback/resume), or wait: we try it again every minute \
and resume it by ourselves once it answers.
[[/en]]

[[fr]]
Nous avons cessé d'envoyer les rappels ((callback_type_fr)) à ((url)) le ((since)) UTC, \
parce qu'ils échouaient trop souvent : ((reason)).

Rien n'est perdu : les rappels en attente seront envoyés dès la reprise.

1. Vérifiez que l'adresse répond rapidement (en moins d'une seconde) HTTP 200 à un POST.
2. Corrigez ce qui causait les échecs.
3. Reprenez les rappels (callback/resume de l'API d'administration), ou attendez : nous \
réessayons chaque minute et reprenons d'eux-mêmes les envois dès qu'elle répond.
[[/fr]]
""",
    ),
    "callback-resumed": SystemTemplate(
        uuid.UUID("0c2a8a55-4f4e-4a4b-9a7e-6f1f6e0f7a02"),
        "Callbacks resumed | Rappels repris",
        "Callbacks resumed for ((service_name)) | Rappels repris pour ((service_name))",
        """\
[[en]]
We are sending ((callback_type_en)) callbacks to ((url)) again since ((since)) UTC, \
starting with the ones it was owed.
[[/en]]

[[fr]]
Nous envoyons de nouveau les rappels ((callback_type_fr)) à ((url)) depuis le ((since)) \
UTC, en commençant par ceux qui étaient en attente.
[[/fr]]
""",
    ),
    "daily-limit-near": SystemTemplate(
        uuid.UUID("0c2a8a55-4f4e-4a4b-9a7e-6f1f6e0f7a03"),
        "Near daily limit | Limite quotidienne presque atteinte",
        "((service_name)) is near its daily limit for ((type_en)) | La limite quotidienne de "
        "((type_fr)) est presque atteinte pour ((service_name))",
        _LIMIT_FACTS,
    ),
    "daily-limit-reached": SystemTemplate(
        uuid.UUID("0c2a8a55-4f4e-4a4b-9a7e-6f1f6e0f7a04"),
        "Daily limit reached | Limite quotidienne atteinte",
        "((service_name)) has reached its daily limit for ((type_en)) | La limite quotidienne "
        "de ((type_fr)) est atteinte pour ((service_name))",
        _LIMIT_FACTS,
    ),
    "annual-limit-near": SystemTemplate(
        uuid.UUID("0c2a8a55-4f4e-4a4b-9a7e-6f1f6e0f7a05"),
        "Near annual limit | Limite annuelle presque atteinte",
        "((service_name)) is near its annual limit for ((type_en)) | La limite annuelle de "
        "((type_fr)) est presque atteinte pour ((service_name))",
        _LIMIT_FACTS,
    ),
    "annual-limit-reached": SystemTemplate(
        uuid.UUID("0c2a8a55-4f4e-4a4b-9a7e-6f1f6e0f7a06"),
        "Annual limit reached | Limite annuelle atteinte",
        "((service_name)) has reached its annual limit for ((type_en)) | La limite annuelle "
        "de ((type_fr)) est atteinte pour ((service_name))",
        _LIMIT_FACTS,
    ),
}


class Notice(msgspec.Struct, frozen=True):
    """One mail to a service's team: which template, once per ``period``, with what."""

    service_id: uuid.UUID
    template: str  # a key of TEMPLATES
    period: str
    values: dict[str, str]


def number(n: int, language: str) -> str:
    """12,345 in English; 12 345 in French (a no-break space, as French typography has)."""
    english = f"{n:,}"
    return english if language == "en" else english.replace(",", "\u00a0")


_TYPES = {
    "email": ("emails", "courriels"),
    "sms": ("text message parts", "fragments de messages texte"),
}
_CALLBACK_TYPES = {"delivery_status": ("delivery status", "d'état de livraison"),
                   "complaint": ("complaint", "de plainte"),
                   "inbound_sms": ("received text message", "de message texte reçu")}  # fmt: skip


def limit_notice(
    service_id: uuid.UUID, service_name: str, kind: str, window: dt.date, used: int, limit: int,
    *, time_zone: str = "UTC",
) -> Notice | None:  # fmt: skip
    """The notice owed when ``used`` of a ``kind`` budget ("daily:email", "annual:sms", ...)
    reaches 80% or 100% of ``limit`` in ``window`` (its first local day in ``time_zone``,
    the service's zone), else None."""
    period_kind, _, channel = kind.partition(":")
    if period_kind not in ("daily", "annual") or channel not in _TYPES or limit <= 0:
        return None
    if used >= limit:
        level = "reached"
    elif used >= NEAR * limit:
        level = "near"
    else:
        return None
    type_en, type_fr = _TYPES[channel]
    left = max(0, limit - used)
    if period_kind == "daily":
        period_en, period_fr = "daily", "quotidienne"
        if time_zone == "UTC":
            until_en, until_fr = "midnight UTC", "minuit UTC"
        else:
            until_en, until_fr = f"midnight ({time_zone} time)", f"minuit (heure {time_zone})"
    else:
        period_en, period_fr = "annual", "annuelle"
        end = window.year + 1
        until_en, until_fr = f"April 1, {end}", f"1er avril {end}"
    if level == "reached":
        next_en = f"It cannot send more {type_en} until {until_en}."
        next_fr = f"Il ne peut plus envoyer de {type_fr} avant le {until_fr}."
    else:
        next_en = f"It can send {number(left, 'en')} more {type_en} until {until_en}."
        next_fr = f"Il peut encore envoyer {number(left, 'fr')} {type_fr} avant le {until_fr}."
    values = {
        "service_name": service_name,
        "count_en": number(min(used, limit), "en"), "count_fr": number(min(used, limit), "fr"),
        "limit_en": number(limit, "en"), "limit_fr": number(limit, "fr"),
        "type_en": type_en, "type_fr": type_fr,
        "period_en": period_en, "period_fr": period_fr,
        "what_next_en": next_en, "what_next_fr": next_fr,
    }  # fmt: skip
    return Notice(service_id, f"{period_kind}-limit-{level}", f"{channel}:{window}", values)


def callback_notice(
    service_id: uuid.UUID, service_name: str, *, resumed: bool, callback_type: str, url: str,
    reason: str, at: dt.datetime,
) -> Notice:  # fmt: skip
    """The notice of a suspension (``reason``: what failed, how often) or a resumption."""
    type_en, type_fr = _CALLBACK_TYPES.get(callback_type, (callback_type, callback_type))
    since = at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    values = {
        "service_name": service_name, "url": url, "reason": reason, "since": since,
        "callback_type_en": type_en, "callback_type_fr": type_fr,
    }  # fmt: skip
    template = "callback-resumed" if resumed else "callback-suspended"
    return Notice(service_id, template, f"{callback_type}:{at.isoformat()}", values)
