"""The benchmark's simulators answer real aiobotocore requests like AWS does and deliver
receipts the way SNS delivers to an HTTP subscriber; the callback receiver records and
misbehaves on command; the Locust files load and refuse non-loopback hosts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trio
from aiobotocore.config import AioConfig
from aiobotocore.httpxsession import HttpxSession
from aiobotocore.session import get_session

from bench.simulators import AwsSimulator, CallbackReceiver, asgi, run_aws, run_callbacks
from engine.http1.server import serve
from tests.conftest import RunningEngine

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Collector:
    """A real HTTP receiver standing in for the engine's receipt endpoints."""

    posts: list[tuple[str, dict[bytes, bytes], dict[str, Any]]] = field(default_factory=list)
    arrived: trio.Event = field(default_factory=trio.Event)
    want: int = 0

    async def handle(
        self, method: str, path: str, query: bytes, body: bytes, headers: dict[bytes, bytes]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        self.posts.append((path, headers, json.loads(body)))
        if len(self.posts) >= self.want:
            self.arrived.set()
        return 200, [], b""

    async def wait_for(self, n: int) -> None:
        self.want = n
        if len(self.posts) < n:
            self.arrived = trio.Event()
            await self.arrived.wait()


@pytest.fixture
async def aws() -> AsyncIterator[tuple[AwsSimulator, Collector]]:
    collector = Collector()
    async with trio.open_nursery() as nursery:
        shutdown = trio.Event()
        port = await nursery.start(
            partial(serve, asgi(collector.handle), host="127.0.0.1", port=0, shutdown=shutdown)
        )
        base = f"http://127.0.0.1:{port}/notifications/receipts"
        stop_sim = trio.Event()
        sim = await nursery.start(
            partial(
                run_aws,
                ses_receipts_url=f"{base}/ses",
                sns_receipts_url=f"{base}/sns",
                receipt_delay=0.01,
                shutdown=stop_sim,
            )
        )
        yield sim, collector
        stop_sim.set()
        shutdown.set()


def _client(service: str, port: int) -> Any:
    return get_session().create_client(
        service,
        region_name="ca-central-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=AioConfig(http_session_cls=HttpxSession, retries={"total_max_attempts": 1}),
    )


async def test_ses_send_email_and_bulk_are_answered_and_receipted(
    aws: tuple[AwsSimulator, Collector],
) -> None:
    sim, collector = aws
    with trio.fail_after(20):
        async with _client("sesv2", sim.port) as ses:
            single = await ses.send_email(
                FromEmailAddress="sender@example.com",
                Destination={"ToAddresses": ["one@example.com"]},
                Content={"Simple": {"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "x"}}}},
            )
            bulk = await ses.send_bulk_email(
                FromEmailAddress="sender@example.com",
                DefaultContent={
                    "Template": {
                        "TemplateContent": {"Subject": "{{subject}}", "Text": "{{text}}"},
                        "TemplateData": '{"subject": "", "text": ""}',
                    }
                },
                BulkEmailEntries=[
                    {
                        "Destination": {"ToAddresses": [to]},
                        "ReplacementEmailContent": {
                            "ReplacementTemplate": {
                                "ReplacementTemplateData": '{"subject": "S", "text": "T"}'
                            }
                        },
                    }
                    for to in ("a@example.com", "b@example.com", "bounce@simulator.amazonses.com")
                ],
            )
        results = bulk["BulkEmailEntryResults"]
        assert [r["Status"] for r in results] == ["SUCCESS"] * 3
        sent_ids = {single["MessageId"]} | {r["MessageId"] for r in results}
        assert len(sent_ids) == 4
        await collector.wait_for(4)

    events = {}
    for path, headers, envelope in collector.posts:
        assert path == "/notifications/receipts/ses"
        assert headers[b"x-amz-sns-message-type"] == b"Notification"
        assert headers[b"content-type"].startswith(b"text/plain")
        assert envelope["Type"] == "Notification"
        event = json.loads(envelope["Message"])
        events[event["mail"]["messageId"]] = event
    assert set(events) == sent_ids
    bounced = events[results[2]["MessageId"]]
    assert bounced["eventType"] == "Bounce"
    assert bounced["bounce"]["bounceType"] == "Permanent"
    assert events[single["MessageId"]]["eventType"] == "Delivery"
    assert events[single["MessageId"]]["delivery"]["recipients"] == ["one@example.com"]


async def test_ses_rejects_an_oversized_bulk_call_like_aws(
    aws: tuple[AwsSimulator, Collector],
) -> None:
    from botocore.exceptions import ClientError

    sim, _ = aws
    entries = [{"Destination": {"ToAddresses": [f"u{i}@example.com"]}} for i in range(51)]
    with trio.fail_after(20):
        async with _client("sesv2", sim.port) as ses:
            with pytest.raises(ClientError) as raised:
                await ses.send_bulk_email(
                    FromEmailAddress="sender@example.com",
                    DefaultContent={"Template": {"TemplateName": "t", "TemplateData": "{}"}},
                    BulkEmailEntries=entries,
                )
    assert raised.value.response["Error"]["Code"] == "BadRequestException"


async def test_sns_publish_is_answered_and_delivery_logs_arrive(
    aws: tuple[AwsSimulator, Collector],
) -> None:
    sim, collector = aws
    with trio.fail_after(20):
        async with _client("sns", sim.port) as sns:
            ok = await sns.publish(PhoneNumber="+16135550123", Message="Code: 1")
            failing = await sns.publish(PhoneNumber="+15149301632", Message="Code: 2")
        await collector.wait_for(2)
    logs = {}
    for path, _, envelope in collector.posts:
        assert path == "/notifications/receipts/sns"
        log = json.loads(envelope["Message"])
        logs[log["notification"]["messageId"]] = log
    assert logs[ok["MessageId"]]["status"] == "SUCCESS"
    assert logs[failing["MessageId"]]["status"] == "FAILURE"
    assert "unreachable" in logs[failing["MessageId"]]["delivery"]["providerResponse"]


async def test_callback_receiver_records_and_fails_on_command() -> None:
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        receiver: CallbackReceiver = await nursery.start(
            partial(run_callbacks, bearer_token="secret-token", shutdown=stop)
        )
        auth = {"Authorization": "Bearer secret-token"}
        base = f"http://127.0.0.1:{receiver.port}"
        with trio.fail_after(20):
            async with httpx2.AsyncClient(base_url=base, timeout=5) as client:
                for status in ("sending", "delivered"):
                    r = await client.post("/cb", json={"id": "n1", "status": status}, headers=auth)
                    assert r.status_code == 200
                assert (await client.post("/cb", json={"id": "n2"})).status_code == 401
                await client.post("/control", json={"mode": "fail", "status": 503})
                failed = await client.post("/cb", json={"id": "n3", "status": "x"}, headers=auth)
                assert failed.status_code == 503
                await client.post("/control", json={"mode": "slow", "delay_ms": 300})
                started = trio.current_time()
                slow = await client.post("/cb", json={"id": "n4", "status": "delivered"},
                                         headers=auth)  # fmt: skip
                assert slow.status_code == 200
                assert trio.current_time() - started >= 0.3
                stats = (await client.get("/stats", params={"ids": "1"})).json()
        stop.set()
    assert stats["accepted"] == 3
    assert stats["unauthorized"] == 1
    assert stats["failed_on_purpose"] == 1
    assert stats["unique_ids"] == 2
    assert stats["by_status"] == {"sending": 1, "delivered": 2}
    assert stats["final"] == {"delivered": 2}  # n1 moved on from "sending"
    assert stats["ids"]["n1"][1] == "delivered"
    assert stats["mode"] == "slow"


_CHECK_CONFS = """
import importlib, json, pathlib, sys
sys.path.insert(0, ".")
from locust import User
from locust.argument_parser import get_parser
out = {}
for conf in sorted(pathlib.Path(".").glob("*.conf")):
    opts = {}
    for line in conf.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            k, _, v = line.partition("=")
            opts[k.strip()] = v.strip()
    module = importlib.import_module(opts["locustfile"].removesuffix(".py"))
    classes = sorted(n for n, v in vars(module).items()
                     if isinstance(v, type) and issubclass(v, User) and not v.abstract)
    known = get_parser()._option_string_actions  # after the scenario added its options
    out[conf.name] = {"classes": classes, "unknown": [k for k in opts if "--" + k not in known],
                      **opts}
print(json.dumps(out))
"""


def _locust(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # Locust monkey-patches the standard library (gevent): never import it in this process.
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT / "loadtests", capture_output=True, text=True,
        timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_every_locust_conf_names_a_scenario_with_valid_options() -> None:
    checked = _locust("-c", _CHECK_CONFS)
    assert checked.returncode == 0, checked.stderr[-2000:]
    confs = json.loads(checked.stdout.strip().splitlines()[-1])
    assert {"email.conf", "sms.conf", "bulk.conf", "mix.conf", "polling.conf", "ramp.conf",
            "locust.conf"} <= set(confs)  # fmt: skip
    for name, conf in confs.items():
        assert conf["classes"], f"{name}: no user class"
        assert conf["unknown"] == [], f"{name}: unknown options {conf['unknown']}"
        assert conf["host"] == "http://127.0.0.1:6011"
        assert conf["headless"] == "true"
        assert conf["csv"].startswith("out/")
        assert {"max-fail-ratio", "max-p95-ms"} <= set(conf)


def test_locust_refuses_a_non_loopback_host() -> None:
    run = _locust("-m", "locust", "--config", "email.conf", "--host", "http://198.51.100.7:6011",
                  "-t", "1s", env={"NOTIFY_API_KEY": "k-" + "0" * 36 + "-" + "0" * 36})  # fmt: skip
    assert run.returncode != 0
    assert "only loopback hosts" in run.stdout + run.stderr


@pytest.mark.slow
async def test_the_mix_scenario_runs_headless_against_an_engine(
    scanning_engine: RunningEngine, tmp_path: Path
) -> None:
    running_engine = scanning_engine  # the mix sends files: they are virus scanned
    made = await running_engine.create_service()
    env = {**os.environ, "NOTIFY_API_KEY": made["keys"]["normal"],
           "NOTIFY_EMAIL_TEMPLATE_ID": made["email_template"],
           "NOTIFY_SMS_TEMPLATE_ID": made["sms_template"], "NOTIFY_BULK_ROWS": "5"}  # fmt: skip
    with trio.fail_after(60):
        done = await trio.run_process(
            [sys.executable, "-m", "locust", "--config", "mix.conf", "--host",
             running_engine.base_url, "-u", "3", "-r", "3", "-t", "3s",
             "--csv", str(tmp_path / "mix"), "--max-p95-ms", "10000"],  # a busy CI box
            cwd=ROOT / "loadtests", env=env, capture_stdout=True, capture_stderr=True,
            check=False,
        )  # fmt: skip
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0, output[-3000:]
    stats = (tmp_path / "mix_stats.csv").read_text().splitlines()
    aggregated = next(line for line in stats if ",Aggregated," in line).split(",")
    assert int(aggregated[2]) > 0  # requests
    assert int(aggregated[3]) == 0  # failures


async def test_receipts_outlast_an_endpoint_that_refuses_connections_for_a_while() -> None:
    # An engine restart refuses connections for a few seconds; the poster backs off
    # (0.1, 0.2, 0.4 ... s) instead of spending its 8 attempts in 1.6 s.
    from bench.sns_delivery import ReceiptPoster
    from tests.processes import free_port

    collector, port = Collector(), free_port()
    poster = ReceiptPoster(f"http://127.0.0.1:{port}/r", "arn:topic", delay=0, attempts=8)
    async with trio.open_nursery() as nursery:
        await nursery.start(poster.run)
        await poster.submit({"notificationType": "Delivery"})
        await trio.sleep(2.5)  # refused all along
        stop = trio.Event()
        await nursery.start(
            partial(serve, asgi(collector.handle), host="127.0.0.1", port=port, shutdown=stop)
        )
        with trio.fail_after(15):
            await collector.wait_for(1)
        stop.set()
        nursery.cancel_scope.cancel()
    assert poster.stats["failed"] == 0
    assert poster.stats["delivered"] == 1


async def test_callback_receiver_refuses_while_down_and_counts_duplicates() -> None:
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        receiver: CallbackReceiver = await nursery.start(partial(run_callbacks, shutdown=stop))
        refusable = f"http://127.0.0.1:{receiver.refusable_port}"
        with trio.fail_after(20):
            async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{receiver.port}") as c:
                for _ in range(2):
                    r = await c.post(refusable + "/cb", json={"id": "n1", "status": "delivered"})
                    assert r.status_code == 200
                await c.post("/control", json={"mode": "down"})
                await trio.sleep(2.5)  # the listener drains (2 s) and closes
                with pytest.raises(httpx2.ConnectError):
                    await c.post(refusable + "/cb", json={"id": "n2", "status": "delivered"})
                await c.post("/control", json={"mode": "ok"})
                for _ in range(50):  # reopened on the same port
                    try:
                        await c.post(refusable + "/cb", json={"id": "n2", "status": "delivered"})
                        break
                    except httpx2.ConnectError:
                        await trio.sleep(0.1)
                stats = (await c.get("/stats", params={"ids": "1"})).json()
        stop.set()
    assert stats["duplicate_callbacks"] == 1  # n1 delivered twice
    assert stats["calls"]["n1"]["delivered"][0] == 2
    assert stats["calls"]["n2"]["delivered"][0] == 1


async def test_aws_simulator_fails_and_hangs_on_command_and_counts_sends(
    aws: tuple[AwsSimulator, Collector],
) -> None:
    sim, _ = aws
    content = {"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}}
    mail = {"FromEmailAddress": "a@example.com", "Destination": {"ToAddresses": ["u@x.com"]},
            "Content": content}  # fmt: skip
    path = "/v2/email/outbound-emails"
    with trio.fail_after(20):
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{sim.port}", timeout=10) as c:
            assert (await c.post(path, json=mail)).status_code == 200
            await c.post("/control", json={"mode": "fail", "status": 503})
            assert (await c.post(path, json=mail)).status_code == 503
            await c.post("/control", json={"mode": "hang"})
            answers: list[int] = []

            async def send() -> None:
                answers.append((await c.post(path, json=mail)).status_code)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(send)
                await trio.sleep(0.5)
                assert answers == []  # held while hanging
                await c.post("/control", json={"mode": "ok"})
            assert answers == [200]
            stats = (await c.get("/stats", params={"ids": "1"})).json()
    assert stats["sends"] == {"u@x.com": 2}  # the 503 was not a send
    assert stats["duplicate_recipients"] == 1
