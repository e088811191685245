"""The verified-token cache in front of PyJWT: a token seen before skips the signature
check, but never the checks that can change since (revocation, archiving, key removal,
``iat`` age), and the cache stays bounded. Pure: the lookup is an in-memory bundle."""

from __future__ import annotations

import time
import uuid

import jwt
import msgspec
import pytest

from engine.api.auth import VerifiedTokens, authenticate
from engine.api.errors import AuthError
from engine.services import ApiKey, Service, ServiceBundle

SECRET = str(uuid.uuid4())


def _bundle(*keys: ApiKey, active: bool = True) -> ServiceBundle:
    service = Service(
        id=uuid.uuid4(), name="s", email_from="s", sending_domain=None, restricted=False,
        active=active, suspended=False, rate_limit=1000, email_daily_limit=10,
        sms_daily_limit=10, email_annual_limit=10, sms_annual_limit=10, prefix_sms=True,
        international_sms=False,
    )  # fmt: skip
    return ServiceBundle(
        service=service, keys=list(keys), templates={}, reply_tos={}, default_reply_to=None,
        sms_senders={}, default_sms_sender=None, team_emails=frozenset(),
        team_phones=frozenset(), callbacks={}, loaded_at=0.0,
    )  # fmt: skip


def _key(revoked: bool = False, key_id: uuid.UUID | None = None) -> ApiKey:
    return ApiKey(
        id=key_id or uuid.uuid4(), name="k", key_type="normal", secret=SECRET, revoked=revoked
    )


class Lookup:
    """The registry seam: counts lookups, and its bundle can be swapped between requests."""

    def __init__(self, bundle: ServiceBundle) -> None:
        self.bundle = bundle

    async def __call__(self, service_id: uuid.UUID) -> ServiceBundle | None:
        return self.bundle if service_id == self.bundle.service.id else None


def _header(bundle: ServiceBundle, iat: float, secret: str = SECRET) -> str:
    token = jwt.encode({"iss": str(bundle.service.id), "iat": int(iat)}, secret, "HS256")
    return f"Bearer {token}"


async def _refusal(header: str, lookup: Lookup, tokens: VerifiedTokens) -> str:
    with pytest.raises(AuthError) as refused:
        await authenticate(header, lookup, tokens)
    return refused.value.message


async def test_a_verified_token_is_remembered_and_still_accepted() -> None:
    key = _key()
    lookup, tokens = Lookup(_bundle(key)), VerifiedTokens()
    header = _header(lookup.bundle, time.time())
    first = await authenticate(header, lookup, tokens)
    assert len(tokens) == 1
    again = await authenticate(header, lookup, tokens)
    assert first.key.id == again.key.id == key.id


async def test_a_key_revoked_after_the_first_use_is_refused() -> None:
    key = _key()
    lookup, tokens = Lookup(_bundle(key)), VerifiedTokens()
    header = _header(lookup.bundle, time.time())
    await authenticate(header, lookup, tokens)
    lookup.bundle.keys = [msgspec.structs.replace(key, revoked=True)]
    assert await _refusal(header, lookup, tokens) == "Invalid token: API key revoked"


async def test_a_removed_key_or_archived_service_is_refused() -> None:
    key = _key()
    lookup, tokens = Lookup(_bundle(key)), VerifiedTokens()
    header = _header(lookup.bundle, time.time())
    await authenticate(header, lookup, tokens)
    lookup.bundle.keys = [_key()]  # same secret, another key: verified afresh, still valid
    assert (await authenticate(header, lookup, tokens)).key.id == lookup.bundle.keys[0].id
    lookup.bundle.keys = []
    assert await _refusal(header, lookup, tokens) == "Invalid token: service has no API keys"
    lookup.bundle.keys = [key]
    lookup.bundle.service = msgspec.structs.replace(lookup.bundle.service, active=False)
    assert await _refusal(header, lookup, tokens) == "Invalid token: service is archived"


async def test_a_remembered_token_still_ages_out() -> None:
    lookup, tokens = Lookup(_bundle(_key())), VerifiedTokens()
    old = time.time() - 29
    header = _header(lookup.bundle, old)
    await authenticate(header, lookup, tokens)
    # Same bytes, later: the iat check runs on every request, so it is refused once
    # 30 s have passed since iat (simulated by remembering it with an older iat).
    token = header.split(" ", 1)[1]
    remembered = tokens.get(token)
    assert remembered is not None
    tokens.remember(token, remembered[0], remembered[1], old - 10)
    assert await _refusal(header, lookup, tokens) == (
        "Error: Your system clock must be accurate to within 30 seconds"
    )


async def test_a_wrong_signature_is_never_remembered() -> None:
    lookup, tokens = Lookup(_bundle(_key())), VerifiedTokens()
    header = _header(lookup.bundle, time.time(), secret=str(uuid.uuid4()))
    refused = await _refusal(header, lookup, tokens)
    assert refused == "Invalid token: signature, api token not found"
    assert len(tokens) == 0


def test_the_cache_is_bounded_and_drops_stale_entries_first() -> None:
    tokens = VerifiedTokens(max_entries=3)
    sid, kid, now = uuid.uuid4(), uuid.uuid4(), time.time()
    tokens.remember("stale", sid, kid, now - 60)
    tokens.remember("fresh-1", sid, kid, now)
    tokens.remember("fresh-2", sid, kid, now)
    tokens.remember("fresh-3", sid, kid, now)  # full: the stale entry makes room
    assert tokens.get("stale") is None
    assert [tokens.get(t) is not None for t in ("fresh-1", "fresh-2", "fresh-3")] == [True] * 3
    tokens.remember("fresh-4", sid, kid, now)  # full of fresh entries: start again
    assert len(tokens) == 1
    assert tokens.get("fresh-4") is not None
