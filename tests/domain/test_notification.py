"""One accepted notification: its stored row, its provider message and the 201, all built
from the row."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from engine.domain import notification as nt
from engine.domain import statuses as st
from engine.domain.sanitise import Sanitised
from engine.domain.templates import CompiledEmailTemplate, CompiledSmsTemplate

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(days=1)
SERVICE = uuid.UUID(int=1)
TEMPLATE = uuid.UUID(int=2)
KEY = uuid.UUID(int=3)
WORKER = uuid.UUID(int=4)
JOB = uuid.UUID(int=5)
BASE = "https://api.example/"

EMAIL = CompiledEmailTemplate("Hello ((name))", "Dear ((name)),\n\nYour code is **((code))**.")
SMS = CompiledSmsTemplate("Code ((code)) for ((name))", prefix="Svc")


class Service(msgspec.Struct, frozen=True):
    name: str
    email_from: str
    sending_domain: str | None


def spec(channel: str = "email", **overrides: Any) -> nt.RowSpec:
    values: dict[str, Any] = {
        "service_id": SERVICE,
        "template_id": TEMPLATE,
        "template_version": 3,
        "api_key_id": KEY,
        "key_type": "normal",
        "channel": channel,
        "lane": "priority",
        "sender": "reply@example.org" if channel == "email" else "+15145550100",
        "reference": "ref-1",
        "scheduled_for": None,
        "created_at": NOW,
        "owner": WORKER,
        **overrides,
    }
    return nt.RowSpec(**values)


def email_row(**overrides: Any) -> nt.NotificationRow:
    values = {"name": "Ada", "code": "42"}
    return nt.accepted_row(
        spec(), uuid.UUID(int=10), "ada@example.org", values, EMAIL.render(values), **overrides
    )


def sms_row() -> nt.NotificationRow:
    values = {"name": "Ada", "code": "42"}
    return nt.accepted_row(
        spec("sms"), uuid.UUID(int=11), "+15145550199", values, SMS.render(values)
    )


# -- the stored row ---------------------------------------------------------------------


def test_an_email_row_stores_subject_text_body_and_one_billable_unit() -> None:
    row = email_row()
    assert row.id == uuid.UUID(int=10)
    assert (row.service_id, row.template_id, row.template_version) == (SERVICE, TEMPLATE, 3)
    assert (row.api_key_id, row.key_type, row.notification_type) == (KEY, "normal", "email")
    assert row.recipient == "ada@example.org"
    assert row.status == st.CREATED
    assert row.client_reference == "ref-1"
    assert msgspec.json.decode(row.personalisation or "") == {"name": "Ada", "code": "42"}
    assert row.subject == "Hello Ada"
    assert row.body == "Dear Ada,\n\nYour code is 42."
    assert row.reply_to_text == "reply@example.org"
    assert (row.process_type, row.billable_units) == ("priority", 1)
    assert (row.job_id, row.job_row_number, row.scheduled_for) == (None, None, None)
    assert (row.unsubscribe_url, row.created_at, row.owner) == (None, NOW, WORKER)


def test_an_sms_row_stores_the_body_no_subject_and_its_fragments() -> None:
    long = CompiledSmsTemplate("((text))")
    values = {"text": "x" * 200}
    row = nt.accepted_row(
        spec("sms"), uuid.UUID(int=12), "+15145550199", values, long.render(values)
    )
    assert row.notification_type == "sms"
    assert row.subject is None
    assert row.body == "x" * 200
    assert row.billable_units == 2
    assert row.reply_to_text == "+15145550100"
    assert sms_row().body == "Svc: Code 42 for Ada"


def test_a_row_keeps_the_sanitised_subject_and_the_unsubscribe_url() -> None:
    row = email_row(subject="Hello a. b", unsubscribe_url="https://example.org/unsub")
    assert row.subject == "Hello a. b"
    assert row.unsubscribe_url == "https://example.org/unsub"


def test_a_bulk_row_carries_its_job_and_place_and_no_empty_personalisation() -> None:
    plain = CompiledSmsTemplate("Hello")
    row = nt.accepted_row(
        spec("sms", job_id=JOB, lane="bulk"), uuid.UUID(int=13), "+15145550199", {},
        plain.render({}), row_number=7,
    )  # fmt: skip
    assert (row.job_id, row.job_row_number, row.process_type) == (JOB, 7, "bulk")
    assert row.personalisation is None


def test_a_scheduled_row_is_due_later_and_owned_by_nobody() -> None:
    values = {"name": "Ada", "code": "42"}
    row = nt.accepted_row(
        spec(scheduled_for=LATER, owner=None), uuid.UUID(int=14), "ada@example.org", values,
        EMAIL.render(values),
    )  # fmt: skip
    assert row.scheduled_for == LATER
    assert row.owner is None


def test_rows_are_in_copy_column_order() -> None:
    fields = nt.NotificationRow.__struct_fields__
    assert fields[:3] == ("id", "service_id", "template_id")
    assert fields[-5:] == ("unsubscribe_url", "created_at", "owner", "language", "callback_url")


def test_new_ids_are_distinct_version_7_uuids_carrying_their_time() -> None:
    at = dt.datetime(2026, 12, 6, 23, 59, 59, 999_999, tzinfo=dt.UTC)
    ids = nt.new_ids(5000, at)
    assert len(set(ids)) == 5000
    assert {i.version for i in ids} == {7}
    assert {str(i)[19] for i in ids} <= set("89ab")  # RFC 9562 variant
    assert {nt.id_time(i) for i in ids} == {at.replace(microsecond=999_000)}
    assert nt.new_ids(0, at) == []
    # The 74 random bits vary in both of their fields (12 after the version, 62 after
    # the variant): 5,000 ids take many values of each.
    assert len({(i.int >> 64) & 0xFFF for i in ids}) > 1000
    assert len({i.int & ((1 << 62) - 1) for i in ids}) == 5000
    # One at a time (as the API makes them), across many refills of the random pool.
    singles = [nt.new_ids(1, at)[0] for _ in range(3000)]
    assert len({i.int & ((1 << 62) - 1) for i in singles}) == 3000


def test_new_ids_are_what_the_uuid_constructor_makes_of_their_value() -> None:
    """``new_ids`` skips ``uuid.UUID.__init__``: the ids must be indistinguishable from
    the constructor's (equality both ways, hash, ordering, text, bytes, fields, pickle)."""
    import pickle

    at = dt.datetime(2026, 12, 7, 3, 30, tzinfo=dt.UTC)
    for made in nt.new_ids(500, at):
        built = uuid.UUID(int=made.int)
        assert made == built
        assert built == made
        assert hash(made) == hash(built)
        assert str(made) == str(built)
        assert repr(made) == repr(built)
        assert made.bytes == built.bytes
        assert made.fields == built.fields
        assert made.version == built.version == 7
        assert made.is_safe is built.is_safe
        assert type(made) is uuid.UUID
        assert pickle.loads(pickle.dumps(made)) == built
        assert uuid.UUID(str(made)) == made
    ordered = nt.new_ids(50, at)
    assert sorted(ordered) == sorted(uuid.UUID(int=i.int) for i in ordered)


