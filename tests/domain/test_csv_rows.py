"""Bulk-send sheets: parsing rows and csv, header checks, row checks, GC's messages."""

from __future__ import annotations

import pytest

from engine.domain import csv_rows
from engine.domain.csv_rows import SheetError


def email_check(value: str) -> str | None:
    return value.strip() if "@" in value else None


def test_rows_and_csv_give_the_same_sheet() -> None:
    rows = csv_rows.from_rows([["email address", "name"], ["a@example.com", "Ada"], [None, 5]])
    text = csv_rows.from_csv("email address,name\r\na@example.com,Ada\r\n,5\r\n\r\n")
    assert rows == text
    assert rows.headers == ["email address", "name"]
    assert rows.rows == [["a@example.com", "Ada"], ["", "5"]]


def test_blank_rows_are_dropped_and_numbers_are_written_plainly() -> None:
    sheet = csv_rows.from_rows(
        [["phone number", "n"], ["", ""], ["+16135550123", 7.0], [" ", None]]
    )
    assert sheet.rows == [["+16135550123", "7"]]


def test_a_byte_order_mark_does_not_hide_the_first_header() -> None:
    sheet = csv_rows.from_csv("\ufeffemail address\nx@example.com\n")
    assert sheet.headers == ["email address"]


def test_headers_match_ignoring_case_spaces_underscores_and_dashes() -> None:
    sheet = csv_rows.from_rows([["Email_Address", "First-Name", "extra"], ["a@b.co", "Ada", "x"]])
    columns = csv_rows.check_headers(sheet, "email", ["first name"])
    assert columns.recipient == 0
    assert columns.placeholders == {"first name": 1}


def test_missing_headers_are_listed_sorted() -> None:
    sheet = csv_rows.from_rows([["name"], ["Ada"]])
    with pytest.raises(SheetError) as exc:
        csv_rows.check_headers(sheet, "email", ["name", "code", "city"])
    assert exc.value.message == "Missing column headers: city, code, email address"


def test_sms_sheet_needs_a_phone_number_column() -> None:
    sheet = csv_rows.from_rows([["email address"], ["a@b.co"]])
    with pytest.raises(SheetError) as exc:
        csv_rows.check_headers(sheet, "sms", [])
    assert exc.value.message == "Missing column headers: phone number"


def test_duplicate_headers_are_named_as_written_in_order() -> None:
    sheet = csv_rows.from_rows([["email address", "name", "Email Address"], ["a", "b", "c"]])
    with pytest.raises(SheetError) as exc:
        csv_rows.check_headers(sheet, "email", ["name"])
    assert exc.value.message == "Duplicate column headers: email address, Email Address"


def test_too_many_rows() -> None:
    sheet = csv_rows.from_rows([["email address"]] + [["a@b.co"]] * 4)
    csv_rows.check_row_count(sheet, max_rows=4)
    with pytest.raises(SheetError) as exc:
        csv_rows.check_row_count(sheet, max_rows=3)
    assert exc.value.message == "Too many rows. Maximum number of rows allowed is 3"
    assert csv_rows.MAX_ROWS == 50_000


def test_row_errors_name_rows_from_one_and_each_bad_cell() -> None:
    sheet = csv_rows.from_rows(
        [
            ["email address", "name"],
            ["ok@example.com", ""],
            ["not-an-address", "Bob"],
            [" ", "Dee"],
            ["fine@example.com", "Cy"],
        ]
    )
    columns = csv_rows.check_headers(sheet, "email", ["name"])
    checked = csv_rows.check_rows(sheet, columns, email_check)
    assert checked.recipients == ["ok@example.com", "", "", "fine@example.com"]
    assert checked.personalisations[3] == {"name": "Cy"}
    assert csv_rows.row_errors_message(checked.errors) == (
        "Some rows have errors. Row 1 - `name`: Missing. "
        "Row 2 - `email address`: invalid recipient. "
        "Row 3 - `email address`: Missing."
    )


def test_short_rows_count_as_missing_values() -> None:
    sheet = csv_rows.from_rows([["email address", "name"], ["a@example.com"]])
    columns = csv_rows.check_headers(sheet, "email", ["name"])
    checked = csv_rows.check_rows(sheet, columns, email_check)
    assert csv_rows.row_errors_message(checked.errors) == (
        "Some rows have errors. Row 1 - `name`: Missing."
    )


def test_only_the_first_rows_with_errors_are_named() -> None:
    sheet = csv_rows.from_rows([["email address"]] + [["bad"]] * 30)
    columns = csv_rows.check_headers(sheet, "email", [])
    checked = csv_rows.check_rows(sheet, columns, email_check)
    assert len(checked.errors) == 30
    message = csv_rows.row_errors_message(checked.errors)
    assert "Row 20 -" in message
    assert "Row 21 -" not in message


def test_a_placeholder_named_like_the_recipient_column_is_not_doubled() -> None:
    sheet = csv_rows.from_rows([["email address"], ["a@example.com"]])
    columns = csv_rows.check_headers(sheet, "email", ["Email Address"])
    checked = csv_rows.check_rows(sheet, columns, email_check)
    assert checked.errors == []
    assert checked.personalisations == [{"Email Address": "a@example.com"}]


def test_bad_csv_is_reported() -> None:
    with pytest.raises(SheetError) as exc:
        csv_rows.from_csv('email address\n"' + "x" * 200_000 + '"\n')
    assert exc.value.message.startswith("Error converting to CSV: ")


def test_message_for_long_sms() -> None:
    # (The "remaining messages" wording moved with the rule: tests/domain/test_admission.py.)
    assert csv_rows.sms_too_long_message(4, 612) == (
        "Row 4 - has a character count greater than 612 characters. "
        "Some messages may be too long due to custom content."
    )


def test_a_slice_of_a_long_sheet_keeps_its_row_numbers() -> None:
    sheet = csv_rows.from_rows([["email address"], ["bad"]])
    columns = csv_rows.check_headers(sheet, "email", [])
    checked = csv_rows.check_rows(sheet, columns, email_check, first_row=5003)
    assert csv_rows.row_errors_message(checked.errors) == (
        "Some rows have errors. Row 5003 - `email address`: invalid recipient."
    )
