"""The web console's rules for people (issue 27): roles, passwords, sign-in codes, lock-out.

Rules:
- Roles are per service (``ROLES``); a platform admin has every role in every service.
  ``view`` is implied by any other role (a member who may send may also look).
- Passwords are hashed with argon2id (argon2-cffi's defaults: RFC 9106's second
  recommended option); a hash made with older parameters is re-hashed at the next sign-in
  (``needs_rehash``). Hashing costs ~50 ms of CPU: callers run it off the event loop.
- Sign-in is two steps: the password, then a 6-digit code emailed through the engine itself
  (``CODE_TEMPLATE``, sent by the system service like the team's mail), valid for
  ``CODE_MINUTES``. Cookie values and codes are stored only as their SHA-256.
- ``MAX_ATTEMPTS`` wrong passwords or codes in a row lock the account for ``LOCK_MINUTES``
  (the count lives in PostgreSQL, so it holds across processes).
- A verified session lasts ``SESSION_HOURS`` from sign-in, whatever the activity.
Pure but for the random tokens and argon2's salt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from engine.domain.team_mail import SystemTemplate

ROLES = ("view", "send", "manage_templates", "manage_api_keys", "manage_settings")
MAX_ATTEMPTS = 5
LOCK_MINUTES = 15
CODE_MINUTES = 10
SESSION_HOURS = 8
MIN_PASSWORD = 12

_hasher = PasswordHasher()

CODE_TEMPLATE = SystemTemplate(
    uuid.UUID("0c2a8a55-4f4e-4a4b-9a7e-6f1f6e0f7a30"),
    "Console sign-in code | Code de connexion à la console",
    "Your sign-in code | Votre code de connexion",
    """\
[[en]]
Your code to sign in to the Notify console is: ((code))

It expires in ((minutes)) minutes. If you did not try to sign in, change your password.
[[/en]]

[[fr]]
Votre code pour vous connecter à la console de Notification : ((code))

Il expire dans ((minutes)) minutes. Si vous n'avez pas essayé de vous connecter, \
changez votre mot de passe.
[[/fr]]
""",
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(encoded: str, password: str) -> bool:
    try:
        return _hasher.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(encoded: str) -> bool:
    return _hasher.check_needs_rehash(encoded)


def new_token() -> str:
    """A cookie value: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(value: str) -> bytes:
    """What is stored of a cookie value or a code."""
    return hashlib.sha256(value.encode()).digest()


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def has_role(roles: frozenset[str], platform_admin: bool, role: str) -> bool:
    if platform_admin or role in roles:
        return True
    return role == "view" and bool(roles)


def lock_until(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(minutes=LOCK_MINUTES)


def session_expiry(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(hours=SESSION_HOURS)


def code_expiry(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(minutes=CODE_MINUTES)


def safe_next(path: str | None, default: str = "/console/") -> str:
    """A redirect target that stays inside the console (no open redirect)."""
    if not path or not path.startswith("/console") or "//" in path or "\\" in path:
        return default
    return path
