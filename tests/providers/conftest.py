"""AWS test harness: moto in server mode behind a small fault-injecting HTTP proxy.

    aiobotocore client --HTTP--> FaultProxy (127.0.0.1) --HTTP--> moto ThreadedMotoServer

Rules:
- Real HTTP all the way, loopback only. The providers only see ``aws_endpoint_url``.
- The proxy records every request it receives (so tests can read the exact wire request),
  answers the next N requests with a canned AWS error when a test asks it to, and
  otherwise forwards to moto.
- moto 5.2 does not implement SES v2 ``SendBulkEmail``. The proxy answers it by rendering
  the inline template per entry (``{{{x}}}`` raw, ``{{x}}`` HTML-escaped, as Handlebars does)
  and forwarding one moto ``SendEmail`` per entry, so moto records each entry's own subject
  and body and applies its own checks (verified sender, valid address). A per-recipient
  status override lets a test script ``ACCOUNT_THROTTLED`` / ``TRANSIENT_FAILURE`` entries.
- One moto server and one proxy per session; ``aws`` resets both before each test.
"""

from __future__ import annotations

import html
import http.client
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import pytest
from moto.server import ThreadedMotoServer

from engine.config import Settings

CREDENTIALS = ("testing", "testing")
REGION = "ca-central-1"
BULK_PATH = "/v2/email/outbound-bulk-emails"
SES_DOMAIN = "notification.example.ca"
_PLACEHOLDER = re.compile(r"\{\{\{\s*(\w+)\s*\}\}\}|\{\{\s*(\w+)\s*\}\}")


