"""Which callback URLs the engine will call: the rules against a service pointing the engine
at something it should not reach (SSRF).

Rules:
- ``https://`` only, unless the deployment allows ``http://`` (``NOTIFY_CALLBACK_ALLOW_HTTP``,
  for local use and tests). No user name or password in the URL (a bearer token is the
  credential), a host is required.
- The host's addresses must all be global: loopback, private (RFC 1918, unique local),
  link-local (where the cloud metadata service answers: 169.254.169.254, fd00:ec2::254),
  shared (100.64.0.0/10), reserved, multicast and unspecified addresses are refused, and an
  IPv4 address mapped into IPv6 is judged as the IPv4 address, unless the deployment allows
  them (``NOTIFY_CALLBACK_ALLOW_PRIVATE``). The rule is ``ipaddress``'s ``is_global`` (the
  IANA special-purpose registries), not a list of our own.
- The addresses are checked twice: when the URL is set (so the team hears of it at once),
  and at every new connection, on the address actually connected to (a name that resolved
  to a public address when it was set may resolve to a private one later: DNS rebinding).
- Redirects are never followed (``engine.http1.client`` does not follow them): a 3xx is an
  answer that is not a success.
Pure: resolving names is the caller's I/O.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def url_problem(url: str, *, allow_http: bool) -> str | None:
    """None if ``url`` may be called, else why not (a 400's message)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return "url is not a valid https url"
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        return "url is not a valid https url"
    if parts.username is not None or parts.password is not None:
        return "url must not contain a user name or password"
    return None


def address_problem(address: str, *, allow_private: bool) -> str | None:
    """None if the engine may connect to ``address`` (an IP address), else why not."""
    if allow_private:
        return None
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return None
    return f"url must not point to a loopback, private, link-local or reserved address ({ip})"