def test_ids_name_the_window_of_their_rows_created_at() -> None:
    early = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC)
    late = early + dt.timedelta(hours=3)
    lo, hi = nt.created_window([*nt.new_ids(2, early), *nt.new_ids(1, late)])
    assert lo <= early < late < hi
    assert hi - lo < dt.timedelta(hours=3, minutes=5)
    # An id made before time-ordered ids (random) names no time: every row may match.
    lo, hi = nt.created_window([*nt.new_ids(1, early), uuid.uuid4()])
    assert lo.year == 1970
    assert hi.year == 9999
    assert nt.created_window([]) == (lo, hi)
    # The window is the ids' own milliseconds, exactly, with the slack on each side: a
    # rounding's worth, not a minute (a status write then read every row of two minutes).
    [one] = nt.new_ids(1, early)
    assert nt.created_window([one]) == (early - nt.ID_TIME_SLACK, early + nt.ID_TIME_SLACK)
    lo, hi = nt.created_window([one])
    assert hi - lo == dt.timedelta(milliseconds=4)
    # Every row is inside its id's window, to the microsecond, whatever float rounding did.
    for k in range(2000):
        at = early + dt.timedelta(microseconds=k * 997 + 1)
        lo, hi = nt.created_window(nt.new_ids(1, at))
        assert lo <= at < hi, at


# -- the sender -------------------------------------------------------------------------


def test_the_sender_is_the_services_address_or_its_name_at_a_domain() -> None:
    assert nt.sender_address(Service("S", "me@own.example", "x.example"), "d.example") == (
        "me@own.example"
    )
    assert nt.sender_address(Service("S", "news", "x.example"), "d.example") == "news@x.example"
    assert nt.sender_address(Service("S", "news", None), "d.example") == "news@d.example"
    assert nt.from_address(Service("My Service", "news", None), "d.example") == (
        "My Service <news@d.example>"
    )


# -- the provider message ---------------------------------------------------------------

FROM = "My Service <news@d.example>"


