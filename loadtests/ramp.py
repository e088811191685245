"""Ramp to the breaking point: the realistic mix, adding users step by step until the
failure ratio or the p95 of the last seconds crosses the thresholds (--max-fail-ratio,
--max-p95-ms), or NOTIFY_RAMP_MAX_USERS is reached.

The breaking point (users, requests/s, failure ratio, p95 at that moment) is logged and
written to out/ramp_breaking_point.json. Finding it is the point of the run: the exit code
is 0 when a breaking point or the user ceiling was reached, 1 only if nothing was sent.
"""

import json
import logging
import os
from pathlib import Path
from typing import Any

from locust import LoadTestShape, events
from mix import MixUser

__all__ = ["MixUser", "RampToBreakingPoint"]
log = logging.getLogger("loadtests.ramp")
OUT = Path(__file__).parent / "out" / "ramp_breaking_point.json"


class RampToBreakingPoint(LoadTestShape):
    step_users = int(os.environ.get("NOTIFY_RAMP_STEP_USERS", "20"))
    step_seconds = float(os.environ.get("NOTIFY_RAMP_STEP_SECONDS", "15"))
    max_users = int(os.environ.get("NOTIFY_RAMP_MAX_USERS", "2000"))
    breaking_point: dict[str, Any] | None = None

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        users = min(self.max_users, self.step_users * (1 + int(elapsed // self.step_seconds)))
        stats = self.runner.stats.total
        options = self.runner.environment.parsed_options
        p95 = stats.get_current_response_time_percentile(0.95) or 0
        window_failures = stats.current_fail_per_sec / max(stats.current_rps, 1e-9)
        broken = elapsed > self.step_seconds and (
            window_failures > options.max_fail_ratio or p95 > options.max_p95_ms
        )
        steps_to_max = -(-self.max_users // self.step_users)
        held_max = elapsed >= self.step_seconds * (steps_to_max + 1)  # a full step at the top
        if broken or held_max:
            type(self).breaking_point = {
                "broken": broken,
                "users": self.runner.user_count,
                "requests_per_s": round(stats.current_rps, 1),
                "failure_ratio": round(window_failures, 4),
                "p95_ms": p95,
                "seconds": round(elapsed, 1),
            }
            return None
        return users, float(self.step_users)


@events.quitting.add_listener
def _report(environment: Any, **_: Any) -> None:
    point = RampToBreakingPoint.breaking_point
    if point is None:
        return
    log.info("breaking point: %s", point)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(point))
    # Crossing the thresholds is the expected end of a ramp, not a failed run.
    environment.process_exit_code = 0 if environment.stats.total.num_requests else 1
