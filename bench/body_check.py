"""The API's hostile-body check (``engine.api.limits.check_body``): ns per call.

    python bench/body_check.py [--rounds 200000]

Times ``check_body`` on a normal POST body (the cheap byte tests only) and on a body that
takes the exact look (an escaped NUL, then deep nesting), best of 5 runs each. Prints one
JSON line. The figure quoted in ``engine/api/limits.py`` comes from here; it is a
benchmark, not a unit test, because it depends on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.api import limits
from engine.api.errors import ApiError

NORMAL = (
    b'{"email_address": "someone@example.com", "template_id": '
    b'"f33517ff-2a88-4f6e-b855-c550268ce08a", "personalisation": {"name": "Ada Lovelace",'
    b' "code": "123456", "day": "Tuesday"}, "reference": "ref-0001"}'
)
NUL = NORMAL.replace(b"Tuesday", b"Tues\\u0000day")
DEEP = b'{"personalisation": ' + b"[" * 40 + b"]" * 40 + b"}"


def ns_per_call(body: bytes, rounds: int) -> float:
    def once() -> None:
        try:
            limits.check_body(body)
        except ApiError:  # the hostile bodies are refused: that is the point
            pass

    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            once()
        best = min(best, (time.perf_counter() - started) / rounds)
    return round(best * 1e9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200_000)
    rounds = parser.parse_args().rounds
    cases: dict[str, Callable[[], float]] = {
        "normal_post_ns": lambda: ns_per_call(NORMAL, rounds),
        "escaped_nul_ns": lambda: ns_per_call(NUL, rounds // 20),
        "deep_nesting_ns": lambda: ns_per_call(DEEP, rounds // 20),
    }
    print(json.dumps({name: run() for name, run in cases.items()}))


if __name__ == "__main__":
    main()