def test_an_email_message_from_a_fresh_row() -> None:
    values = {"name": "Ada", "code": "42"}
    rendered = EMAIL.render(values)
    row = email_row(unsubscribe_url="https://example.org/unsub")
    files = (nt.Attachment(filename="a.pdf", content=b"%PDF", mime_type="application/pdf"),)
    message = nt.outbound(row, rendered, FROM, files)
    assert message == nt.EmailMessage(
        notification_id=row.id,
        service_id=SERVICE,
        to="ada@example.org",
        from_address=FROM,
        reply_to="reply@example.org",
        subject="Hello Ada",
        html=rendered.html,
        text="Dear Ada,\n\nYour code is 42.",
        unsubscribe_url="https://example.org/unsub",
        attachments=files,
        key_type="normal",
        lane="priority",
        created_at=NOW,
        owner=WORKER,  # the registration it was claimed under: the provider's fence
    )
    assert "<strong>42</strong>" in message.html


def test_an_email_message_sends_the_rows_subject_not_the_rendered_one() -> None:
    row = email_row(subject="Sanitised")
    message = nt.outbound(row, EMAIL.render({"name": "Ada", "code": "42"}), FROM)
    assert isinstance(message, nt.EmailMessage)
    assert message.subject == "Sanitised"


def test_an_sms_message_from_a_fresh_row() -> None:
    row = sms_row()
    assert nt.outbound(row, None, FROM) == nt.SmsMessage(
        notification_id=row.id,
        service_id=SERVICE,
        to="+15145550199",
        body="Svc: Code 42 for Ada",
        sender="+15145550100",
        key_type="normal",
        lane="priority",
        created_at=NOW,
        owner=WORKER,
    )


def stored(row: nt.NotificationRow, **changes: Any) -> dict[str, Any]:
    """The row as the store reads it back (a record read by column name)."""
    return {**msgspec.structs.asdict(row), **changes}


def test_a_stored_email_is_rendered_again_and_sent_as_when_fresh() -> None:
    row = email_row(unsubscribe_url="https://example.org/unsub")
    files = (nt.Attachment(filename="a.txt", content=b"x"),)
    fresh = nt.outbound(row, EMAIL.render({"name": "Ada", "code": "42"}), FROM, files)
    again = nt.stored_outbound(stored(row), EMAIL, FROM, files)
    assert again == fresh
    assert isinstance(again, nt.EmailMessage)
    assert again.html  # the HTML is not stored: it was rendered again


def test_a_stored_email_without_a_subject_takes_the_rendered_one() -> None:
    message = nt.stored_outbound(stored(email_row(), subject=None), EMAIL, FROM)
    assert isinstance(message, nt.EmailMessage)
    assert message.subject == "Hello Ada"


def test_a_stored_email_keeps_its_stored_subject_and_body() -> None:
    row = stored(email_row(), subject="Stored subject", body="Stored body")
    message = nt.stored_outbound(row, EMAIL, FROM)
    assert isinstance(message, nt.EmailMessage)
    assert (message.subject, message.text) == ("Stored subject", "Stored body")


def test_a_stored_sms_is_sent_as_when_fresh() -> None:
    row = sms_row()
    assert nt.stored_outbound(stored(row), SMS, FROM) == nt.outbound(row, None, FROM)


# -- the 201 ------------------------------------------------------------------------------


def test_the_email_response_names_the_notification_its_template_and_its_content() -> None:
    row = email_row()
    response = nt.post_response(row, BASE, "news@d.example", "2025-03-02 10:00")
    assert msgspec.json.decode(msgspec.json.encode(response)) == {
        "id": str(row.id),
        "reference": "ref-1",
        "content": {
            "from_email": "news@d.example",
            "body": "Dear Ada,\n\nYour code is 42.",
            "subject": "Hello Ada",
            "one_click_unsubscribe_url": row.unsubscribe_url,  # GOV.UK's echo (issue 24)
        },
        "uri": f"{BASE}v2/notifications/{row.id}",
        "template": {
            "id": str(TEMPLATE),
            "version": 3,
            "uri": f"{BASE}services/{SERVICE}/templates/{TEMPLATE}",
        },
        "scheduled_for": "2025-03-02 10:00",
    }


def test_the_sms_response_shows_the_body_and_the_sender_number() -> None:
    response = nt.post_response(sms_row(), BASE, "", None)
    assert response.content == nt.SmsContent("Svc: Code 42 for Ada", "+15145550100")
    assert response.scheduled_for is None


def test_the_response_shows_sanitised_content_only_when_asked() -> None:
    sanitised = {"name": Sanitised("a.b", "a. b")}
    response = nt.post_response(email_row(), BASE, "news@d.example", None, sanitised)
    assert msgspec.json.decode(msgspec.json.encode(response))["sanitised_content"] == {
        "name": {"unsanitised": "a.b", "sanitised": "a. b"}
    }
