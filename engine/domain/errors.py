"""Domain errors: why a request may not be admitted, in words a client can act on.

    DomainError
    ├── ServiceSuspended
    ├── RateLimitExceeded(key_type, limit)
    ├── LimitExceeded
    │   ├── DailyLimitExceeded(limit)       EmailDailyLimitExceeded / SmsDailyLimitExceeded
    │   │   └── (trial services) TrialEmailDailyLimitExceeded / TrialSmsDailyLimitExceeded
    │   ├── AnnualLimitExceeded(limit)      EmailAnnualLimitExceeded / SmsAnnualLimitExceeded
    │   └── RemainingLimitExceeded(remaining, tried, channel, period)   (bulk, before rows)
    ├── TemplateError
    │   ├── TemplateNotFound
    │   ├── TemplateArchived(template_id)
    │   └── TemplateWrongType(template_type, channel)
    ├── SenderNotFound(field, sender_id, service_id)
    └── RecipientNotAllowed
        ├── TeamKeyRecipient(service_id)      TrialModeRecipient        (one recipient)
        ├── TeamKeyRecipients                 TrialModeRecipients       (a bulk sheet)
        └── InternationalSmsNotAllowed

Rules:
- No HTTP here: the status code and the wire ``error`` name of each class are given in one
  table, ``engine.api.errors.DOMAIN_ERRORS``. Only the message, which is the Notify
  contract's wording (GC's where GC and GOV.UK differ), is made here, from the values each
  error carries; it must stay byte-identical (tests/api/test_errors.py pins it).
- One class per distinct answer: email and SMS limits are separate classes because their
  wire names differ.
"""

from __future__ import annotations

import uuid

DOCS = "https://documentation.notification.canada.ca/en/keys.html"
KEY_TYPE_LABEL = {"normal": "LIVE", "team": "TEAM", "test": "TEST"}


class DomainError(Exception):
    """A request refused by a rule; ``message`` is the client's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServiceSuspended(DomainError):
    def __init__(self) -> None:
        super().__init__("Service is suspended")


class RateLimitExceeded(DomainError):
    def __init__(self, key_type: str, limit: int) -> None:
        self.key_type, self.limit = key_type, limit
        super().__init__(
            f"Exceeded rate limit for key type {KEY_TYPE_LABEL[key_type]} of {limit} requests "
            "per 60 seconds"
        )


class LimitExceeded(DomainError):
    """A daily or annual budget would be passed."""


class DailyLimitExceeded(LimitExceeded):
    def __init__(self, message: str, limit: int) -> None:
        self.limit = limit
        super().__init__(message)


class EmailDailyLimitExceeded(DailyLimitExceeded):
    def __init__(self, limit: int) -> None:
        super().__init__(f"Exceeded email daily sending limit of {limit} messages", limit)


class SmsDailyLimitExceeded(DailyLimitExceeded):
    def __init__(self, limit: int) -> None:
        super().__init__(f"Exceeded SMS daily sending limit of {limit} fragments", limit)


class TrialEmailDailyLimitExceeded(EmailDailyLimitExceeded):
    """GC's ``TrialServiceTooManyEmailRequestsError``: a trial service's day, per channel."""


class TrialSmsDailyLimitExceeded(SmsDailyLimitExceeded):
    """GC's ``TrialServiceTooManySMSRequestsError`` (fragments, like a live service's day)."""


class AnnualLimitExceeded(LimitExceeded):
    def __init__(self, message: str, limit: int) -> None:
        self.limit = limit
        super().__init__(message)


class EmailAnnualLimitExceeded(AnnualLimitExceeded):
    def __init__(self, limit: int) -> None:
        super().__init__(f"Exceeded annual email sending limit of {limit} messages", limit)


class SmsAnnualLimitExceeded(AnnualLimitExceeded):
    def __init__(self, limit: int) -> None:
        super().__init__(f"Exceeded annual SMS sending limit of {limit} messages", limit)


class RemainingLimitExceeded(LimitExceeded):
    """GC's bulk check, before the rows are checked: the sheet has more rows than remain."""

    def __init__(self, remaining: int, tried: int, *, channel: str, period: str) -> None:
        self.remaining, self.tried, self.channel, self.period = remaining, tried, channel, period
        super().__init__(remaining_message(remaining, tried, channel=channel, period=period))


def remaining_message(remaining: int, tried: int, *, channel: str, period: str = "daily") -> str:
    kind = "sms messages" if channel == "sms" else "messages"
    return (
        f"You only have {max(remaining, 0)} remaining {kind} before you reach your {period} "
        f"limit. You've tried to send {tried} {kind}."
    )


class TemplateError(DomainError):
    pass


class TemplateNotFound(TemplateError):
    def __init__(self) -> None:
        super().__init__("Template not found")


class TemplateArchived(TemplateError):
    def __init__(self, template_id: uuid.UUID) -> None:
        self.template_id = template_id
        super().__init__(f"Template {template_id} has been deleted")


class TemplateWrongType(TemplateError):
    def __init__(self, template_type: str, channel: str) -> None:
        self.template_type, self.channel = template_type, channel
        super().__init__(f"{template_type} template is not suitable for {channel} notification")


class SenderNotFound(DomainError):
    """``field`` (email_reply_to_id, sms_sender_id, reply_to_id) names no sender of the
    service; ``sender_id`` is quoted as the client wrote it."""

    def __init__(self, field: str, sender_id: str, service_id: uuid.UUID) -> None:
        self.field, self.sender_id, self.service_id = field, sender_id, service_id
        super().__init__(
            f"{field} {sender_id} does not exist in database for service id {service_id}"
        )


class RecipientNotAllowed(DomainError):
    pass


class TeamKeyRecipient(RecipientNotAllowed):
    def __init__(self, service_id: uuid.UUID) -> None:
        self.service_id = service_id
        super().__init__(
            "Can’t send to this recipient using a team-only API key "
            f"(service {service_id}) - see {DOCS}#team-and-safelist"
        )


class TrialModeRecipient(RecipientNotAllowed):
    def __init__(self) -> None:
        super().__init__(
            f"Can’t send to this recipient when service is in trial mode – see {DOCS}#live"
        )


class TeamKeyRecipients(RecipientNotAllowed):
    def __init__(self) -> None:
        super().__init__(
            "You cannot send to these recipients because you used a team and safelist API key."
        )


class TrialModeRecipients(RecipientNotAllowed):
    def __init__(self) -> None:
        super().__init__(
            "You cannot send to these recipients because your service is in trial mode. You "
            "can only send to members of your team and your safelist."
        )


class InternationalSmsNotAllowed(RecipientNotAllowed):
    def __init__(self) -> None:
        super().__init__("Cannot send to international mobile numbers")
