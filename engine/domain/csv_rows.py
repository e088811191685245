"""Rows for a bulk send (GC ``POST /v2/notifications/bulk``): parse, check, report.

Rules (contract section 1.5, GC ``check_for_csv_errors``):
- The sheet is either ``rows`` (a list of lists, the first one the header) or ``csv``
  text. Values are strings; numbers are written as they are, ``null`` is empty. Rows that
  are empty in every cell are dropped (a trailing newline is not a row).
- Column headers match ignoring case, spaces, ``_`` and ``-`` (``Email_Address`` is
  ``email address``). The header needs the recipient column (``email address`` or
  ``phone number``) and every template placeholder: ``Missing column headers: a, b``
  (sorted). A required column given twice: ``Duplicate column headers: a, A`` (as written,
  in order).
- At most ``MAX_ROWS`` data rows: ``Too many rows. Maximum number of rows allowed is N``.
- Per row, an empty required cell is ``Missing`` and a bad recipient is ``invalid
  recipient``: ``Some rows have errors. Row 1 - `name`: Missing. Row 2 - `email address`:
  invalid recipient.`` (rows numbered from 1, the first ``MAX_ERRORS_SHOWN`` rows named).
Pure functions only; the caller supplies the recipient check.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence

import msgspec

MAX_ROWS = 50_000
MAX_ERRORS_SHOWN = 20
RECIPIENT_COLUMN = {"email": "email address", "sms": "phone number"}
_DROP = dict.fromkeys(map(ord, " _-\t"), None)

# Returns the normalised recipient, or None when the value is not a valid recipient.
RecipientCheck = Callable[[str], str | None]


class SheetError(ValueError):
    """A problem with the whole sheet or its rows; ``message`` is the client's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Sheet(msgspec.Struct, frozen=True):
    headers: list[str]
    rows: list[list[str]]


class Columns(msgspec.Struct, frozen=True):
    recipient: int
    # template placeholder name (as written in the template) -> column index
    placeholders: dict[str, int]


class RowError(msgspec.Struct, frozen=True):
    row: int  # 1-based data row number
    problems: list[tuple[str, str]]  # (header as written, problem)


class CheckedRows(msgspec.Struct, frozen=True):
    recipients: list[str]  # normalised; "" where the row has an error
    personalisations: list[dict[str, str]]
    errors: list[RowError]


def column_key(name: str) -> str:
    return name.translate(_DROP).lower()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def from_rows(rows: Sequence[Sequence[object]]) -> Sheet:
    if not rows:
        return Sheet([], [])
    headers = [_cell(h) for h in rows[0]]
    body = [
        [v if type(v) is str else _cell(v) for v in row]  # strings are the common case
        for row in rows[1:]
    ]
    return Sheet(headers, [r for r in body if "".join(r).strip()])


def from_csv(text: str) -> Sheet:
    try:
        parsed = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as exc:
        raise SheetError(f"Error converting to CSV: {exc}") from None
    return from_rows(parsed)


def check_headers(sheet: Sheet, channel: str, placeholders: Sequence[str]) -> Columns:
    """Map the required columns to their positions, or raise the header errors."""
    recipient = RECIPIENT_COLUMN[channel]
    required = {column_key(recipient): recipient}
    for name in placeholders:
        required.setdefault(column_key(name), name)
    positions: dict[str, list[int]] = {}
    for index, header in enumerate(sheet.headers):
        key = column_key(header)
        if key in required:
            positions.setdefault(key, []).append(index)
    missing = [name for key, name in required.items() if key not in positions]
    if missing:
        raise SheetError(f"Missing column headers: {', '.join(sorted(missing))}")
    duplicates = [
        sheet.headers[i] for indexes in positions.values() if len(indexes) > 1 for i in indexes
    ]
    if duplicates:
        raise SheetError(f"Duplicate column headers: {', '.join(duplicates)}")
    return Columns(
        recipient=positions[column_key(recipient)][0],
        placeholders={name: positions[column_key(name)][0] for name in placeholders},
    )


def check_row_count(sheet: Sheet, max_rows: int = MAX_ROWS) -> None:
    if len(sheet.rows) > max_rows:
        raise SheetError(f"Too many rows. Maximum number of rows allowed is {max_rows}")


def check_rows(
    sheet: Sheet, columns: Columns, is_recipient: RecipientCheck, *, first_row: int = 1
) -> CheckedRows:
    """Validate every row: recipients normalised, personalisation keyed by placeholder.
    ``first_row`` numbers the sheet's first row (callers may check a long sheet in slices)."""
    recipients: list[str] = []
    personalisations: list[dict[str, str]] = []
    errors: list[RowError] = []
    headers = sheet.headers
    r_index = columns.recipient
    wanted = list(columns.placeholders.items())
    for number, row in enumerate(sheet.rows, start=first_row):
        width = len(row)
        problems: list[tuple[str, str]] = []
        raw = row[r_index].strip() if r_index < width else ""
        if not raw:
            problems.append((headers[r_index], "Missing"))
            recipient = ""
        else:
            checked = is_recipient(raw)
            if checked is None:
                problems.append((headers[r_index], "invalid recipient"))
            recipient = checked or ""
        values: dict[str, str] = {}
        for name, index in wanted:
            value = row[index] if index < width else ""
            if index != r_index and not value.strip():
                problems.append((headers[index], "Missing"))
            values[name] = value
        if problems:
            errors.append(RowError(number, problems))
        recipients.append(recipient)
        personalisations.append(values)
    return CheckedRows(recipients, personalisations, errors)


def row_errors_message(errors: Sequence[RowError]) -> str:
    shown = [
        f"Row {e.row} - " + ", ".join(f"`{header}`: {problem}" for header, problem in e.problems)
        for e in errors[:MAX_ERRORS_SHOWN]
    ]
    return f"Some rows have errors. {'. '.join(shown)}."


def sms_too_long_message(row: int, limit: int) -> str:
    return (
        f"Row {row} - has a character count greater than {limit} characters. "
        "Some messages may be too long due to custom content."
    )
