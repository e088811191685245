"""What the AWS providers (SES, SNS) share: the aiobotocore client factory and the mapping of
AWS errors to the three failure outcomes of a ``SendResult`` (the one failure channel,
``engine.providers.base``): a client error becomes results, never an exception of ours.

Rules:
- Clients use ``AioConfig(http_session_cls=AwsHttpSession)`` (``engine/http1/aws_session.py``):
  trio sockets and httptools, so AWS calls need no asyncio bridge. Not aiobotocore's
  ``HttpxSession``: py-spy of ``bench/engine.py --provider ses`` put its ``send`` (httpx2
  client, httpcore2 pool, h11, response reading) at ~11% of the process's CPU. AwsHttpSession
  subclasses it and hands it the requests it does not take (a proxy configured, streamed
  responses), so ``HttpxSession`` still serves those.
- botocore's own retries are off (one attempt per call): the ProviderActor owns retries,
  backoff and failover, and a hidden retry loop would blur its latency and rate figures.
- botocore's client-side parameter validation is off (CPU on the hot path; see below).
- Error mapping is pure and total: throttling -> ``throttled``; 5xx, timeouts, connection
  and credential problems -> ``retryable`` (an operator can fix them, the message is fine);
  any other 4xx (bad address, unverified sender, suspended account) -> ``rejected``.
- Every provider call has a deadline (``call``; ``NOTIFY_PROVIDER_TIMEOUT_SECONDS``, 5 s):
  from the request leaving the provider's queue (its concurrency limiter) to its whole
  answer, a new connection included. SES and SNS answer in tens to hundreds of ms (a
  50-entry SendBulkEmail well under a second); without the deadline a call that hung (the
  server took the request and never answered) held its batch for the client's read timeout
  (15 s a call; issue 20 measured 31 s before a hang was noticed), and the breaker and
  failover learnt nothing meanwhile. Past the deadline the call is cancelled, its connection
  closed (never reused: a late answer cannot be read as the next call's), and every
  message of that call is a ``retryable`` result: the breaker counts it, the actor retries
  it with backoff or fails it over. The deadline is per call, not per batch: the other
  calls of the batch keep their own answers, so an accepted entry is never resent because
  a sibling call hung. It counts the time the process ran, not the time it was frozen
  (``engine.providers.deadline``): a worker SIGSTOPped with a call on the wire reads the
  answer that arrived meanwhile instead of cancelling it (issue 19). The connect phase
  keeps its own bound under it, ``CONNECT_SECONDS`` (an unreachable endpoint fails as a
  connect error, certainly not sent: a freeze during the connect costs a retry, never a
  duplicate). The write and read phases have none of their own: a trio deadline is
  wall-clock, so a freeze that landed just before the request's write found the write
  phase's deadline spent after the thaw; the request still went out (the step runs on
  to the next checkpoint) and the call then failed as a write timeout, so its sender
  retried, and, fenced meanwhile, left the row to recovery: a duplicate, one of 6
  ``pause`` fault runs (the two acceptances 17 s apart, the sending grace after the
  retry's mark). Until issue 19 the read phase's bound was the deadline again (a
  backstop) and the write phase's aiobotocore's 5 s.
- The trade-off of a deadline: a timed-out call may have been delivered (SES and SNS have
  no idempotency key for SendBulkEmail, SendEmail or Publish), and resending it may
  deliver it twice. This is the ProviderActor's existing rule for an uncertain outcome
  (a batch interrupted before its outcome was stored is sent again: a duplicate is better
  than a message silently stuck in ``sending``), and it applied before at the 15 s read
  timeout too; a shorter deadline also applies it to calls that were merely very slow
  (over 5 s: rare, and then the path to AWS is what needs failing over). A connect error
  or a refused call is certainly not sent; only a call cut off after its request was
  written is uncertain.
- A client lives as long as the engine: ``serve`` opens it inside an actor nursery task and
  closes it, shielded, when that nursery is cancelled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import trio
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from engine.config import Settings
from engine.http1.aws_session import AwsHttpSession
from engine.providers.base import Outcome
from engine.providers.deadline import deadlines

THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "Throttled",
        "ThrottledException",
        "TooManyRequests",
        "TooManyRequestsException",
        "MaxSendingRateExceeded",
        "RequestLimitExceeded",
        "LimitExceededException",  # SES v2: daily sending quota; later is fine
        "KMSThrottling",
        "KMSThrottlingException",
    }
)
RETRYABLE_CODES = frozenset(
    {
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "InternalErrorException",
        "InternalServiceError",
        "RequestTimeout",
        "RequestTimeoutException",
        # Credentials and permissions are configuration: the message itself is sendable.
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
    }
)


def classify(code: str, http_status: int) -> Outcome:
    """The category of an AWS error response. Pure."""
    if code in THROTTLE_CODES or http_status == 429:
        return "throttled"
    if code in RETRYABLE_CODES or http_status >= 500 or http_status == 0:
        return "retryable"
    return "rejected"


def describe(exc: Exception) -> tuple[Outcome, str, float | None]:
    """(outcome, detail, retry_after seconds) for an exception raised by a client call: what
    the providers put in the failed calls' results (``base.failed``)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code") or "")
        status = int(meta.get("HTTPStatusCode") or 0)
        message = str(error.get("Message") or "")
        detail = f"{code}: {message}" if message else code or f"HTTP {status}"
        return classify(code, status), detail, retry_after(meta.get("HTTPHeaders") or {})
    if isinstance(exc, ParamValidationError):
        # botocore refused to build the request: sending it again cannot help.
        return "rejected", f"{type(exc).__name__}: {exc}", None
    # EndpointConnectionError, Connect/ReadTimeoutError, ConnectionClosedError,
    # HTTPClientError, NoCredentialsError, NoAnswer (the deadline): the message is fine,
    # the path to AWS is not.
    return "retryable", f"{type(exc).__name__}: {exc}", None


