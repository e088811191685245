"""Admission rules, one by one, on plain values: no clock, no database, no actor.

Each test names the rule (engine.domain.admission's docstring) and pins GC's wording."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest

from engine.domain import admission, leases
from engine.domain import errors as de
from engine.domain.admission import Counts

SERVICE_ID = uuid.UUID("11111111-2222-3333-4444-555555555555")
DOCS = "https://documentation.notification.canada.ca/en/keys.html"
TODAY = dt.date(2026, 6, 15)


@dataclasses.dataclass(frozen=True)
class Settings:
    id: uuid.UUID = SERVICE_ID
    restricted: bool = False
    suspended: bool = False
    rate_limit: int = 1000
    international_sms: bool = False
    email_daily_limit: int = 10
    sms_daily_limit: int = 10
    email_annual_limit: int = 100
    sms_annual_limit: int = 100


@dataclasses.dataclass(frozen=True)
class Tpl:
    template_type: str
    archived: bool = False


def counts(**values: int) -> Counts:
    c = Counts(TODAY)
    for name, value in values.items():
        setattr(c, name, value)
    return c


# -- rate limit ------------------------------------------------------------------------
def test_rate_limit_is_one_token_of_the_key_types_bucket_and_refuses_with_gcs_wording() -> None:
    need = admission.rate_need(Settings(rate_limit=3), "test")  # test keys are limited too
    assert need == admission.Need(leases.BudgetKey("rate:test", leases.RATE_WINDOW), 3, 1)
    assert admission.rate_need(Settings(), "team").key.kind == "rate:team"  # per key type
    exc = admission.refusal(admission.rate_need(Settings(rate_limit=3), "normal"), "normal", "")
    assert isinstance(exc, de.RateLimitExceeded)
    assert exc.message == "Exceeded rate limit for key type LIVE of 3 requests per 60 seconds"


def test_a_suspended_service_is_refused() -> None:
    admission.check_active(Settings())
    with pytest.raises(de.ServiceSuspended, match=r"^Service is suspended$"):
        admission.check_active(Settings(suspended=True))


# -- template and sender -----------------------------------------------------------------
def test_template_must_exist_be_live_and_suit_the_channel() -> None:
    live, old = uuid.uuid4(), uuid.uuid4()
    templates = {live: Tpl("email"), old: Tpl("sms", archived=True)}
    assert admission.find_template(templates, live, "email") is templates[live]
    assert admission.find_template(templates, live) is templates[live]  # bulk: any channel
    with pytest.raises(de.TemplateNotFound, match=r"^Template not found$"):
        admission.find_template(templates, uuid.uuid4(), "email")
    with pytest.raises(de.TemplateArchived) as archived:
        admission.find_template(templates, old)
    assert archived.value.message == f"Template {old} has been deleted"
    with pytest.raises(de.TemplateWrongType) as wrong:
        admission.find_template(templates, live, "sms")
    assert wrong.value.message == "email template is not suitable for sms notification"


@pytest.mark.parametrize("field", ["email_reply_to_id", "sms_sender_id", "reply_to_id"])
def test_sender_is_the_default_or_one_of_the_services(field: str) -> None:
    mine = uuid.uuid4()
    senders = {mine: "reply@example.com"}

    def resolve(
        sender_id: uuid.UUID | None, written: str = "", default: str | None = None
    ) -> str | None:
        return admission.resolve_sender(
            senders, default, sender_id, field=field, written=written, service_id=SERVICE_ID
        )

    assert resolve(None, default="default@example.com") == "default@example.com"
    assert resolve(None) is None
    assert resolve(mine, str(mine), "default@example.com") == "reply@example.com"
    other = uuid.uuid4()
    written = str(other).upper()  # quoted as the client wrote it
    with pytest.raises(de.SenderNotFound) as exc:
        resolve(other, written, "default@example.com")
    assert exc.value.message == (
        f"{field} {written} does not exist in database for service id {SERVICE_ID}"
    )


# -- recipients ----------------------------------------------------------------------------
TEAM_EMAILS = frozenset({"me@example.com"})
TEAM_PHONES = frozenset({"+16135550123"})


def test_test_keys_send_anywhere() -> None:
    trial = Settings(restricted=True)
    admission.check_recipient(trial, TEAM_EMAILS, "test", "email", "stranger@example.com")
    admission.check_recipients(trial, TEAM_EMAILS, "test", "email", ["stranger@example.com"])


def test_team_members_are_allowed_whatever_the_key_and_email_case() -> None:
    trial = Settings(restricted=True)
    for key_type in ("normal", "team"):
        admission.check_recipient(trial, TEAM_EMAILS, key_type, "email", "Me@Example.com")
        admission.check_recipient(trial, TEAM_PHONES, key_type, "sms", "+16135550123")
        admission.check_recipients(trial, TEAM_EMAILS, key_type, "email", ["ME@example.com"])


def test_team_key_outside_the_team_is_refused_with_gcs_wording() -> None:
    with pytest.raises(de.TeamKeyRecipient) as one:
        admission.check_recipient(Settings(), TEAM_EMAILS, "team", "email", "x@example.com")
    assert one.value.message == (
        "Can’t send to this recipient using a team-only API key "
        f"(service {SERVICE_ID}) - see {DOCS}#team-and-safelist"
    )
    with pytest.raises(de.TeamKeyRecipients) as many:
        admission.check_recipients(
            Settings(), TEAM_PHONES, "team", "sms", ["+16135550123", "+16135550199"]
        )
    assert many.value.message == (
        "You cannot send to these recipients because you used a team and safelist API key."
    )


def test_trial_mode_live_key_outside_the_team_is_refused_with_gcs_wording() -> None:
    trial = Settings(restricted=True)
    with pytest.raises(de.TrialModeRecipient) as one:
        admission.check_recipient(trial, TEAM_PHONES, "normal", "sms", "+16135550199")
    assert one.value.message == (
        f"Can’t send to this recipient when service is in trial mode – see {DOCS}#live"
    )
    with pytest.raises(de.TrialModeRecipients) as many:
        admission.check_recipients(trial, TEAM_EMAILS, "normal", "email", ["x@example.com"])
    assert many.value.message == (
        "You cannot send to these recipients because your service is in trial mode. You can "
        "only send to members of your team and your safelist."
    )


def test_live_service_live_key_sends_anywhere() -> None:
    admission.check_recipient(Settings(), TEAM_EMAILS, "normal", "email", "x@example.com")
    admission.check_recipients(Settings(), TEAM_EMAILS, "normal", "email", ["x@example.com"])


def test_international_sms_needs_the_permission() -> None:
    admission.check_international(Settings(), international=False)
    admission.check_international(Settings(international_sms=True), international=True)
    with pytest.raises(de.InternationalSmsNotAllowed) as exc:
        admission.check_international(Settings(), international=True)
    assert exc.value.message == "Cannot send to international mobile numbers"


# -- daily and annual budgets ---------------------------------------------------------------
YEAR = dt.date(2026, 4, 1)


def needs(
    s: Settings, key_type: str, channel: str, units: int, messages: int = 1
) -> list[tuple[str, int, int]]:
    got = admission.quota_needs(s, key_type, channel, units, messages, TODAY)
    assert all(n.key.window == (YEAR if n.key.kind.startswith("annual") else TODAY) for n in got)
    return [(n.key.kind, n.limit, n.amount) for n in got]


def refused(s: Settings, key_type: str, channel: str, kind: str) -> str:
    need = next(
        n for n in admission.quota_needs(s, key_type, channel, 1, 1, TODAY) if n.key.kind == kind
    )
    return admission.refusal(need, key_type, channel).message


def test_email_counts_messages_a_day_and_a_year() -> None:
    s = Settings(email_daily_limit=10, email_annual_limit=100)
    assert needs(s, "team", "email", units=6, messages=6) == [
        ("daily:email", 10, 6), ("annual:email", 100, 6)]  # fmt: skip
    assert refused(s, "normal", "email", "daily:email") == (
        "Exceeded email daily sending limit of 10 messages")  # fmt: skip
    assert refused(s, "normal", "email", "annual:email") == (
        "Exceeded annual email sending limit of 100 messages")  # fmt: skip


def test_sms_counts_fragments_a_day_and_a_year() -> None:
    # GC counts billable units (fragments) for both SMS limits (FF_USE_BILLABLE_UNITS).
    s = Settings(sms_daily_limit=10, sms_annual_limit=100)
    assert needs(s, "normal", "sms", units=3) == [("daily:sms", 10, 3), ("annual:sms", 100, 3)]
    assert refused(s, "normal", "sms", "daily:sms") == (
        "Exceeded SMS daily sending limit of 10 fragments")  # fmt: skip
    assert refused(s, "normal", "sms", "annual:sms") == (
        "Exceeded annual SMS sending limit of 100 messages")  # fmt: skip


def test_trial_services_have_50_a_day_per_channel_with_gcs_trial_errors() -> None:
    # GC: a trial service's email and SMS days are counted apart (50 emails, 50 fragments),
    # refused by TrialServiceTooManyEmailRequestsError / ...SMSRequestsError.
    trial = Settings(restricted=True, email_daily_limit=1000, sms_daily_limit=1000)
    assert needs(trial, "normal", "sms", units=2)[0] == ("daily:sms", 50, 2)
    assert needs(trial, "team", "email", units=1)[0] == ("daily:email", 50, 1)
    assert needs(Settings(restricted=True, email_daily_limit=20), "normal", "email", units=1)[
        0] == ("daily:email", 20, 1)  # fmt: skip
    email = admission.refusal(
        admission.quota_needs(trial, "team", "email", 1, 1, TODAY)[0], "team", "email",
        restricted=True,
    )  # fmt: skip
    assert type(email) is de.TrialEmailDailyLimitExceeded
    assert email.message == "Exceeded email daily sending limit of 50 messages"
    sms = admission.refusal(
        admission.quota_needs(trial, "normal", "sms", 2, 1, TODAY)[0], "normal", "sms",
        restricted=True,
    )  # fmt: skip
    assert type(sms) is de.TrialSmsDailyLimitExceeded
    assert sms.message == "Exceeded SMS daily sending limit of 50 fragments"


def test_test_keys_are_never_counted_nor_refused_by_budgets() -> None:
    full = counts(email_today=10, email_year=100, sms_today=10, sms_year=100)
    assert needs(Settings(restricted=True), "test", "email", units=1) == []
    admission.check_remaining(Settings(), full, "test", "sms", 1000)


def test_bulk_remaining_check_in_messages_with_gcs_wording() -> None:
    s = Settings(email_daily_limit=10, email_annual_limit=12)
    admission.check_remaining(s, counts(email_today=5), "normal", "email", 5)
    with pytest.raises(de.RemainingLimitExceeded) as daily:
        admission.check_remaining(s, counts(email_today=5), "normal", "email", 6)
    assert daily.value.message == (
        "You only have 5 remaining messages before you reach your daily limit. "
        "You've tried to send 6 messages."
    )
    with pytest.raises(de.RemainingLimitExceeded) as annual:
        admission.check_remaining(s, counts(email_year=14), "normal", "email", 1)
    assert annual.value.message == (  # never a negative number
        "You only have 0 remaining messages before you reach your annual limit. "
        "You've tried to send 1 messages."
    )
    with pytest.raises(de.RemainingLimitExceeded, match="remaining sms messages") as sms:
        admission.check_remaining(Settings(sms_daily_limit=2), counts(), "normal", "sms", 3)
    assert sms.value.remaining == 2
    trial = Settings(restricted=True, email_daily_limit=1000)
    # A trial day is per channel: 9 SMS sent take nothing from the 50 emails.
    admission.check_remaining(trial, counts(email_today=40, sms_today=9), "team", "email", 10)
    with pytest.raises(de.RemainingLimitExceeded, match="You only have 1 remaining"):
        admission.check_remaining(trial, counts(email_today=49, sms_today=9), "team", "email", 2)


# -- days and fiscal years ----------------------------------------------------------------
def test_a_new_day_is_a_new_daily_budget_and_april_first_a_new_annual_one() -> None:
    march, april = dt.date(2027, 3, 31), dt.date(2027, 4, 1)
    s = Settings()
    before = {n.key for n in admission.quota_needs(s, "normal", "email", 1, 1, march)}
    after = {n.key for n in admission.quota_needs(s, "normal", "email", 1, 1, april)}
    assert before == {
        leases.BudgetKey("daily:email", march),
        leases.BudgetKey("annual:email", YEAR),
    }
    assert after == {
        leases.BudgetKey("daily:email", april),
        leases.BudgetKey("annual:email", april),
    }
    assert all(leases.current(k, march) for k in before)
    assert not any(leases.current(k, april) for k in before)
    assert leases.current(leases.BudgetKey("annual:email", YEAR), TODAY)
