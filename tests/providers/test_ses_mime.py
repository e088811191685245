"""The raw MIME message's attachments (engine.providers.ses.build_mime): the base64 bodies
put in place after the email package wrote the message read back byte for byte."""

from __future__ import annotations

import email
import os
import uuid
from email.policy import SMTP

import pytest

from engine.domain.notification import Attachment, EmailMessage
from engine.providers.ses import build_mime


@pytest.mark.parametrize("size", [1, 56, 57, 58, 1024 * 1024 + 1])
def test_attachments_read_back_exactly(size: int) -> None:
    data = os.urandom(size)
    message = EmailMessage(
        notification_id=uuid.uuid4(), service_id=uuid.uuid4(), to="someone@example.com",
        from_address="Service <service@example.ca>", reply_to=None, subject="Hello",
        html="<p>Hello</p>", text="Hello",
        attachments=(Attachment(filename="report.pdf", content=data, mime_type="application/pdf"),
                     Attachment(filename="rows.csv", content=b"a,b\n1,2\n", mime_type="text/csv")),
    )  # fmt: skip
    raw = build_mime(message)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    parsed = email.message_from_bytes(raw, policy=SMTP)
    found = [(a.get_filename(), a.get_content_type(), a.get_payload(decode=True))
             for a in parsed.iter_attachments()]  # fmt: skip
    assert found == [
        ("report.pdf", "application/pdf", data),
        ("rows.csv", "text/csv", b"a,b\n1,2\n"),
    ]
    assert b"attachment-" not in raw  # no marker left behind
