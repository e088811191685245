"""An operator's first start (issue 26): a fresh clone's ``./scripts/run`` to the demo banner,
Ctrl-C, then the second start, and what was left running.

    .venv/bin/python bench/first_start.py                      # warm caches, uv
    .venv/bin/python bench/first_start.py --cold                # empty caches
    NOTIFY_INSTALLER=pip .venv/bin/python bench/first_start.py  # pip only

Clones this checkout's HEAD into a temporary folder (0711: as root the embedded server's
user must traverse it), runs ``./scripts/run`` there in a process group of its own, waits
for the banner, sends SIGINT to the group (a terminal's Ctrl-C), waits for the exit, then
does it again (the install is skipped; the database exists). ``--cold`` gives pip and uv
empty caches of their own (everything downloaded); otherwise the user's caches are used
(warm after one run). Prints one JSON line: seconds to each banner, exit codes, the CPU
the engine used for the second start (the machine may be loaded: wall time is noisy),
the load average, and every process whose command line still names the clone (must be
none). Bounded: each start has 600 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_once(clone: Path, env: dict[str, str]) -> tuple[float, int, float]:
    """Seconds to the banner, the exit code after Ctrl-C, the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    process = subprocess.Popen(
        ["./scripts/run"], cwd=clone, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    seen = b""
    deadline = started + 600
    while b"demo is ready" not in seen:
        chunk = process.stdout.read1(65536)
        if not chunk or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise SystemExit(f"no banner: {seen[-2000:].decode(errors='replace')}")
        seen += chunk
    ready = time.monotonic() - started
    os.killpg(process.pid, signal.SIGINT)
    process.stdout.read()
    code = process.wait(timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ready, code, cpu


def leftovers(clone: Path) -> list[str]:
    listing = subprocess.run(
        ["ps", "-eww", "-o", "pid=,args="], capture_output=True, text=True, check=True
    ).stdout
    return [line.strip() for line in listing.splitlines() if str(clone) in line]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", action="store_true", help="empty pip and uv caches")
    parser.add_argument("--port", type=int, default=6180)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="notify-first-start-"))
    work.chmod(0o711)
    clone = work / "notify-engine"
    try:
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")}
        env.pop("DATABASE_URL", None)
        env.pop("VIRTUAL_ENV", None)
        env["NOTIFY_PORT"] = str(args.port)
        if args.cold:
            env["PIP_CACHE_DIR"] = str(work / "pip-cache")
            env["UV_CACHE_DIR"] = str(work / "uv-cache")
        first, first_code, _ = start_once(clone, env)
        second, second_code, second_cpu = start_once(clone, env)
        time.sleep(0.5)
        result = {
            "benchmark": "first_start",
            # scripts/install: uv from PATH, else a uv it installs into .venv first, unless
            # NOTIFY_INSTALLER=pip.
            "installer": "pip"
            if env.get("NOTIFY_INSTALLER") == "pip"
            else ("uv" if shutil.which("uv", path=env.get("PATH")) else "uv (into .venv)"),
            "cache": "cold" if args.cold else "warm",
            "first_start_s": round(first, 2),
            "second_start_s": round(second, 2),
            "second_start_cpu_s": round(second_cpu, 2),
            "exit_codes": [first_code, second_code],
            "load_average": round(os.getloadavg()[0], 1),
            "left_running": leftovers(clone),
        }
        print(json.dumps(result))
    finally:
        for line in leftovers(clone):  # hygiene only; reported above
            os.kill(int(line.split()[0]), signal.SIGTERM)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
