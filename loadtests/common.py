"""What every Locust scenario here shares: settings from the environment, Notify JWT auth,
the loopback guard and the pass/fail thresholds that set the process exit code.

Environment:
    NOTIFY_API_KEY              a live key, ``{name}-{service_id}-{secret}`` (required to send)
    NOTIFY_EMAIL_TEMPLATE_ID    an email template using ((name)) and ((reference))
    NOTIFY_SMS_TEMPLATE_ID      an SMS template using ((code))
    NOTIFY_FILE_TEMPLATE_ID     an email template for sends with an attached file
                                (default: the email template)
    NOTIFY_EMAIL_TO             default success@simulator.amazonses.com (SES mailbox simulator)
    NOTIFY_PHONE_TO             default +16132532222 (a Notify simulated number: never sent)
    NOTIFY_BULK_ROWS            rows per /v2/notifications/bulk job (default 50)
    NOTIFY_USER_RPS             requests per second per user (default 1)
    NOTIFY_LOADTEST_ALLOW_REMOTE=1   allow a non-loopback --host (a deployment you own)

Thresholds (command line, conf file or environment): ``--max-fail-ratio`` (default 0.01),
``--max-p95-ms`` (default 500). When the run ends, the exit code is 1 if either is crossed
or no request was made, so CI can gate on it.
"""

from __future__ import annotations

import base64
import logging
import os
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import jwt
from locust import FastHttpUser, constant_throughput, events

log = logging.getLogger("loadtests")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# A tiny but real PDF, so "files" sends carry a decodable attachment.
PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n").decode()


def setting(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise SystemExit(f"set {name} (see loadtests/README.md)")
    return value


@events.init_command_line_parser.add_listener
def _thresholds(parser: Any) -> None:
    parser.add_argument(
        "--max-fail-ratio",
        type=float,
        env_var="NOTIFY_LOADTEST_MAX_FAIL_RATIO",
        default=0.01,
        help="exit 1 when the failure ratio is above this",
    )
    parser.add_argument(
        "--max-p95-ms",
        type=float,
        env_var="NOTIFY_LOADTEST_MAX_P95_MS",
        default=500.0,
        help="exit 1 when the 95th percentile is above this",
    )


@events.init.add_listener
def _loopback_only(environment: Any, **_: Any) -> None:
    host = urlsplit(environment.host or "").hostname
    if host not in LOOPBACK and os.environ.get("NOTIFY_LOADTEST_ALLOW_REMOTE") != "1":
        raise SystemExit(
            f"refusing to load {environment.host!r}: only loopback hosts unless "
            "NOTIFY_LOADTEST_ALLOW_REMOTE=1 is set (and you own the target)"
        )


@events.quitting.add_listener
def _exit_code(environment: Any, **_: Any) -> None:
    total = environment.stats.total
    options = environment.parsed_options
    p95 = total.get_response_time_percentile(0.95) or 0
    if total.num_requests == 0:
        log.error("FAIL: no request was made")
        environment.process_exit_code = 1
    elif total.fail_ratio > options.max_fail_ratio:
        log.error("FAIL: failure ratio %.4f > %s", total.fail_ratio, options.max_fail_ratio)
        environment.process_exit_code = 1
    elif p95 > options.max_p95_ms:
        log.error("FAIL: p95 %s ms > %s ms", p95, options.max_p95_ms)
        environment.process_exit_code = 1
    else:
        log.info("PASS: failure ratio %.4f, p95 %s ms", total.fail_ratio, p95)
        environment.process_exit_code = 0


class NotifyUser(FastHttpUser):
    """A Notify API client: a fresh HS256 JWT ``{iss, iat}`` per request, as the official
    clients make them."""

    abstract = True
    wait_time = constant_throughput(float(os.environ.get("NOTIFY_USER_RPS", "1")))

    def on_start(self) -> None:
        key = setting("NOTIFY_API_KEY")
        self.service_id, self.secret = key[-73:-37], key[-36:]
        self.email_template = os.environ.get("NOTIFY_EMAIL_TEMPLATE_ID", "")
        self.sms_template = os.environ.get("NOTIFY_SMS_TEMPLATE_ID", "")
        self.file_template = os.environ.get("NOTIFY_FILE_TEMPLATE_ID", self.email_template)
        self.email_to = os.environ.get("NOTIFY_EMAIL_TO", "success@simulator.amazonses.com")
        self.phone_to = os.environ.get("NOTIFY_PHONE_TO", "+16132532222")
        self.bulk_rows = int(os.environ.get("NOTIFY_BULK_ROWS", "50"))

    def headers(self) -> dict[str, str]:
        token = jwt.encode(
            {"iss": self.service_id, "iat": int(time.time())}, self.secret, algorithm="HS256"
        )
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: dict[str, Any], name: str | None = None) -> Any:
        with self.client.post(
            path, json=body, headers=self.headers(), name=name, catch_response=True
        ) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            return response

    def send_email(self, *, with_file: bool = False) -> Any:
        personalisation: dict[str, Any] = {
            "name": "Load Test",
            "reference": uuid.uuid4().hex[:8],
            "code": "123456",
        }
        template = self.email_template
        if with_file:
            template = self.file_template
            personalisation["application_file"] = {
                "file": PDF,
                "filename": "application.pdf",
                "sending_method": "attach",
            }
        name = "/v2/notifications/email (file)" if with_file else None
        return self.post(
            "/v2/notifications/email",
            {
                "email_address": self.email_to,
                "template_id": template,
                "personalisation": personalisation,
            },
            name=name,
        )

    def send_sms(self) -> Any:
        return self.post(
            "/v2/notifications/sms",
            {
                "phone_number": self.phone_to,
                "template_id": self.sms_template,
                "personalisation": {
                    "name": "Load Test",
                    "code": str(int(time.time() * 1000) % 1_000_000),
                },
            },
        )

    def send_bulk(self) -> Any:
        rows = [["email address", "name", "reference", "code"]] + [
            [self.email_to, f"Row {i}", f"R-{i}", str(i)] for i in range(self.bulk_rows)
        ]
        return self.post(
            "/v2/notifications/bulk",
            {
                "name": f"locust {uuid.uuid4().hex[:8]}",
                "template_id": self.email_template,
                "rows": rows,
            },
        )
