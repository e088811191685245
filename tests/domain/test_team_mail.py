"""The engine's own mail to service teams: thresholds, periods, numbers in each language,
and templates whose every placeholder a notice fills, in both languages."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

from engine.domain.placeholders import placeholders
from engine.domain.team_mail import TEMPLATES, callback_notice, limit_notice, number
from engine.domain.templates import CompiledEmailTemplate

SID = uuid.uuid4()
DAY = dt.date(2026, 12, 6)


def test_numbers_are_written_as_each_language_writes_them() -> None:
    assert number(12345, "en") == "12,345"
    assert number(12345, "fr") == "12\u00a0345"
    assert number(999, "fr") == "999"


@pytest.mark.parametrize(
    ("used", "template"),
    [(79, None), (80, "daily-limit-near"), (99, "daily-limit-near"), (100, "daily-limit-reached"),
     (130, "daily-limit-reached")],
)  # fmt: skip
def test_daily_thresholds(used: int, template: str | None) -> None:
    notice = limit_notice(SID, "Passports", "daily:email", DAY, used, 100)
    assert (notice and notice.template) == template
    if notice is not None:
        assert notice.period == "email:2026-12-06"  # once a day per channel and level


def test_annual_notice_counts_to_the_end_of_the_fiscal_year() -> None:
    notice = limit_notice(SID, "Passports", "annual:sms", dt.date(2026, 4, 1), 8000, 10000)
    assert notice is not None
    assert notice.template == "annual-limit-near"
    assert notice.period == "sms:2026-04-01"
    assert notice.values["what_next_en"] == (
        "It can send 2,000 more text message parts until April 1, 2027."
    )
    assert notice.values["what_next_fr"] == (
        "Il peut encore envoyer 2\u00a0000 fragments de messages texte avant le 1er avril 2027."
    )


def test_no_notice_for_rate_or_trial_budgets() -> None:
    assert limit_notice(SID, "P", "daily:trial", DAY, 50, 50) is None
    assert limit_notice(SID, "P", "rate:normal", DAY, 50, 50) is None


def _every_notice() -> list[tuple[str, dict[str, str]]]:
    limits = [
        limit_notice(SID, "P", f"{p}:{c}", DAY, used, 100)
        for p in ("daily", "annual")
        for c in ("email", "sms")
        for used in (80, 100)
    ]
    at = dt.datetime(2026, 12, 6, 15, 30, tzinfo=dt.UTC)
    callbacks = [callback_notice(SID, "P", resumed=r, callback_type="delivery_status",
                                 url="https://x.example/cb", reason="25 failures", at=at)
                 for r in (False, True)]  # fmt: skip
    return [(n.template, n.values) for n in [*limits, *callbacks] if n is not None]


@pytest.mark.parametrize(("template", "values"), _every_notice())
def test_every_template_is_bilingual_and_filled(template: str, values: dict[str, str]) -> None:
    t = TEMPLATES[template]
    wanted = {p.lower() for p in placeholders(t.subject) + placeholders(t.content)}
    assert wanted <= set(values), wanted - set(values)
    assert " | " in t.subject  # English | French
    assert t.content.count("[[en]]") == t.content.count("[[/en]]") == 1
    assert t.content.count("[[fr]]") == t.content.count("[[/fr]]") == 1
    rendered = CompiledEmailTemplate(t.subject, t.content).render(values)
    assert "((" not in rendered.subject + rendered.text
    assert not re.search(r"\(\([a-z_]+\)\)", rendered.html)


def test_template_ids_are_distinct() -> None:
    assert len({t.id for t in TEMPLATES.values()}) == len(TEMPLATES)


def test_the_daily_reset_is_named_in_the_services_time_zone() -> None:
    utc = limit_notice(SID, "Passports", "daily:email", DAY, 80, 100)
    local = limit_notice(SID, "Passports", "daily:email", DAY, 80, 100, time_zone="America/Toronto")
    assert utc is not None
    assert local is not None
    assert utc.values["what_next_en"] == "It can send 20 more emails until midnight UTC."
    assert local.values["what_next_en"] == (
        "It can send 20 more emails until midnight (America/Toronto time)."
    )
    assert local.values["what_next_fr"] == (
        "Il peut encore envoyer 20 courriels avant le minuit (heure America/Toronto)."
    )
    assert local.period == utc.period == "email:2026-12-06"  # the window is the local day
