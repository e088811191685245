"""The fault-injection suite's quick variant (CI): kill -9 under light load, and a
PostgreSQL restart under load; nothing acknowledged may be lost.

Runs ``bench/faults.py``'s scenarios with its quick plan (12 s of load at 30 requests/s,
one kill or one restart 4 s in): every 201 must end ``delivered`` in the database and be
called back with ``delivered``. Each scenario starts its own PostgreSQL, simulators and
engine processes (about 17 s each here); every wait in them is bounded (engine ready
60 s, the load its own deadline, delivery ``timeout``/``stall`` below) and every process
is stopped in a ``finally``, which the last assertion checks.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from bench.faults import QUICK, run_scenario
from bench.harness import process_tree


@pytest.mark.parametrize("scenario", ["kill9", "pg-restart"])
def test_nothing_acknowledged_is_lost(scenario: str) -> None:
    # Children the session already had (its clamd, issue 25) are not the scenario's.
    before = set(process_tree(os.getpid()))
    plan = dataclasses.replace(QUICK, seed=20)
    result = run_scenario(scenario, plan, timeout=60, stall=30)
    assert result["acknowledged"] >= 100, result
    assert result["lost"] == 0, result
    assert result["not_delivered"] == result["not_called_back"] == 0, result
    assert result["recovery_s"] is not None, result
    if scenario == "kill9":
        assert result["engine_starts"] == 2, result  # killed once, started again
        assert result["refused"], "the kill should refuse some requests"
    left = set(process_tree(os.getpid())) - before
    assert left == set(), "a child process was left running"
