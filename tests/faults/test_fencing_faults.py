"""Fenced ownership under faults (issue 19): the engine's own recovery never sends twice.

``bench/faults.py``'s quick plan (30 requests/s for 12 s) on two worker processes
(``NOTIFY_WORKERS=2``, one database) with SES paced below the load, so that each process
holds a backlog of owned, unsent notifications in memory when the fault hits:
- ``pause``: one worker is SIGSTOPped for 8 s (past the 3 s dead-after: the other declares
  it dead and takes its rows over), then SIGCONT: it must send nothing it no longer owns;
- ``pause-mid-call``: the same with SES calls of the frozen worker certainly on the wire
  (the simulator holds calls until both workers have some in flight, then answers once
  the worker is frozen): the thawed worker reads those answers and records them, and the
  other does not resend them, since it waits the sending grace (3 x 3 s + the 5 s call
  deadline = 14 s after the mark, longer than the 8 s freeze);
- ``outage-2``: PostgreSQL is stopped for 6 s (longer than the dead-after) and restarted:
  neither process may declare the other dead on heartbeats nobody could write.
Each time every acknowledged notification must be delivered and called back, with zero
duplicate provider sends (the simulator counts sends per recipient; every request has its
own), and duplicate callbacks no more than could be on the wire at the fault: one
endpoint's callback concurrency (8 lanes) per process. Before fencing, ``pause`` and
``outage-2`` showed duplicate sends: the paused process sent its whole backlog, and after
the outage each process claimed the other's. Before the sending grace, ``pause`` showed 1
duplicate in about ten runs (a call caught on the wire), ``pause-mid-call`` every time.
Bounded: each scenario about 45 s here; every wait in it is bounded and every process
stopped in a ``finally`` (checked by the last assertion).
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from bench.faults import QUICK, run_scenario
from bench.harness import process_tree

IN_FLIGHT_CALLBACKS = 2 * 8  # two processes, 8 delivery lanes each (callback concurrency)


@pytest.mark.parametrize(
    ("scenario", "fault_for"), [("pause", 8.0), ("pause-mid-call", 8.0), ("outage-2", 6.0)]
)
def test_recovery_never_sends_twice(scenario: str, fault_for: float) -> None:
    # Children the session already had (its clamd, issue 25) are not the scenario's.
    before = set(process_tree(os.getpid()))
    plan = dataclasses.replace(QUICK, seed=19, fault_for=fault_for)
    result = run_scenario(scenario, plan, timeout=60, stall=30)
    assert result["acknowledged"] >= 100, result
    assert result["lost"] == 0, result
    assert result["not_delivered"] == result["not_called_back"] == 0, result
    assert result["duplicate_sends"] == 0, result
    assert result["duplicate_callbacks"] <= IN_FLIGHT_CALLBACKS, result
    left = set(process_tree(os.getpid())) - before
    assert left == set(), "a child process was left running"
