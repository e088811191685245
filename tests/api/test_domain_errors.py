"""The one table from domain errors to the Notify envelope (engine.api.errors)."""

from __future__ import annotations

import json
import uuid

import pytest

from engine.api.errors import DOMAIN_ERRORS, domain_error_body, domain_error_wire
from engine.domain import errors as de


def _all(cls: type[de.DomainError]) -> list[type[de.DomainError]]:
    subs = cls.__subclasses__()
    return subs + [s for sub in subs for s in _all(sub)]


@pytest.mark.parametrize("cls", [c for c in _all(de.DomainError) if not c.__subclasses__()])
def test_every_domain_error_has_a_wire_form(cls: type[de.DomainError]) -> None:
    assert any(base in DOMAIN_ERRORS for base in cls.__mro__), cls


@pytest.mark.parametrize(
    ("error", "status", "name"),
    [
        (de.ServiceSuspended(), 403, "BadRequestError"),
        (de.RateLimitExceeded("normal", 3), 429, "RateLimitError"),
        (de.TrialEmailDailyLimitExceeded(50), 429, "TrialServiceTooManyEmailRequestsError"),
        (de.TrialSmsDailyLimitExceeded(50), 429, "TrialServiceTooManySMSRequestsError"),
        (de.EmailDailyLimitExceeded(1), 429, "LiveServiceTooManyEmailRequestsError"),
        (de.EmailAnnualLimitExceeded(1), 429, "LiveServiceTooManyEmailRequestsError"),
        (de.SmsDailyLimitExceeded(1), 429, "LiveServiceTooManySMSRequestsError"),
        (de.SmsAnnualLimitExceeded(1), 429, "LiveServiceTooManySMSRequestsError"),
        (de.RemainingLimitExceeded(1, 2, channel="email", period="daily"), 400,
         "BadRequestError"),
        (de.TemplateNotFound(), 400, "BadRequestError"),
        (de.SenderNotFound("sms_sender_id", "x", uuid.uuid4()), 400, "BadRequestError"),
        (de.TeamKeyRecipients(), 400, "BadRequestError"),
        (de.InternationalSmsNotAllowed(), 400, "BadRequestError"),
    ],
)  # fmt: skip
def test_status_and_wire_name(error: de.DomainError, status: int, name: str) -> None:
    assert domain_error_wire(error) == (status, name, error.message)


def test_body_is_the_notify_envelope() -> None:
    status, body = domain_error_body(de.RateLimitExceeded("team", 3))
    assert status == 429
    assert json.loads(body) == {
        "status_code": 429,
        "errors": [
            {
                "error": "RateLimitError",
                "message": "Exceeded rate limit for key type TEAM of 3 requests per 60 seconds",
            }
        ],
    }


def test_an_unmapped_domain_error_is_a_bug_not_a_silent_answer() -> None:
    class Unknown(de.DomainError):
        pass

    with pytest.raises(LookupError, match="Unknown"):
        domain_error_wire(Unknown("?"))
