"""Admission: may this service send this, now? Pure rules: time, counts and buckets are
arguments, and each rule either returns (the request passes; a resolved value if any) or
raises the ``engine.domain.errors`` error that is its verdict.

Rules, in the order the endpoints apply them (GC's; contract section 6):
1. Rate limit (``take_token``): a token bucket per service and key type, test keys
   included; one token per request, bulk included. Checked before the template, after the
   body schema.
2. A suspended service sends nothing (``check_active``).
3. Template (``find_template``): exists, is not archived, and suits the channel.
4. Sender (``resolve_sender``): no id means the service's default; an id must name one
   of the service's senders for the channel.
5. Recipients (``check_recipient`` / ``check_recipients``): test keys send anywhere; team
   keys only to the team and safelist; live keys of a trial (``restricted``) service
   likewise. International SMS needs the service's permission. Simulated recipients are
   exempt (the callers skip the check).
6. Daily and annual budgets (``quota_needs``; ``refusal`` names the one that refused):
   test keys are never counted. A trial service may send 50 emails and 50 SMS fragments
   a day, each channel counted apart, and is refused with GC's trial errors
   (``TrialServiceTooMany...RequestsError``). Email counts messages; SMS counts fragments,
   a day and a year (GC's billable units). Bulk jobs
   are checked in messages first (``check_remaining``, GC's "remaining messages" wording,
   on ``Counts`` of today's and this fiscal year's totals) and in fragments at the end.

Budgets are deployment-wide: the rate bucket and the daily and annual quotas are rows in
PostgreSQL that every process leases blocks of (``engine.domain.leases``); these rules say
which budgets a request needs (``rate_need``, ``quota_needs``, in the order they are
checked) and which error refuses it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Container, Iterable, Mapping
from typing import NamedTuple, Protocol, TypeVar

from engine.domain.errors import (
    DomainError,
    EmailAnnualLimitExceeded,
    EmailDailyLimitExceeded,
    InternationalSmsNotAllowed,
    RateLimitExceeded,
    RemainingLimitExceeded,
    SenderNotFound,
    ServiceSuspended,
    SmsAnnualLimitExceeded,
    SmsDailyLimitExceeded,
    TeamKeyRecipient,
    TeamKeyRecipients,
    TemplateArchived,
    TemplateNotFound,
    TemplateWrongType,
    TrialEmailDailyLimitExceeded,
    TrialModeRecipient,
    TrialModeRecipients,
    TrialSmsDailyLimitExceeded,
)
from engine.domain.leases import BudgetKey, annual_key, daily_key, rate_key
from engine.domain.limits import TRIAL_DAILY_LIMIT


class ServiceSettings(Protocol):
    """What admission reads of a service (``engine.services.Service`` has it)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def restricted(self) -> bool: ...
    @property
    def suspended(self) -> bool: ...
    @property
    def rate_limit(self) -> int: ...
    @property
    def international_sms(self) -> bool: ...
    @property
    def email_daily_limit(self) -> int: ...
    @property
    def sms_daily_limit(self) -> int: ...
    @property
    def email_annual_limit(self) -> int: ...
    @property
    def sms_annual_limit(self) -> int: ...


class TemplateSettings(Protocol):
    @property
    def template_type(self) -> str: ...
    @property
    def archived(self) -> bool: ...


T = TypeVar("T", bound=TemplateSettings)


class Counts:
    """A service's messages today and this fiscal year (SMS: fragments)."""

    __slots__ = ("day", "email_today", "email_year", "sms_today", "sms_year")

    def __init__(self, day: dt.date) -> None:
        self.day = day
        self.email_today = self.sms_today = self.email_year = self.sms_year = 0


class Need(NamedTuple):
    """``amount`` units of the budget ``key``, whose limit is ``limit``."""

    key: BudgetKey
    limit: int
    amount: int


# -- 1, 2: the request ---------------------------------------------------------------
def rate_need(service: ServiceSettings, key_type: str) -> Need:
    """One token of the key type's bucket (``rate_limit`` per minute), test keys included."""
    return Need(rate_key(key_type), service.rate_limit, 1)


def check_active(service: ServiceSettings) -> None:
    if service.suspended:
        raise ServiceSuspended()


# -- 3, 4: template and sender ---------------------------------------------------------
def find_template(
    templates: Mapping[uuid.UUID, T], template_id: uuid.UUID, channel: str | None = None
) -> T:
    """The service's template; ``channel`` None accepts either (bulk takes the template's)."""
    template = templates.get(template_id)
    if template is None:
        raise TemplateNotFound()
    if template.archived:
        raise TemplateArchived(template_id)
    if channel is not None and template.template_type != channel:
        raise TemplateWrongType(template.template_type, channel)
    return template


