"""API errors, rendered in Notify's v2 envelope.

    {"status_code": N, "errors": [{"error": name, "message": m}]}

Two sources, one envelope:
- ``ApiError`` and its subclasses: errors only the API can make (auth, malformed JSON,
  schema, routing, files, admin):

    ApiError
    ├── BadRequestError (400)
    ├── ValidationError (400)     several messages in one response
    ├── AuthError (401 / 403)
    ├── NotFoundError (404)       "No result found" (NoResultFound)
    ├── RateLimitError (429)
    └── TooManyRequestsError (429)

- ``engine.domain.errors.DomainError``: a rule refused the request. ``DOMAIN_ERRORS`` below
  is the one place giving each domain error its status code and wire name; the message is
  the error's own. The ASGI app renders both (``engine.api.app``).

- ``engine.store.errors.DatabaseUnavailable``: the database cannot be reached. Always
  503 ``ServiceUnavailable`` with a ``Retry-After`` header (``database_unavailable``), and
  no traceback logged: the store logs the outage once, when it starts and ends.

The ``error`` string on the wire is explicit, never the Python class name, so renaming a
class never changes the contract.
"""

from __future__ import annotations

import msgspec

from engine.domain import errors as de


class ErrorItem(msgspec.Struct, frozen=True):
    error: str
    message: str


class ErrorEnvelope(msgspec.Struct, frozen=True):
    status_code: int
    errors: list[ErrorItem]


_encode = msgspec.json.Encoder().encode


class ApiError(Exception):
    status_code = 400
    wire_name = "BadRequestError"

    def __init__(
        self, message: str, *, status_code: int | None = None, wire_name: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if wire_name is not None:
            self.wire_name = wire_name

    def items(self) -> list[ErrorItem]:
        return [ErrorItem(self.wire_name, self.message)]

    def body(self) -> bytes:
        return _encode(ErrorEnvelope(self.status_code, self.items()))


class BadRequestError(ApiError):
    pass


class ValidationError(ApiError):
    wire_name = "ValidationError"

    def __init__(self, messages: list[str]) -> None:
        unique = list(dict.fromkeys(messages))
        super().__init__("; ".join(unique))
        self.messages = unique

    def items(self) -> list[ErrorItem]:
        return [ErrorItem(self.wire_name, m) for m in self.messages]


class AuthError(ApiError):
    wire_name = "AuthError"
    status_code = 403


class NotFoundError(ApiError):
    wire_name = "NoResultFound"
    status_code = 404

    def __init__(self, message: str = "No result found") -> None:
        super().__init__(message)


class RateLimitError(ApiError):
    wire_name = "RateLimitError"
    status_code = 429


class TooManyRequestsError(ApiError):
    wire_name = "TooManyRequestsError"
    status_code = 429


def error_body(status_code: int, wire_name: str, message: str) -> bytes:
    return _encode(ErrorEnvelope(status_code, [ErrorItem(wire_name, message)]))


# Domain error class -> (status code, wire ``error`` name); the message is the error's.
# A subclass not listed takes its nearest listed base's entry.
DOMAIN_ERRORS: dict[type[de.DomainError], tuple[int, str]] = {
    de.ServiceSuspended: (403, "BadRequestError"),
    de.RateLimitExceeded: (429, "RateLimitError"),
    de.EmailDailyLimitExceeded: (429, "LiveServiceTooManyEmailRequestsError"),
    de.EmailAnnualLimitExceeded: (429, "LiveServiceTooManyEmailRequestsError"),
    de.SmsDailyLimitExceeded: (429, "LiveServiceTooManySMSRequestsError"),
    de.TrialEmailDailyLimitExceeded: (429, "TrialServiceTooManyEmailRequestsError"),
    de.TrialSmsDailyLimitExceeded: (429, "TrialServiceTooManySMSRequestsError"),
    de.SmsAnnualLimitExceeded: (429, "LiveServiceTooManySMSRequestsError"),
    de.RemainingLimitExceeded: (400, "BadRequestError"),  # GC: a check of the sheet
    de.TemplateError: (400, "BadRequestError"),
    de.SenderNotFound: (400, "BadRequestError"),
    de.RecipientNotAllowed: (400, "BadRequestError"),
}


def domain_error_wire(exc: de.DomainError) -> tuple[int, str, str]:
    """(status code, wire name, message) of a domain error."""
    for cls in type(exc).__mro__:
        entry = DOMAIN_ERRORS.get(cls)
        if entry is not None:
            return entry[0], entry[1], exc.message
    raise LookupError(f"no wire form for {type(exc).__name__}")


def domain_error_body(exc: de.DomainError) -> tuple[int, bytes]:
    status, name, message = domain_error_wire(exc)
    return status, error_body(status, name, message)


# The database cannot be reached: the request may succeed if sent again. Notify's docs give
# no wording for a 503; the name is the one its Flask app (and our server) use for 503.
RETRY_AFTER_S = 2
_UNAVAILABLE_BODY = error_body(
    503,
    "ServiceUnavailable",
    f"The service is temporarily unavailable (database unreachable): retry in {RETRY_AFTER_S} s",
)
_UNAVAILABLE_HEADERS = [(b"retry-after", str(RETRY_AFTER_S).encode())]


def database_unavailable() -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """(status, body, headers) of every answer given while the database is unreachable."""
    return 503, _UNAVAILABLE_BODY, list(_UNAVAILABLE_HEADERS)
