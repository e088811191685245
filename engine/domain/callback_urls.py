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
Per-send URLs (issue 23, beyond GC and GOV.UK): a send may name its own delivery-status
``callback_url`` on a host of the service's allowlist (``callback_hosts``):
- An allowlist entry is a host name or IP address, lower case, matched exactly (no
  wildcards, any port); at most ``MAX_HOSTS``. When an entry is set, the admin API resolves
  it and applies the address rule above, as for an endpoint's URL.
- At admission (``callback_url_message``): the form rules above (https unless allowed, no
  user name or password, a host), at most ``MAX_URL`` characters, no white space or
  control character, and the host on the list. No name is resolved on the API's hot path:
  the host's addresses were checked when it was listed, and delivery checks the address
  it connects to (DNS may change) and the allowlist again (the list may have shrunk).
- ``normal_url``: the URL as stored, scheme and host in lower case, a default port and the
  fragment dropped, so ``origin`` (scheme://host[:port], the key of an origin's actor and
  breaker) is one string per origin; migration 0012's trigger takes the same prefix.
Pure: resolving names is the caller's I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from urllib.parse import urlsplit, urlunsplit

MAX_HOSTS = 50
MAX_URL = 2000
_DEFAULT_PORTS = {"https": 443, "http": 80}
# The origin of a normal URL: what migration 0012's trigger takes with the same pattern.
_ORIGIN = re.compile(r"^[a-z]+://[^/?#]+")
_HOST = re.compile(r"^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
                   r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")  # fmt: skip


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


def normal_host(entry: str) -> str:
    """An allowlist entry as kept: lower case, an IPv6 address without its brackets."""
    host = entry.strip().lower()
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def host_message(host: str) -> str | None:
    """None if ``host`` (``normal_host``'s) may be an allowlist entry (a host name or an IP
    address), else why not."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if len(host) > 253 or _HOST.match(host) is None:
        return f"callback_hosts entry {host} is not a host name or IP address"
    return None


def callback_url_message(url: str, hosts: Collection[str], *, allow_http: bool) -> str | None:
    """None if a send may name ``url`` as its ``callback_url``, else why not (a 400's
    message). ``hosts``: the service's allowlist."""
    if len(url) > MAX_URL:
        return f"callback_url must be at most {MAX_URL} characters"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "callback_url must not contain white space or control characters"
    problem = url_problem(url, allow_http=allow_http)
    if problem is not None and "password" in problem:
        return "callback_url must not contain a user name or password"
    if problem is not None:
        return "callback_url is not a valid https url"
    host = urlsplit(url).hostname or ""
    if host not in hosts:
        return f"callback_url host {host} is not in the service's callback_hosts"
    return None


def normal_url(url: str) -> str:
    """``url`` (already accepted by ``callback_url_message``) as stored: scheme and host in
    lower case, the scheme's default port and the fragment dropped."""
    parts = urlsplit(url)
    netloc = parts.netloc.lower()
    if parts.port is not None and parts.port == _DEFAULT_PORTS.get(parts.scheme):
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def origin(url: str) -> str:
    """scheme://host[:port] of a normal URL (``normal_url``)."""
    found = _ORIGIN.match(url)
    return found[0] if found else url


def url_host(url: str) -> str:
    """The host of a URL, lower case (as allowlist entries are written)."""
    return urlsplit(url).hostname or ""
