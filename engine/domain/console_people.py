"""The console's people, second part (issue 27): invitations, the team's roles, the second
factor's choices, the per-address sign-in limit and the session-bound CSRF token.

Rules:
- An invitation is sent by email through the engine itself (``INVITE_TEMPLATE``, the
  system service, as the sign-in code is). Its link carries a random token (256 bits) kept
  only as its SHA-256; it lasts ``INVITE_HOURS`` and is used once. Inviting the same address
  to the same service again replaces the pending invitation (new token, roles, expiry).
  An expired invitation stays on the team page, marked expired, for
  ``INVITE_KEEP_EXPIRED_DAYS`` (so a manager sees whom to invite again); then housekeeping
  deletes it with its sealed address.
- Roles given are among ``engine.domain.console.ROLES``; ``view`` is always among them.
- The team keeps a manager: a role change or a removal that would leave the service with
  no member holding ``manage_settings`` is refused, whoever asks (a platform admin too:
  invite a new manager first). So the last manager cannot remove or demote themselves.
- The second factor is the emailed code (the default), a code by SMS to a confirmed phone
  number (``SMS_CODE_TEMPLATE``, the system service), or TOTP (RFC 6238, 30-second steps,
  6 digits, SHA-1: what authenticator apps read; ``pyotp``). A TOTP secret takes effect
  only once a first code confirmed it. A code is accepted for the step before, the current
  and the next (clock drift), and only for a step after the last one accepted (no replay).
- Sign-in failures are also counted per client address (``client_address``: the peer, or
  behind a private-network ingress the hop it appended to X-Forwarded-For):
  ``ADDRESS_LIMIT`` failures within ``ADDRESS_WINDOW_MINUTES`` refuse every further
  attempt from that address (the count is in PostgreSQL, keyed-hashed, so it holds across
  processes), besides the per-account lock.
- A signed-in session's CSRF token is an HMAC of the session's cookie value (secret,
  HttpOnly): a token taken from another session's page is refused, and it changes when the
  session does. Signed-out forms keep the double-submit cookie (``engine.console.web``).
Pure but for the random tokens and secrets.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import uuid
from collections.abc import Iterable, Mapping

import pyotp

from engine.domain.console import ROLES
from engine.domain.team_mail import SystemTemplate

INVITE_HOURS = 48
INVITE_KEEP_EXPIRED_DAYS = 7
ADDRESS_LIMIT = 20
ADDRESS_WINDOW_MINUTES = 15
FACTORS = ("email", "sms", "totp")
MANAGER = "manage_settings"
TOTP_ISSUER = "Notify"

INVITE_TEMPLATE = SystemTemplate(
    uuid.UUID("0c2a8a55-4f4e-4a4b-9a7e-6f1f6e0f7a32"),
    "Console invitation | Invitation à la console",
    "You are invited to ((service_name)) | Invitation à ((service_name))",
    """\
[[en]]
((inviter)) invited you to join ((service_name)) on the Notify console.

Open this link to accept: ((url))

The link works once and expires in ((hours)) hours. If you did not expect it, ignore \
this email.
[[/en]]

[[fr]]
((inviter)) vous invite à vous joindre à ((service_name)) dans la console de Notification.

Ouvrez ce lien pour accepter : ((url))

Le lien ne fonctionne qu'une fois et expire dans ((hours)) heures. Si vous ne vous \
attendiez pas à ce courriel, ne tenez pas compte de ce message.
[[/fr]]
""",
)

SMS_CODE_TEMPLATE = SystemTemplate(
    uuid.UUID("0c2a8a55-4f4e-4a4b-9a7e-6f1f6e0f7a33"),
    "Console code by text | Code de la console par texto",
    None,
    "((code)) is your Notify console code. / ((code)) est votre code pour la console de "
    "Notification.",
    template_type="sms",
)

SYSTEM_TEMPLATES = (INVITE_TEMPLATE, SMS_CODE_TEMPLATE)  # written at start (TeamMailer)


def invite_expiry(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(hours=INVITE_HOURS)


def forgotten_invitations_expired_before(now: dt.datetime) -> dt.datetime:
    """Invitations that expired before this instant are deleted (housekeeping)."""
    return now - dt.timedelta(days=INVITE_KEEP_EXPIRED_DAYS)


def invite_path(token: str) -> str:
    return f"console/invitations/{token}"


def clean_roles(given: Iterable[str]) -> list[str] | None:
    """The roles in ``ROLES`` order with ``view`` added; None if one is unknown."""
    chosen = set(given)
    if chosen - set(ROLES):
        return None
    return [r for r in ROLES if r in chosen | {"view"}]


def keeps_a_manager(
    members: Mapping[uuid.UUID, frozenset[str]],
    user_id: uuid.UUID,
    new_roles: frozenset[str] | None,
) -> bool:
    """Whether the team still has a ``manage_settings`` member once ``user_id`` has
    ``new_roles`` (None: removed). A team that had no manager is not made worse."""
    after = dict(members)
    if new_roles is None:
        after.pop(user_id, None)
    else:
        after[user_id] = new_roles
    had = any(MANAGER in roles for roles in members.values())
    return not had or any(MANAGER in roles for roles in after.values())


# -- TOTP ---------------------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()  # 160 bits (RFC 4226's recommended length), base32


def grouped(secret: str) -> str:
    """The secret as it is typed into an app: groups of 4."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def totp_uri(secret: str, account: str) -> str:
    uri: str = pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=TOTP_ISSUER)
    return uri


def totp_code(secret: str, now: dt.datetime) -> str:
    """The code of ``now``'s step (what an authenticator app shows)."""
    code: str = pyotp.TOTP(secret).at(now)
    return code


def totp_step(secret: str, code: str, now: dt.datetime, last_step: int | None) -> int | None:
    """The step ``code`` belongs to (now's, or one either side), if it is after
    ``last_step``; None otherwise."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    given = "".join(code.split())
    for step in (current - 1, current, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), given):
            return step
    return None


# -- the sign-in limit per client address and the session's CSRF token -------------------


def client_address(peer: str | None, forwarded_for: str | None) -> str:
    """The address sign-in failures are counted against: the TCP peer, unless the peer is
    a private or loopback address (an ingress in front of us), then the last hop of
    ``X-Forwarded-For`` (the one that ingress appended: a client can only add hops before
    it)."""
    if peer is None:
        return "unknown"
    try:
        behind_proxy = ipaddress.ip_address(peer).is_private
    except ValueError:
        return peer
    if behind_proxy and forwarded_for:
        last = forwarded_for.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer
    return peer


def address_window_start(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(minutes=ADDRESS_WINDOW_MINUTES)


def session_csrf(session_token: str) -> str:
    """The CSRF token of a signed-in session: an HMAC keyed with its cookie value."""
    mac = hmac.new(session_token.encode(), b"notify-console-csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
