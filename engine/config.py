"""Engine configuration: every setting comes from one environment variable, read here once.

Rules:
- Variables are named ``NOTIFY_<FIELD>`` (upper case), except ``DATABASE_URL`` and
  ``DATABASE_REPLICA_URL``.
- Values are converted in msgspec's lax mode ("30" -> 30, "true" -> True) and validated at
  start; a bad value stops the engine with a message naming the variable.
- Secrets (admin token, encryption key) are never logged: ``Settings.__repr__`` hides them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec

from engine.domain.recipients import region_problem
from engine.domain.timezones import zone_problem

PREFIX = "NOTIFY_"
_SECRET_FIELDS = frozenset(
    {"admin_token", "secret_key", "data_keys", "database_url", "database_replica_url"}
)
_PLAIN_NAMES = {"database_url": "DATABASE_URL", "database_replica_url": "DATABASE_REPLICA_URL"}

Seconds = Annotated[float, msgspec.Meta(gt=0)]
Positive = Annotated[int, msgspec.Meta(ge=1)]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    # Storage
    database_url: str | None = None
    data_dir: str = ".notify-data"
    # The embedded PostgreSQL (no DATABASE_URL) stops when `serve` / `demo` stop; true keeps
    # it running for faster restarts (`notify-engine db stop` stops it).
    embedded_keep_running: bool = False
    # The main pool's maximum. 4, not 8: under bench/e2e.py --quick it never held more
    # than 3 connections (pg_stat_activity sampled every 50 ms, 5 runs) and 4 vs 8 taking
    # turns measured no difference (350.8 / 282.0 vs 287.7 notifications/s, shared machine).
    db_pool_size: Annotated[int, msgspec.Meta(ge=2, le=100)] = 4
    # The keyed pool's fixed size (engine/store/pools.py); unset: 2 x store_writers + 2.
    db_keyed_pool_size: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    # A read replica for read-only API traffic (GET, the list): engine/store/replica.py.
    database_replica_url: str | None = None
    # Its pool's maximum per process (opened on demand, none at start).
    db_replica_pool_size: Annotated[int, msgspec.Meta(ge=1, le=100)] = 4
    # Secrets. Without a secret_key the engine refuses to start, except `demo`, which
    # generates one into data_dir.
    secret_key: str = ""
    admin_token: str = ""
    # Keys of personal data at rest, comma separated: the first seals, all open (rotation:
    # engine.crypto.DataKeys, README "Personal data at rest"). Unset: NOTIFY_SECRET_KEY.
    data_keys: str = ""
    # HTTP ingress
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 6011
    public_url: str = ""  # base for `uri` fields when behind a proxy; else the request's Host
    # A separate admin listener: with admin_port set, /admin/... is served only there (on
    # admin_host, default `host`) and the public port answers 404 for it. Unset: one port.
    admin_host: str = ""
    admin_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] | None = None
    max_body_bytes: Positive = 60 * 1024 * 1024
    header_timeout: Seconds = 10.0
    body_timeout: Seconds = 60.0
    keepalive_timeout: Seconds = 30.0
    max_connections: Positive = 2048
    drain_seconds: Seconds = 10.0
    workers: Positive = 1
    # Young-generation GC threshold once serving (0 = Python's default); see gc_policy.py
    gc_young_threshold: Annotated[int, msgspec.Meta(ge=0)] = 50_000
    # Store group commit
    store_batch_rows: Annotated[int, msgspec.Meta(ge=1, le=20_000)] = 1000
    store_linger_ms: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 2.0
    store_writers: Annotated[int, msgspec.Meta(ge=1, le=16)] = 2
    # Provider status writes gather longer than inserts: no request waits on them.
    store_status_linger_ms: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 25.0
    # Providers: comma separated, in failover order
    email_providers: str = "simulated"
    sms_providers: str = "simulated"
    # Provider send rates in messages/s, e.g. "ses=14,sns=20"; a provider not named is unpaced
    provider_send_rates: str = ""
    # How long a provider actor gathers messages into one call (up to the provider's batch).
    # 50 ms, not 20: with two worker processes each sees half the traffic, and at 20 ms an
    # SES call carried ~21 emails instead of ~32; the per-call cost then dominated
    # (bench/e2e.py --notifications 60000 --engine-env NOTIFY_WORKERS=2: 693/s -> 776/s,
    # engine CPU per 1,000 1.83 s -> 1.61 s, created->delivered p50 unchanged).
    provider_linger_ms: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 50.0
    # The deadline of one provider call (SES SendBulkEmail/SendEmail, SNS Publish): from the
    # request leaving the provider's queue to its whole answer, a new connection included.
    # SES and SNS answer in tens to hundreds of ms; past this a call counts as a retryable
    # failure (engine/providers/aws.py: the trade-off of an uncertain outcome).
    provider_timeout_seconds: Seconds = 5.0
    simulated_latency_ms: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    simulated_receipt_delay_ms: Annotated[float, msgspec.Meta(ge=0)] = 50.0
    aws_region: str = "ca-central-1"
    aws_endpoint_url: str = ""
    ses_mode: Literal["bulk", "single"] = "bulk"
    ses_configuration_set: str = ""
    notify_email_domain: str = "notification.canada.ca"
    # Provider receipts: SNS HTTP(S) endpoints and/or an SQS queue
    receipts_verify_signature: bool = True
    receipts_cert_hosts: str = ""  # extra allowed cert/SubscribeURL prefixes, comma separated
    receipts_topic_arns: str = ""  # comma separated; set: only these SNS topics are accepted
    receipts_sqs_queue_url: str = ""  # set: poll this queue for SES/SNS receipts
    # Status callbacks (contract 3.4: 5 retries 300 s apart, 5 s timeout)
    callback_timeout: Seconds = 5.0
    callback_max_retries: Annotated[int, msgspec.Meta(ge=0, le=100)] = 5
    callback_retry_seconds: Seconds = 300.0
    callback_concurrency: Annotated[int, msgspec.Meta(ge=1, le=256)] = 8  # per endpoint
    callback_queue_size: Positive = 1000  # in memory per endpoint; the rest waits in the DB
    callback_poll_seconds: Seconds = 1.0  # how often due retries are looked for
    callback_probe_seconds: Seconds = 60.0  # health-check probe of suspended endpoints
    # Callback URLs (engine.domain.callback_urls): https only and public addresses only,
    # unless these allow http:// and loopback/private addresses (local use, tests).
    callback_allow_http: bool = False
    callback_allow_private: bool = False
    # Recovery: how often unowned work is swept up, when a silent process counts as dead
    recovery_sweep_seconds: Seconds = 5.0
    recovery_dead_after_seconds: Annotated[float, msgspec.Meta(ge=1)] = 30.0
    # Observability: a per-process /metrics listener (0 = only /metrics on the API port)
    metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    # Regions (issue 22): the phone region whose local formats a number without "+" is read
    # in, and the IANA time zone of the services' local day and of a scheduled_for without
    # an offset; each service may set its own (admin API: phone_region, time_zone). The GC
    # deployment profile sets NOTIFY_DEFAULT_TIME_ZONE=America/Toronto.
    default_phone_region: str = "CA"
    default_time_zone: str = "UTC"
    # Files (issue 25). The virus scanner: clamd's socket, "unix:/path" (or "/path") or
    # "host:port"; unset: Debian's clamav-daemon socket when it exists. Without a scanner
    # files are refused, unless files_without_scan says to send them unscanned.
    clamd_address: str = ""
    clamd_timeout_seconds: Seconds = 30.0  # one file: connect, stream, verdict
    clamd_concurrency: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4  # scans at once
    # clamd's StreamMaxLength (25 MiB by default): larger files are not sent to it.
    clamd_stream_max_bytes: Positive = 25 * 1024 * 1024
    # Bytes of files held in memory waiting for a scan; past it rows wait in the database.
    scan_queue_bytes: Positive = 64 * 1024 * 1024
    # A row still waiting for its scan this long after it was created ends
    # technical-failure (never sent unscanned). At most 7 days: files are kept that long.
    scan_give_up_hours: Annotated[float, msgspec.Meta(gt=0, le=168)] = 72.0
    files_without_scan: bool = False
    # Object storage: the bucket for files (S3-compatible); unset: files stay in PostgreSQL.
    files_bucket: str = ""
    files_endpoint_url: str = ""  # unset: aws_endpoint_url (unset: AWS itself)
    # Logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    def __post_init__(self) -> None:
        if self.admin_host and self.admin_port is None:
            raise ValueError("NOTIFY_ADMIN_HOST is set but NOTIFY_ADMIN_PORT is not")
        if region_problem(self.default_phone_region):
            raise ValueError(
                f"NOTIFY_DEFAULT_PHONE_REGION={self.default_phone_region!r} is not a supported"
                " ISO 3166 region code (such as CA, AU)"
            )
        if zone_problem(self.default_time_zone):
            raise ValueError(
                f"NOTIFY_DEFAULT_TIME_ZONE={self.default_time_zone!r} is not an IANA time zone"
                " name (such as America/Toronto)"
            )

    def __repr__(self) -> str:
        shown = {
            f: ("***" if f in _SECRET_FIELDS and getattr(self, f) else getattr(self, f))
            for f in self.__struct_fields__
        }
        return f"Settings({shown})"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the environment variable."""


def env_name(field: str) -> str:
    return _PLAIN_NAMES.get(field, PREFIX + field.upper())


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build Settings from the environment (plus explicit overrides, which win)."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for field in Settings.__struct_fields__:
        name = env_name(field)
        if name in env and env[name] != "":
            raw[field] = env[name]
    raw.update(overrides)
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(exc, raw)) from None


def _explain(exc: msgspec.ValidationError, raw: Mapping[str, object]) -> str:
    # msgspec says "... - at `$.port`"; name the environment variable instead.
    text = str(exc)
    if "at `$." in text:
        message, _, path = text.rpartition(" - at `$.")
        field = path.rstrip("`").split(".")[0].split("[")[0]
        value = raw.get(field)
        return f"{env_name(field)}={value!r} is invalid: {message}"
    return f"invalid configuration: {text}"
