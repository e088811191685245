"""Schemathesis over every operation of the served OpenAPI document (issue 20).

A real engine (PostgreSQL, a live service, its templates and API key) serves on a loopback
port; Schemathesis reads ``GET /v2/openapi`` from it and sends hypothesis-generated requests
to every operation, over real HTTP: valid ones (positive) and, where an operation takes
anything, invalid ones (negative). Each answer must pass the checks: no 5xx
(``not_a_server_error``), a documented status code, the documented content type and a body
that matches the documented schema (the error envelope for errors). The document thereby
cannot promise what the engine does not send.

Rules:
- Real HTTP on 127.0.0.1, never Schemathesis' ASGI transport (asyncio; the engine runs on
  trio). Schemathesis is synchronous (``requests``): it runs in a worker thread while the
  test's trio loop serves.
- Path parameters are drawn half the time from real objects (the service's templates, a
  notification it sent), so that calls reach the handlers' logic instead of all being 404.
- Bounded and repeatable: ``derandomize`` (a fixed seed per operation), ``MAX_EXAMPLES`` per
  operation and mode, no deadline (a shared 2-core machine), no example database. Measured:
  ~20 s for the whole run on that machine.
- Every operation is run; failures are gathered and reported together, one per operation
  and mode (hypothesis shrinks each to a minimal request).
"""

from __future__ import annotations

from typing import Any

import hypothesis
import schemathesis
import trio
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import RunningEngine

MAX_EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def fuzz_every_operation(
    document: dict[str, Any], base_url: str, headers: dict[str, str], known: dict[str, list[str]]
) -> tuple[list[str], list[str]]:
    """Run every operation of ``document`` in both modes; return (operations run, failures
    as text). ``from_dict``, not ``from_url``: loaded from a URL, Schemathesis leaves out
    the operation that serves the document itself."""
    schema = schemathesis.openapi.from_dict(document, config=schemathesis.Config())
    ran: list[str] = []
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        negatable = any(
            len(group) for group in (operation.path_parameters, operation.query, operation.body)
        )
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if negatable else [])
        for mode in modes:
            label = f"{operation.label} ({mode.value})"
            try:
                _fuzz(operation, mode, base_url, headers, known)
            except (Exception, BaseExceptionGroup) as exc:  # Schemathesis' FailureGroup
                failures.append(f"{label}:\n{exc}")
            ran.append(label)
    return ran, failures


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    headers: dict[str, str],
    known: dict[str, list[str]],
) -> None:
    names = {p.name for p in operation.path_parameters}
    fixed = [{n: v} for n in sorted(names) if n in known for v in known[n]]
    strategy = st.one_of(
        operation.as_strategy(mode),
        *(operation.as_strategy(mode, path_parameters=values) for values in fixed),
    )

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink],
    )
    @hypothesis.given(case=strategy)
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        case.validate_response(response, checks=CHECKS, headers=headers)

    check()


async def test_every_operation_answers_as_documented(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    key = setup["keys"]["normal"]
    headers = {"Authorization": f"ApiKey-v1 {key}"}
    async with running_engine.client(headers=headers) as client:
        document = (await client.get("/v2/openapi")).json()
        sent = await client.post(
            "/v2/notifications/email",
            json={
                "email_address": "someone@example.com",
                "template_id": setup["email_template"],
                "personalisation": {"name": "Ada", "code": "1234"},
            },
        )
        assert sent.status_code == 201, sent.text
    known = {
        "template_id": [setup["email_template"], setup["sms_template"]],
        "notification_id": [sent.json()["id"]],
    }
    with trio.fail_after(240):
        ran, failures = await trio.to_thread.run_sync(
            fuzz_every_operation, document, running_engine.base_url, headers, known
        )
    # Every operation of the document; both modes where there is something to make invalid
    # (the document and its alias take nothing).
    operations = sum(len(methods) for methods in document["paths"].values())
    assert operations == 13
    assert len(ran) == 2 * operations - 2, "\n".join(ran)
    assert not failures, "\n\n".join(failures)
