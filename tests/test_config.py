"""Configuration: one environment variable per setting, converted laxly, validated at start.

A bad value is refused with a message that names the environment variable, both from
``load_settings`` and from ``python -m engine serve`` (exit status 2, one line on stderr).
Secrets never show in ``repr``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from engine.config import ConfigError, Settings, env_name, load_settings

REPO = Path(__file__).resolve().parents[1]
FIELDS = msgspec.structs.fields(Settings)
# Strings that are checked at start: a valid sample of each.
CHECKED_STRINGS = {"default_phone_region": "AU", "default_time_zone": "America/Toronto"}


def _sample(field: msgspec.structs.FieldInfo) -> tuple[str, Any]:
    """A valid value other than the default, as (environment string, expected value)."""
    info = msgspec.inspect.type_info(field.type)
    if isinstance(info, msgspec.inspect.UnionType):
        info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
    default = field.default
    if isinstance(info, msgspec.inspect.BoolType):
        return ("false", False) if default else ("true", True)
    if isinstance(info, msgspec.inspect.LiteralType):
        value = next(v for v in info.values if v != default)
        return str(value), value
    if isinstance(info, msgspec.inspect.IntType):
        low = info.ge if info.ge is not None else (info.gt + 1 if info.gt is not None else 0)
        high = info.le if info.le is not None else low + 1000
        number = next(n for n in (low + 1, low, high) if low <= n <= high and n != default)
        return str(number), number
    if isinstance(info, msgspec.inspect.FloatType):
        low = info.ge if info.ge is not None else (info.gt if info.gt is not None else 0.0)
        high = info.le if info.le is not None else low + 1000.0
        real = next(x for x in (low + 0.5, (low + high) / 2) if x <= high and x != default)
        return repr(real), real
    assert isinstance(info, msgspec.inspect.StrType), (field.name, info)
    if field.name in CHECKED_STRINGS:
        return CHECKED_STRINGS[field.name], CHECKED_STRINGS[field.name]
    return f"value-of-{field.name}", f"value-of-{field.name}"


def test_every_setting_is_read_from_its_own_environment_variable() -> None:
    samples = {f.name: _sample(f) for f in FIELDS}
    environ = {env_name(name): text for name, (text, _) in samples.items()}
    settings = load_settings(environ)
    for name, (text, expected) in samples.items():
        assert getattr(settings, name) == expected, (env_name(name), text)
    assert env_name("database_url") == "DATABASE_URL"
    assert env_name("database_replica_url") == "DATABASE_REPLICA_URL"
    assert env_name("store_batch_rows") == "NOTIFY_STORE_BATCH_ROWS"


def test_unset_and_empty_variables_keep_the_defaults() -> None:
    assert load_settings({}) == Settings()
    assert load_settings({"NOTIFY_PORT": "", "DATABASE_URL": ""}) == Settings()
    # Unrelated variables are ignored.
    assert load_settings({"PORT": "1", "NOTIFY_NOT_A_SETTING": "x"}) == Settings()


def test_values_are_converted_laxly() -> None:
    settings = load_settings(
        {
            "NOTIFY_PORT": "8080",
            "NOTIFY_HEADER_TIMEOUT": "2",
            "NOTIFY_STORE_LINGER_MS": "0",
            "NOTIFY_RECEIPTS_VERIFY_SIGNATURE": "0",
            "NOTIFY_LOG_LEVEL": "DEBUG",
        }
    )
    assert settings.port == 8080
    assert settings.header_timeout == 2.0
    assert settings.store_linger_ms == 0.0
    assert settings.receipts_verify_signature is False
    assert settings.log_level == "DEBUG"
    assert load_settings({"NOTIFY_RECEIPTS_VERIFY_SIGNATURE": "true"}).receipts_verify_signature


def test_explicit_overrides_win_over_the_environment() -> None:
    settings = load_settings({"NOTIFY_PORT": "8080"}, port=0)
    assert settings.port == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NOTIFY_PORT", "abc"),
        ("NOTIFY_PORT", "70000"),
        ("NOTIFY_STORE_BATCH_ROWS", "0"),
        ("NOTIFY_STORE_BATCH_ROWS", "1.5"),
        ("NOTIFY_SES_MODE", "fast"),
        ("NOTIFY_HEADER_TIMEOUT", "0"),
        ("NOTIFY_RECEIPTS_VERIFY_SIGNATURE", "maybe"),
        ("NOTIFY_LOG_LEVEL", "loud"),
        ("NOTIFY_DB_POOL_SIZE", "1"),
    ],
)
def test_a_bad_value_names_its_environment_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"NOTIFY_PORT": "8080", variable: value})
    message = str(caught.value)
    assert message.startswith(f"{variable}={value!r} is invalid: "), message
    assert "\n" not in message


def test_repr_hides_secrets() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://notify:pg-password-123@db.internal/notify",
            "DATABASE_REPLICA_URL": "postgresql://notify:pg-password-456@replica/notify",
            "NOTIFY_SECRET_KEY": "secret-key-abcdef-123456",
            "NOTIFY_ADMIN_TOKEN": "admin-token-abcdef-123456",
        }
    )
    for text in (repr(settings), str(settings), f"{settings!r}"):
        assert "pg-password-123" not in text
        assert "pg-password-456" not in text
        assert "secret-key-abcdef-123456" not in text
        assert "admin-token-abcdef-123456" not in text
        assert text.count("'***'") == 4
        assert "'port': 6011" in text  # the rest is shown
    # Unset secrets are shown as empty, so an operator can see they are missing.
    assert "'admin_token': ''" in repr(Settings())


async def _run_engine(env: dict[str, str], *args: str) -> Any:
    with trio.fail_after(60):
        return await trio.run_process(
            [sys.executable, "-m", "engine", *args],
            env=env,
            cwd=REPO,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


@pytest.mark.parametrize(
    ("variable", "value"),
    [("NOTIFY_PORT", "abc"), ("NOTIFY_STORE_BATCH_ROWS", "0"), ("NOTIFY_SES_MODE", "fast")],
)
async def test_serve_with_a_bad_variable_exits_2_with_one_line(
    tmp_path: Path, variable: str, value: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")}
    env.update({"NOTIFY_DATA_DIR": str(tmp_path / "data"), variable: value})
    result = await _run_engine(env, "serve")
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert stderr.endswith("\n")
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"configuration error: {variable}={value!r} is invalid: "), stderr
    assert result.stdout == b""
    # Refused before anything was set up: no secrets were generated.
    assert not (tmp_path / "data").exists()


def test_the_default_region_and_time_zone_are_checked_at_start() -> None:
    settings = load_settings({})
    assert (settings.default_phone_region, settings.default_time_zone) == ("CA", "UTC")
    with pytest.raises(ConfigError, match="NOTIFY_DEFAULT_PHONE_REGION='ZZ'"):
        load_settings({"NOTIFY_DEFAULT_PHONE_REGION": "ZZ"})
    with pytest.raises(ConfigError, match="NOTIFY_DEFAULT_TIME_ZONE='America/Ottawa'"):
        load_settings({"NOTIFY_DEFAULT_TIME_ZONE": "America/Ottawa"})