def render(template: str, data: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        raw, escaped = match.groups()
        if raw:
            return str(data.get(raw, ""))
        return html.escape(str(data.get(escaped, "")))

    return _PLACEHOLDER.sub(value, template)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Fault:
    status: int
    body: bytes
    headers: dict[str, str]
    path: str | None  # only requests to this path, or any
    match: bytes | None  # only requests whose body contains this, or any


@dataclass
class ProxyState:
    upstream: tuple[str, int]
    requests: list[Recorded] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    entry_status: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FaultProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.state = ProxyState(upstream=upstream)
        state = self.state

        class Handler(_Handler):
            proxy_state = state

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        with self.state.lock:
            self.state.requests.clear()
            self.state.faults.clear()
            self.state.entry_status.clear()

    def fail_next(
        self,
        count: int,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        path: str | None = None,
        match: bytes | None = None,
    ) -> None:
        with self.state.lock:
            for _ in range(count):
                self.state.faults.append(Fault(status, body, headers or {}, path, match))

    def ses_error(self, count: int, status: int, code: str, message: str = "") -> None:
        """The SES v2 (rest-json) error shape."""
        body = json.dumps({"message": message or code}).encode()
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
        self.fail_next(count, status, body, headers)

    def sns_error(
        self, count: int, status: int, code: str, message: str = "", match: bytes | None = None
    ) -> None:
        """The SNS (query protocol) XML error shape."""
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            "<ErrorResponse><Error>"
            f"<Type>{kind}</Type><Code>{code}</Code><Message>{message or code}</Message>"
            "</Error><RequestId>fault-injected</RequestId></ErrorResponse>"
        ).encode()
        self.fail_next(count, status, body, {"Content-Type": "text/xml"}, match=match)

    def requests(self, path: str | None = None) -> list[Recorded]:
        with self.state.lock:
            return [r for r in self.state.requests if path is None or r.path == path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy_state: ProxyState

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        state = self.proxy_state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = dict(self.headers.items())
        # HttpxSession sends the absolute URL as the request target, AwsHttpSession the path.
        parts = urlsplit(self.path)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        with state.lock:
            state.requests.append(Recorded(self.command, path, headers, body))
            fault = next(
                (
                    f
                    for f in state.faults
                    if (f.path is None or f.path == path) and (f.match is None or f.match in body)
                ),
                None,
            )
            if fault is not None:
                state.faults.remove(fault)
        if fault is not None:
            self._reply(fault.status, fault.body, fault.headers)
        elif path == BULK_PATH:
            self._bulk(headers, body)
        else:
            self._reply(*self._forward(self.command, path, headers, body))

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        host, port = self.proxy_state.upstream
        conn = http.client.HTTPConnection(host, port, timeout=30)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in {"connection", "host"}}
            sent["Content-Length"] = str(len(body))
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
            keep = {"content-type", "x-amzn-errortype", "x-amzn-requestid"}
            return (
                response.status,
                data,
                {k: v for k, v in response.getheaders() if k.lower() in keep},
            )
        finally:
            conn.close()

    def _bulk(self, headers: dict[str, str], body: bytes) -> None:
        request = json.loads(body)
        template = request["DefaultContent"]["Template"]
        content = template["TemplateContent"]
        defaults = json.loads(template.get("TemplateData") or "{}")
        results = []
        for entry in request["BulkEmailEntries"]:
            to = entry["Destination"]["ToAddresses"]
            scripted = self.proxy_state.entry_status.get(to[0])
            if scripted is not None:
                results.append({"Status": scripted, "Error": "scripted by the test"})
                continue
            replacement = entry.get("ReplacementEmailContent", {}).get("ReplacementTemplate", {})
            data = {**defaults, **json.loads(replacement.get("ReplacementTemplateData") or "{}")}
            simple = {
                "FromEmailAddress": request["FromEmailAddress"],
                "Destination": entry["Destination"],
                "Content": {
                    "Simple": {
                        "Subject": {"Data": render(content["Subject"], data)},
                        "Body": {
                            "Html": {"Data": render(content["Html"], data)},
                            "Text": {"Data": render(content["Text"], data)},
                        },
                    }
                },
            }
            status, reply, reply_headers = self._forward(
                "POST", "/v2/email/outbound-emails", headers, json.dumps(simple).encode()
            )
            if status == 200:
                results.append({"Status": "SUCCESS", "MessageId": json.loads(reply)["MessageId"]})
            else:
                code = reply_headers.get("x-amzn-ErrorType", "")
                kind = "MESSAGE_REJECTED" if code == "MessageRejected" else "INVALID_PARAMETER"
                results.append({"Status": kind, "Error": reply.decode(errors="replace")})
        reply = json.dumps({"BulkEmailEntryResults": results}).encode()
        self._reply(200, reply, {"Content-Type": "application/json"})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class AwsHarness:
    def __init__(self, moto_url: str, proxy: FaultProxy) -> None:
        self.moto_url = moto_url
        self.proxy = proxy
        self.url = proxy.url

    def settings(self, **overrides: Any) -> Settings:
        fields: dict[str, Any] = {"aws_endpoint_url": self.url, "aws_region": REGION}
        fields.update(overrides)
        return Settings(**fields)

    def moto_client(self, service: str) -> Any:
        """A plain botocore client talking straight to moto (setup and inspection)."""
        return botocore.session.get_session().create_client(
            service,
            region_name=REGION,
            endpoint_url=self.moto_url,
            aws_access_key_id=CREDENTIALS[0],
            aws_secret_access_key=CREDENTIALS[1],
        )

    def moto_data(self) -> dict[str, Any]:
        host, port = self.moto_url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request("GET", "/moto-api/data.json")
            return dict(json.loads(conn.getresponse().read()))
        finally:
            conn.close()

    def reset(self) -> None:
        host, port = self.moto_url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request("POST", "/moto-api/reset")
            conn.getresponse().read()
        finally:
            conn.close()
        self.proxy.reset()


@pytest.fixture(scope="session")
def aws_session() -> Iterator[AwsHarness]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    proxy = FaultProxy((host, port))
    proxy.start()
    try:
        yield AwsHarness(f"http://{host}:{port}", proxy)
    finally:
        proxy.stop()
        server.stop()


@pytest.fixture
def aws(aws_session: AwsHarness) -> AwsHarness:
    """A clean moto with the sending domain verified, and a proxy with no faults queued."""
    aws_session.reset()
    client = aws_session.moto_client("sesv2")
    try:
        client.create_email_identity(EmailIdentity=SES_DOMAIN)
    finally:
        client.close()
    return aws_session