def retry_after(headers: dict[str, Any]) -> float | None:
    """Seconds from a ``Retry-After`` header (delta form only). Pure."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return seconds if seconds is not None and seconds >= 0 else None


class NoAnswer(Exception):
    """A provider call that got no whole answer within its deadline: it may have been sent."""

    def __init__(self, deadline: float) -> None:
        super().__init__(f"no answer within {deadline:g} s; the call may have been delivered")


CLIENT_ERRORS = (ClientError, BotoCoreError, NoAnswer)

# The connect phase's own bound under the call's deadline: a TCP and TLS connect to a
# regional AWS endpoint takes tens of ms; 2 s still allows a lost SYN (resent after 1 s).
CONNECT_SECONDS = 2.0

R = TypeVar("R")


async def call(method: Callable[..., Awaitable[R]], request: dict[str, Any], deadline: float) -> R:
    """``await method(**request)``, cancelled once the process has run ``deadline`` seconds
    without the whole answer (time it was frozen does not count: ``engine.providers.deadline``):
    ``NoAnswer`` then (``describe``: retryable). The cancelled request's connection is closed
    by the session."""
    clock = deadlines()
    scope = clock.open(deadline)
    try:
        with scope:
            return await method(**request)
    finally:
        clock.close(scope)
    raise NoAnswer(deadline)


def provider_config(settings: Settings, *, max_connections: int) -> AioConfig:
    """A provider client's config: the phase timeouts under ``provider_timeout_seconds``."""
    deadline = settings.provider_timeout_seconds
    return client_config(
        max_connections=max_connections,
        connect_timeout=min(CONNECT_SECONDS, deadline),
        # ``call``'s deadline bounds them; a wall-clock one counts a freeze (module rules).
        read_timeout=None,
        write_timeout=None,
    )


def client_config(
    *,
    max_connections: int = 16,
    connect_timeout: float = 5.0,
    read_timeout: float | None = 15.0,
    write_timeout: float | None = 5.0,
) -> AioConfig:
    return AioConfig(
        http_session_cls=AwsHttpSession,
        connector_args={"write_timeout": write_timeout},
        max_pool_connections=max_connections,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": 1},
        # botocore re-validates every request against the service model: ~5 ms CPU per
        # 50-entry SendBulkEmail, ~100 us an email. Our request builders are pure and
        # tested against moto, so the engine skips it (bench/engine.py measures both).
        parameter_validation=False,
    )


@asynccontextmanager
async def open_client(
    service: str,
    settings: Settings,
    *,
    config: AioConfig | None = None,
    credentials: tuple[str, str] | None = None,
) -> AsyncIterator[Any]:
    """An aiobotocore client for ``service`` ("sesv2", "sns"), closed on exit.

    Without ``credentials`` the default AWS chain applies (environment, profile, role)."""
    kwargs: dict[str, Any] = {
        "region_name": settings.aws_region,
        "config": config or client_config(),
    }
    if settings.aws_endpoint_url:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    if credentials is not None:
        kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"] = credentials
    async with get_session().create_client(service, **kwargs) as client:
        yield client


P = TypeVar("P")


async def serve(
    opener: Callable[[], AbstractAsyncContextManager[P]],
    *,
    task_status: trio.TaskStatus[P] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Hold a provider open for the life of the surrounding nursery (``nursery.start``
    returns the provider); close it, shielded, when the nursery is cancelled."""
    manager = opener()
    provider = await manager.__aenter__()
    try:
        task_status.started(provider)
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True, relative_deadline=10.0):
            await manager.__aexit__(None, None, None)