def resolve_sender(
    senders: Mapping[uuid.UUID, str],
    default: str | None,
    sender_id: uuid.UUID | None,
    *,
    field: str,
    written: str,
    service_id: uuid.UUID,
) -> str | None:
    """The reply-to address or SMS sender for ``sender_id`` (None: the default).
    ``written`` is the id as the client sent it, which the error quotes."""
    if sender_id is None:
        return default
    sender = senders.get(sender_id)
    if sender is None:
        raise SenderNotFound(field, written, service_id)
    return sender


# -- 5: recipients ---------------------------------------------------------------------
def _in_team(team: Container[str], channel: str, recipient: str) -> bool:
    return (recipient.lower() if channel == "email" else recipient) in team


def check_recipient(
    service: ServiceSettings, team: Container[str], key_type: str, channel: str, recipient: str
) -> None:
    """One recipient (``recipient`` already normalised). ``team`` answers ``in`` for a
    normalised recipient (the engine's holds keyed hashes, ``engine.crypto``); it is asked
    only when the key or the service restricts recipients."""
    if key_type == "test" or (key_type == "normal" and not service.restricted):
        return
    if _in_team(team, channel, recipient):
        return
    if key_type == "team":
        raise TeamKeyRecipient(service.id)
    if service.restricted:
        raise TrialModeRecipient()


def check_recipients(
    service: ServiceSettings,
    team: Container[str],
    key_type: str,
    channel: str,
    recipients: Iterable[str],
) -> None:
    """A bulk sheet's recipients: all must be allowed (GC's wording for many)."""
    if key_type == "test" or (key_type == "normal" and not service.restricted):
        return
    if all(_in_team(team, channel, r) for r in recipients):
        return
    raise TeamKeyRecipients() if key_type == "team" else TrialModeRecipients()


def check_international(service: ServiceSettings, international: bool) -> None:
    if international and not service.international_sms:
        raise InternationalSmsNotAllowed()


# -- 6: daily and annual budgets ----------------------------------------------------------
def check_remaining(
    service: ServiceSettings, counts: Counts, key_type: str, channel: str, messages: int
) -> None:
    """GC's bulk "remaining messages" check, in messages (SMS fragments are checked later)."""
    if key_type == "test":
        return
    s, c = service, counts
    if channel == "email":
        remaining = daily_limit(s, "email") - c.email_today
    else:
        remaining = daily_limit(s, "sms") - c.sms_today
    if messages > remaining:
        raise RemainingLimitExceeded(remaining, messages, channel=channel, period="daily")
    year = (s.email_annual_limit - c.email_year) if channel == "email" else (
        s.sms_annual_limit - c.sms_year)  # fmt: skip
    if messages > year:
        raise RemainingLimitExceeded(year, messages, channel=channel, period="annual")


def quota_needs(
    service: ServiceSettings,
    key_type: str,
    channel: str,
    units: int,
    messages: int,
    today: dt.date,
) -> list[Need]:
    """The budgets ``messages`` more (``units`` SMS fragments) take, in the order GC checks
    them: the channel's day, its year. Test keys take none."""
    if key_type == "test":
        return []
    s = service
    if channel == "email":
        return [
            Need(daily_key("email", today), daily_limit(s, "email"), messages),
            Need(annual_key("email", today), s.email_annual_limit, messages),
        ]
    return [
        Need(daily_key("sms", today), daily_limit(s, "sms"), units),
        Need(annual_key("sms", today), s.sms_annual_limit, units),
    ]


def daily_limit(service: ServiceSettings, channel: str) -> int:
    """The channel's daily limit; a trial service's is at most ``TRIAL_DAILY_LIMIT``."""
    limit = service.email_daily_limit if channel == "email" else service.sms_daily_limit
    return min(limit, TRIAL_DAILY_LIMIT) if service.restricted else limit


def refusal(need: Need, key_type: str, channel: str, *, restricted: bool = False) -> DomainError:
    """The error that refuses a request whose ``need`` could not be met (``restricted``: a
    trial service, whose day is refused with GC's trial classes)."""
    kind = need.key.kind
    if kind.startswith("rate:"):
        return RateLimitExceeded(key_type, need.limit)
    if restricted and kind == "daily:email":
        return TrialEmailDailyLimitExceeded(need.limit)
    if restricted and kind == "daily:sms":
        return TrialSmsDailyLimitExceeded(need.limit)
    return {
        "daily:email": EmailDailyLimitExceeded,
        "annual:email": EmailAnnualLimitExceeded,
        "daily:sms": SmsDailyLimitExceeded,
        "annual:sms": SmsAnnualLimitExceeded,
    }[kind](need.limit)
