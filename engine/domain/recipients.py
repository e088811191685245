"""Recipient validation: email addresses and phone numbers, with Notify's messages.

Rules (contract sections 1.2, 1.3, 5.1, 5.2):
- Email syntax follows Notify's own checks (not RFC 5322 in full): one ``@``, an ASCII
  local part of allowed characters, at most 320 characters in all, a domain of at least
  two labels, each a valid hostname label, the last a real-looking TLD, no ``..``. Zero
  width and surrounding white space is removed first. Failure: ``Not a valid email
  address``.
- Phone numbers are parsed with ``phonenumbers`` and stored in E.164. A number without
  ``+`` (or ``00``) is read in the service's phone region (issue 22: its ``phone_region``,
  else the deployment's ``NOTIFY_DEFAULT_PHONE_REGION``, CA by default), so that region's
  local formats are accepted (AU ``0412 345 678`` -> ``+61412345678``; CA/US
  ``613 555 0123`` -> ``+16135550123``). A number outside the region's country calling
  code is international (CA, as GC: anything outside +1): the service needs the
  international permission. UK-style messages name what is wrong.
- A region is an ISO 3166 alpha-2 code that ``phonenumbers`` has metadata for
  (``region_problem``).
- Simulated (smoke-test) recipients are answered with 201 and never persisted.
Pure functions only.
"""

from __future__ import annotations

import re
from functools import lru_cache

import msgspec
import phonenumbers

__all__ = [
    "InvalidRecipient",
    "PhoneNumber",
    "is_simulated_email",
    "is_simulated_phone",
    "region_problem",
    "validate_email_address",
    "validate_phone_number",
]

SIMULATED_EMAILS = frozenset(
    f"{local}@{domain}"
    for local in ("simulate-delivered", "simulate-delivered-2", "simulate-delivered-3")
    for domain in ("notification.canada.ca", "notifications.service.gov.uk")
)
SIMULATED_PHONES = frozenset(
    {"+16132532222", "+16132532223", "+16132532224", "+447700900000", "+447700900111",
     "+447700900222"}
)  # fmt: skip

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00a0"), None)
_LOCAL = re.compile(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~\-]+$")
_LABEL = re.compile(r"^(xn|[a-z0-9]+)(-?-[a-z0-9]+)*$", re.IGNORECASE)
_TLD = re.compile(r"^([a-z]{2,63}|xn--([a-z0-9]+-)*[a-z0-9]+)$", re.IGNORECASE)
_PHONE_CHARS = re.compile(r"[\s().\-/]")
_MAX_EMAIL = 320


class InvalidRecipient(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PhoneNumber(msgspec.Struct, frozen=True):
    e164: str
    is_international: bool


def validate_email_address(value: str) -> str:
    """Return the address, cleaned of stray white space; raise InvalidRecipient."""
    address = value.translate(_INVISIBLE).strip()
    if len(address) > _MAX_EMAIL or address.count("@") != 1 or ".." in address:
        raise InvalidRecipient("Not a valid email address")
    local, domain = address.split("@")
    if not local or len(local) > 64 or not _LOCAL.match(local):
        raise InvalidRecipient("Not a valid email address")
    # An ASCII domain is its own IDNA form: the codec (pure Python, ~1 us, a fifth of
    # this check) would only test the label lengths that the checks below test too.
    ascii_domain = domain
    if not domain.isascii():
        try:
            ascii_domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidRecipient("Not a valid email address") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or len(ascii_domain) > 253:
        raise InvalidRecipient("Not a valid email address")
    if not all(0 < len(label) <= 63 and _LABEL.match(label) for label in labels):
        raise InvalidRecipient("Not a valid email address")
    if not _TLD.match(labels[-1]):
        raise InvalidRecipient("Not a valid email address")
    return address


def lookup_form(recipient: str) -> str:
    """A recipient as lookups compare it (keyed hashes, team checks): an email address
    lower cased, a phone number as given (the engine holds them in E.164)."""
    value = recipient.strip()
    return value.lower() if "@" in value else value


def region_problem(region: str) -> str | None:
    """Why ``region`` is not a phone region we can read local numbers in, or None."""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        return f"phone_region {region} is not a supported ISO 3166 region code (such as CA, AU)"
    return None


def validate_phone_number(value: str, region: str = "CA") -> PhoneNumber:
    """Parse a phone number (local formats of ``region`` accepted); return it in E.164 with
    its international flag (outside ``region``'s country calling code)."""
    compact = _PHONE_CHARS.sub("", value.translate(_INVISIBLE))
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    digits = compact[1:] if compact.startswith("+") else compact
    if not digits.isdigit():
        raise InvalidRecipient("Must not contain letters or symbols")
    try:
        parsed = phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidRecipient(_parse_error(exc.error_type)) from None
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    if reason == phonenumbers.ValidationResult.TOO_SHORT:
        raise InvalidRecipient("Not enough digits")
    if reason == phonenumbers.ValidationResult.TOO_LONG:
        raise InvalidRecipient("Too many digits")
    if reason == phonenumbers.ValidationResult.INVALID_COUNTRY_CODE:
        raise InvalidRecipient("Not a valid country prefix")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if e164 not in SIMULATED_PHONES and not phonenumbers.is_valid_number(parsed):
        raise InvalidRecipient("Not a valid phone number")
    return PhoneNumber(e164, parsed.country_code != _calling_code(region))


@lru_cache(maxsize=64)
def _calling_code(region: str) -> int:
    return phonenumbers.country_code_for_region(region)


def _parse_error(kind: int) -> str:
    if kind == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        return "Not a valid country prefix"
    if kind == phonenumbers.NumberParseException.TOO_LONG:
        return "Too many digits"
    if kind == phonenumbers.NumberParseException.NOT_A_NUMBER:
        return "Must not contain letters or symbols"
    return "Not enough digits"


def is_simulated_email(address: str) -> bool:
    return address.lower() in SIMULATED_EMAILS


def is_simulated_phone(e164: str) -> bool:
    return e164 in SIMULATED_PHONES
