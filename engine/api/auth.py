"""Authentication: ``Bearer <JWT>`` (both Notifys) and GC's ``ApiKey-v1 <key>``.

JWT rules (notifications-python-client): HS256, claims ``iss`` = service id and ``iat``
within ±30 s of our clock; no exp, no jti. The token is checked against every active key
of the service; a match on a revoked key is refused. Messages follow GC where GC and
GOV.UK differ. Everything here is synchronous CPU work on a cached service bundle.

Verified tokens are remembered (``VerifiedTokens``): the official clients sign a new token
each second, so at a few hundred requests/s nearly every token has been seen before, and
PyJWT's parse-and-verify was the most expensive step of a POST (bench/e2e.py profile).
A hit needs the exact same bytes, signature included, so it proves what the first check
proved; revocation, archiving and ``iat`` are still checked on every request.
"""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import Awaitable, Callable

import jwt
import msgspec

from engine.api.errors import AuthError
from engine.services import ApiKey, ServiceBundle

CLOCK_BOUND = 30
API_KEY_PREFIX = "gcntfy-"

NO_TOKEN = "Unauthorized, authentication token must be provided"
BAD_SCHEME = (
    "Unauthorized, Authorization header is invalid. Notify supports the following "
    "authentication methods: Bearer <JWT> (HS256, iss = service id, iat = now) and "
    "ApiKey-v1 <your API key>"
)
CLOCK = "Error: Your system clock must be accurate to within 30 seconds"


class AuthContext(msgspec.Struct, frozen=True):
    bundle: ServiceBundle
    key: ApiKey


class Sender(msgspec.Struct, frozen=True):
    """Who sends, as admission and the stored row see it: an API key (``of``), or a console
    member sending as a team member (``CONSOLE``: no key, the service's live sending, key
    type ``normal``, as GC's one-off send and CSV upload do)."""

    key_id: uuid.UUID | None
    key_type: str
    name: str

    @classmethod
    def of(cls, key: ApiKey) -> Sender:
        return cls(key.id, key.key_type, key.name)


CONSOLE = Sender(None, "normal", "console")


BundleLookup = Callable[[uuid.UUID], Awaitable[ServiceBundle | None]]


class VerifiedTokens:
    """Tokens whose signature matched a key: token -> (service id, key id, iat). Bounded:
    when full, entries outside the ``iat`` window go first, then everything."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, tuple[uuid.UUID, uuid.UUID, object]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> tuple[uuid.UUID, uuid.UUID, object] | None:
        return self._entries.get(token)

    def remember(self, token: str, service_id: uuid.UUID, key_id: uuid.UUID, iat: object) -> None:
        if len(self._entries) >= self.max_entries:
            oldest = time.time() - CLOCK_BOUND
            self._entries = {
                t: e
                for t, e in self._entries.items()
                if isinstance(e[2], int | float) and e[2] >= oldest
            }
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
        self._entries[token] = (service_id, key_id, iat)


async def authenticate(
    header: str | None, lookup: BundleLookup, verified: VerifiedTokens | None = None
) -> AuthContext:
    if not header:
        raise AuthError(NO_TOKEN, status_code=401)
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and credential:
        if verified is not None and (hit := verified.get(credential)) is not None:
            ctx = await _by_verified_token(hit, lookup)
            if ctx is not None:
                return ctx
        return await _by_jwt(credential, lookup, verified)
    if scheme.lower() == "apikey-v1" and credential:
        return await _by_api_key(credential, lookup)
    raise AuthError(BAD_SCHEME, status_code=401)


async def _by_verified_token(
    hit: tuple[uuid.UUID, uuid.UUID, object], lookup: BundleLookup
) -> AuthContext | None:
    """The checks that can change after a token was verified. None: the key is gone from
    the service, so the token goes through the full check (and its messages) again."""
    service_id, key_id, iat = hit
    bundle = await _service(service_id, lookup)
    for key in bundle.keys:
        if key.id == key_id:
            if key.revoked:
                raise AuthError("Invalid token: API key revoked")
            _check_iat(iat)
            return AuthContext(bundle, key)
    return None


async def _by_jwt(
    token: str, lookup: BundleLookup, verified: VerifiedTokens | None = None
) -> AuthContext:
    try:
        unverified = jwt.api_jwt.decode_complete(token, options={"verify_signature": False})
        header, claims = unverified["header"], unverified["payload"]
    except jwt.PyJWTError:
        raise AuthError(
            "Invalid token: make sure your API token matches the example at "
            "https://documentation.notification.canada.ca/en/start.html#headers"
        ) from None
    if header.get("alg") != "HS256":
        raise AuthError("Invalid token: algorithm used is not HS256")
    iss = claims.get("iss")
    if iss is None:
        raise AuthError("Invalid token: iss field not provided")
    try:
        service_id = uuid.UUID(str(iss))
    except ValueError:
        raise AuthError("Invalid token: service id is not the right data type") from None
    bundle = await _service(service_id, lookup)
    if not bundle.keys:
        raise AuthError("Invalid token: service has no API keys")
    for key in bundle.keys:
        try:
            jwt.decode(
                token,
                key.secret,
                algorithms=["HS256"],
                options={"verify_iat": False, "verify_exp": False, "verify_nbf": False},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            raise AuthError("Invalid token: signature, api token is not valid") from None
        if verified is not None:
            verified.remember(token, service_id, key.id, claims.get("iat"))
        if key.revoked:
            raise AuthError("Invalid token: API key revoked")
        _check_iat(claims.get("iat"))
        return AuthContext(bundle, key)
    raise AuthError("Invalid token: signature, api token not found")


def _check_iat(iat: object) -> None:
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise AuthError(CLOCK)
    now = time.time()
    if now > iat + CLOCK_BOUND or iat > now + CLOCK_BOUND:
        raise AuthError(CLOCK)


async def _by_api_key(key_string: str, lookup: BundleLookup) -> AuthContext:
    if len(key_string) < 74:
        raise AuthError("Invalid token: Enter your full API key")
    secret = key_string[-36:]
    try:
        service_id = uuid.UUID(key_string[-73:-37])
    except ValueError:
        raise AuthError("Invalid token: API key not found") from None
    bundle = await lookup(service_id)
    if bundle is None:
        raise AuthError("Invalid token: API key not found")
    for key in bundle.keys:
        if hmac.compare_digest(key.secret.encode(), secret.encode()):
            if key.revoked:
                raise AuthError("Invalid token: API key revoked")
            _check_service(bundle)
            return AuthContext(bundle, key)
    raise AuthError("Invalid token: API key not found")


async def _service(service_id: uuid.UUID, lookup: BundleLookup) -> ServiceBundle:
    bundle = await lookup(service_id)
    if bundle is None:
        raise AuthError("Invalid token: service not found")
    _check_service(bundle)
    return bundle


def _check_service(bundle: ServiceBundle) -> None:
    if not bundle.service.active:
        raise AuthError("Invalid token: service is archived")
