"""The cipher's CPU per notification (``engine.store.sealing``, ``engine.crypto.DataKeys``).

    python bench/sealing.py [--rounds 20000] [--keys 1]

Times, on one typical email (a 33-character recipient, a 3-value personalisation, a
subject and a ~600-character body) and best of 5 runs each, in us of CPU (process time)
per notification:
- ``seal``: ``Sealer.notification_record`` (what the group commit runs per row: AES-256-GCM
  of recipient, personalisation, subject and body, and the recipient's HMAC), less the
  same call with no keys (the clear row: the cipher's own share);
- ``open``: ``Sealer.notification`` of the sealed record (a GET or list row: four values
  opened), less the same of the clear record;
- ``hash``: one recipient hash alone; ``team_check``: a team check (``HashedRecipients``,
  one hash per listed key: ``--keys 2`` is a rotation under way).
Prints one JSON line. The figures quoted in the README's "Personal data at rest" come
from here; a benchmark, not a unit test: they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.crypto import DataKeys, HashedRecipients
from engine.domain.notification import NotificationRow
from engine.domain.timestamps import utcnow
from engine.store.notifications import STORED_COLUMNS
from engine.store.sealing import Sealer

BODY = (
    "Dear Ada Lovelace,\n\nYour application CASE-2026-118842 for the Canada Dental Benefit "
    "has been received on 4 December 2026. We will review it within 15 business days and "
    "write to you at this address.\n\nIf you need to send more documents, use the reference "
    "above. Do not reply to this email: this mailbox is not monitored.\n\nTo check the "
    "status of your application, sign in to your account. If you did not apply, contact us "
    "at 1-800-555-0199 (Monday to Friday, 8 am to 8 pm Eastern time).\n\nService Canada"
)


def typical_row() -> NotificationRow:
    return NotificationRow(
        id=uuid.uuid4(), service_id=uuid.uuid4(), template_id=uuid.uuid4(), template_version=3,
        api_key_id=uuid.uuid4(), key_type="normal", notification_type="email",
        recipient="ada.lovelace.applicant@example.com", status="created",
        client_reference="ref-118842",
        personalisation='{"name":"Ada Lovelace","case":"CASE-2026-118842",'
                        '"date":"4 December 2026"}',
        subject="Your application CASE-2026-118842 was received", body=BODY,
        reply_to_text=None, process_type="normal", billable_units=1, job_id=None,
        job_row_number=None, scheduled_for=None, unsubscribe_url=None, created_at=utcnow(),
    )  # fmt: skip


def us_per_call(fn: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(rounds):
            fn()
        best = min(best, time.process_time() - start)
    return best / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--keys", type=int, default=1, help="data keys listed (2: rotating)")
    args = parser.parse_args()
    keys = DataKeys([f"bench-data-key-{i}-0123456789abcdef" for i in range(args.keys)])
    sealed, clear = Sealer(keys), Sealer(None)
    row = typical_row()
    record = sealed.notification_record(row)
    columns = STORED_COLUMNS
    sealed_read: dict[str, Any] = dict(zip(columns, record, strict=True))
    clear_read: dict[str, Any] = dict(zip(columns, clear.notification_record(row), strict=True))
    team = HashedRecipients([keys.recipient_hash(f"member{i}@example.gc.ca") for i in range(5)],
                            keys)  # fmt: skip
    figures = {
        "seal_us": us_per_call(lambda: sealed.notification_record(row), args.rounds),
        "seal_clear_us": us_per_call(lambda: clear.notification_record(row), args.rounds),
        "open_us": us_per_call(lambda: sealed.notification(sealed_read), args.rounds),
        "open_clear_us": us_per_call(lambda: clear.notification(clear_read), args.rounds),
        "hash_us": us_per_call(lambda: keys.recipient_hash(row.recipient), args.rounds),
        "team_check_us": us_per_call(lambda: row.recipient in team, args.rounds),
    }
    result = {
        "keys": args.keys,
        "rounds": args.rounds,
        "load_average": os.getloadavg()[0],
        **{k: round(v, 2) for k, v in figures.items()},
        "cipher_seal_us_per_notification": round(figures["seal_us"] - figures["seal_clear_us"], 2),
        "cipher_open_us_per_read": round(figures["open_us"] - figures["open_clear_us"], 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
