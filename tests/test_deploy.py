"""The deployment files stay in step with the settings and the rules of "Running in
production" (this machine runs no containers: they are checked as text; the Dockerfile is
linted by hadolint in scripts/test).

- Every setting of ``engine/config.py`` is documented in the README and listed in
  ``compose.yaml`` (set, or in a comment with its default).
- The image runs the engine as PID 1 (exec-form ENTRYPOINT) as a non-root user; compose
  gives it longer to stop than the engine's drain; the systemd unit runs ``notify-engine
  serve`` with the same margin and does not restart on configuration or port errors.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

from engine.config import Settings, env_name, load_settings

ROOT = Path(__file__).resolve().parents[1]
VARIABLES = [env_name(field) for field in Settings.__struct_fields__]


def _seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)?", text)
    assert match, text
    return int(match[1]) * (60 if match[2] == "m" else 1)


def test_every_setting_is_in_the_readme_and_in_the_compose_file() -> None:
    readme = (ROOT / "README.md").read_text()
    compose = (ROOT / "compose.yaml").read_text()
    engine = yaml.safe_load(compose)["services"]["engine"]["environment"]
    comments = "\n".join(line.split("#", 1)[1] for line in compose.splitlines() if "#" in line)
    assert [v for v in VARIABLES if not re.search(rf"\b{v}\b", readme)] == []
    assert [v for v in VARIABLES if v not in engine and not re.search(rf"\b{v}\b", comments)] == []


def test_the_compose_file_runs_the_engine_on_its_postgresql() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    engine = compose["services"]["engine"]
    assert engine["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "@postgres:5432/" in engine["environment"]["DATABASE_URL"]
    # Secrets come from .env and are required, never defaulted here.
    for name in ("NOTIFY_SECRET_KEY", "NOTIFY_ADMIN_TOKEN"):
        assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", engine["environment"][name])
    drain = load_settings({}).drain_seconds
    assert _seconds(engine["stop_grace_period"]) > drain
    # Published on loopback only: TLS is a proxy's job.
    assert all(port.startswith("127.0.0.1:") for port in engine["ports"])


def test_the_image_runs_the_engine_as_pid_1_and_not_as_root() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users
    assert users[-1].split(":")[0] not in ("0", "root")
    entrypoint = [line for line in lines if line.startswith("ENTRYPOINT ")]
    assert entrypoint == ['ENTRYPOINT ["notify-engine"]']  # exec form: no shell in between
    assert "STOPSIGNAL SIGTERM" in lines
    assert any("--require-hashes -r requirements.lock" in line for line in lines)


def test_the_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment, method-assign]
    unit.read(ROOT / "deploy" / "notify-engine.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("/notify-engine serve")
    assert service["User"] != "root"
    assert float(service["TimeoutStopSec"]) > load_settings({}).drain_seconds
    assert set(service["RestartPreventExitStatus"].split()) == {"2", "3"}


def _locked(lock: str) -> set[str]:
    names = re.findall(r"^([A-Za-z0-9_.-]+)==", (ROOT / lock).read_text(), re.M)
    return {re.sub(r"[-_.]+", "-", n).lower() for n in names}


def test_the_lock_files_hold_every_dependency_of_pyproject() -> None:
    """scripts/install installs only what the locks name (--require-hashes): a dependency
    added to pyproject.toml without regenerating them is missing on a fresh machine."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(specs: list[str]) -> set[str]:
        bare = (re.split(r"[<>=!~\[; ]", s, maxsplit=1)[0] for s in specs)
        return {re.sub(r"[-_.]+", "-", n).lower() for n in bare}

    runtime = names(project["dependencies"])
    dev = names(project["optional-dependencies"]["dev"])
    assert runtime - _locked("requirements.lock") == set()
    assert (runtime | dev) - _locked("requirements-dev.lock") == set()
