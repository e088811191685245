"""What a deadline costs a request: trio's cancel scopes against the engine's watchdog.

    python bench/deadlines.py [--tasks 200] [--requests 300] [--rounds 3]

``--tasks`` tasks each make ``--requests`` "requests" of one checkpoint (a request's
smallest wait), bounded four ways: not at all, a bare ``trio.CancelScope``,
``trio.fail_after`` (a scope with a deadline, through a context manager), and a ticket of
``engine.watchdog.Watchdog`` (its task running with a 0.5 s tick). The ways take turns,
``--rounds`` times. Prints one JSON line: per way, the process CPU microseconds per
request in each round. The difference from "none" is what the bound costs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.watchdog import Watchdog

WAYS = ("none", "cancel_scope", "fail_after", "watchdog_ticket")


async def _requests(way: str, count: int, watchdog: Watchdog) -> None:
    checkpoint = trio.lowlevel.checkpoint
    for _ in range(count):
        if way == "none":
            await checkpoint()
        elif way == "cancel_scope":
            with trio.CancelScope():
                await checkpoint()
        elif way == "fail_after":
            with trio.fail_after(10):
                await checkpoint()
        else:
            with watchdog.ticket(10):
                await checkpoint()


async def measure(tasks: int, requests: int, rounds: int) -> dict[str, list[float]]:
    watchdog = Watchdog(0.5)
    out: dict[str, list[float]] = {way: [] for way in WAYS}
    async with trio.open_nursery() as nursery:
        await nursery.start(watchdog.run)
        for _ in range(rounds):
            for way in WAYS:
                start = time.process_time()
                async with trio.open_nursery() as workers:
                    for _ in range(tasks):
                        workers.start_soon(_requests, way, requests, watchdog)
                spent = time.process_time() - start
                out[way].append(round(spent / (tasks * requests) * 1e6, 2))
        nursery.cancel_scope.cancel()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=200)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    result = trio.run(measure, args.tasks, args.requests, args.rounds)
    print(json.dumps({"us_per_request": result, "tasks": args.tasks}))


if __name__ == "__main__":
    main()
