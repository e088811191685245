"""Recipient validation with Notify's messages."""

from __future__ import annotations

import pytest

from engine.domain.recipients import (
    InvalidRecipient,
    is_simulated_email,
    is_simulated_phone,
    region_problem,
    validate_email_address,
    validate_phone_number,
)


@pytest.mark.parametrize(
    "address",
    ["someone@example.gc.ca", "first.last+tag@sub.example.com", "o'brien@example.ie",
     " spaced@example.com ", "zero\u200bwidth@example.com", "x@xn--bcher-kva.example"],
)  # fmt: skip
def test_valid_email_addresses_are_accepted_and_cleaned(address: str) -> None:
    cleaned = validate_email_address(address)
    assert cleaned == cleaned.strip()
    assert "\u200b" not in cleaned


@pytest.mark.parametrize(
    "address",
    ["", "plainaddress", "two@@example.com", "a@b@example.com", "dots..here@example.com",
     "no-tld@example", "bad-tld@example.c0m", "space in@example.com", "x@-leading.example.com",
     "x@" + "a" * 64 + ".com", "a" * 65 + "@example.com", "x@.example.com"],
)  # fmt: skip
def test_invalid_email_addresses_get_notifys_message(address: str) -> None:
    with pytest.raises(InvalidRecipient) as exc:
        validate_email_address(address)
    assert exc.value.message == "Not a valid email address"


@pytest.mark.parametrize(
    ("number", "e164", "international"),
    [("613-555-0123", "+16135550123", False), ("(613) 555 0123", "+16135550123", False),
     ("+1 613 555 0123", "+16135550123", False), ("16135550123", "+16135550123", False),
     ("+33 6 12 34 56 78", "+33612345678", True), ("0033612345678", "+33612345678", True),
     ("+447700900000", "+447700900000", True)],
)  # fmt: skip
def test_phone_numbers_are_stored_in_e164(number: str, e164: str, international: bool) -> None:
    parsed = validate_phone_number(number)
    assert parsed.e164 == e164
    assert parsed.is_international is international


@pytest.mark.parametrize(
    ("number", "message"),
    [("613555012a", "Must not contain letters or symbols"),
     ("613#5550123", "Must not contain letters or symbols"),
     ("61355", "Not enough digits"),
     ("+1613555012345678", "Too many digits"),
     ("+999 1234567", "Not a valid country prefix")],
)  # fmt: skip
def test_invalid_phone_numbers_say_what_is_wrong(number: str, message: str) -> None:
    with pytest.raises(InvalidRecipient) as exc:
        validate_phone_number(number)
    assert exc.value.message == message


def test_simulated_recipients_are_recognised() -> None:
    assert is_simulated_email("Simulate-Delivered-2@notification.canada.ca")
    assert not is_simulated_email("someone@notification.canada.ca")
    assert is_simulated_phone(validate_phone_number("613 253 2222").e164)
    assert not is_simulated_phone("+16135550123")


# -- regions (issue 22): local formats of the service's phone region ---------------------
@pytest.mark.parametrize(
    ("number", "region", "e164", "international"),
    [
        ("0412 345 678", "AU", "+61412345678", False),  # an Australian mobile, local form
        ("04 1234 5678", "AU", "+61412345678", False),
        ("(02) 9876 5432", "AU", "+61298765432", False),  # a Sydney landline
        ("+61 412 345 678", "CA", "+61412345678", True),  # AU written in full: international
        ("613 555 0123", "CA", "+16135550123", False),
        ("613-555-0123", "US", "+16135550123", False),  # +1 is local to the US as to CA
        ("(212) 555-0123", "US", "+12125550123", False),
        ("+1 613 555 0123", "AU", "+16135550123", True),  # +1 from an AU service
    ],
)
def test_local_numbers_are_read_in_the_service_region(
    number: str, region: str, e164: str, international: bool
) -> None:
    parsed = validate_phone_number(number, region)
    assert (parsed.e164, parsed.is_international) == (e164, international)


@pytest.mark.parametrize(
    ("number", "region"),
    [("0412 345 678", "CA"), ("613 555 0123", "AU"), ("04123", "AU")],
)
def test_another_regions_local_number_is_refused(number: str, region: str) -> None:
    with pytest.raises(InvalidRecipient):
        validate_phone_number(number, region)


def test_the_default_region_is_canada() -> None:
    assert validate_phone_number("613 555 0123") == validate_phone_number("613 555 0123", "CA")


def test_regions_are_checked() -> None:
    assert region_problem("AU") is None
    assert region_problem("CA") is None
    for bad in ("ZZ", "au", "", "CAN", "001"):
        assert region_problem(bad) is not None


def test_an_ascii_domain_is_judged_as_its_idna_form_would_be() -> None:
    """The IDNA codec is skipped for ASCII domains: every domain it refuses is still
    refused, by the label checks, and the accepted ones come back unchanged."""
    import random

    rng = random.Random(21)
    alphabet = "ab-0."
    domains = [
        "a" * 63 + ".ca", "a" * 64 + ".ca", "example.com.", ".example.com", "x..y.ca",
        "ex.ca", "-ex.ca", "ex-.ca", "xn--bcher-kva.example", "a." * 126 + "ca",
    ]  # fmt: skip
    domains += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) + ".ca"
                for _ in range(3000)]  # fmt: skip
    refused_by_idna = 0
    for domain in domains:
        address = f"someone@{domain}"
        try:
            domain.encode("idna")
        except UnicodeError:
            refused_by_idna += 1
            with pytest.raises(InvalidRecipient):
                validate_email_address(address)
            continue
        try:
            assert validate_email_address(address) == address
        except InvalidRecipient:
            pass  # refused by Notify's own rules, as before
    assert refused_by_idna > 100  # the sample holds many domains the codec refuses
