"""The SSRF rules for callback URLs: the URL's form and the addresses it may reach."""

from __future__ import annotations

import pytest

from engine.domain import callback_urls as cu
from engine.domain.callback_urls import address_problem, url_problem

HTTPS_ONLY = "url is not a valid https url"


@pytest.mark.parametrize(
    ("url", "allow_http", "problem"),
    [
        ("https://example.com/cb", False, None),
        ("https://example.com:8443/cb?x=1", False, None),
        ("http://example.com/cb", False, HTTPS_ONLY),
        ("http://example.com/cb", True, None),
        ("ftp://example.com/cb", True, HTTPS_ONLY),
        ("https:///cb", False, HTTPS_ONLY),
        ("example.com/cb", False, HTTPS_ONLY),
        ("https://example.com:99999/cb", False, HTTPS_ONLY),
        ("https://user:pass@example.com/cb", False, "url must not contain a user name or password"),
    ],
)
def test_url_form(url: str, allow_http: bool, problem: str | None) -> None:
    assert url_problem(url, allow_http=allow_http) == problem


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.8.9.10", "::1",  # loopback
        "10.1.2.3", "172.16.0.1", "192.168.1.1", "fd12:3456::1",  # private
        "169.254.169.254", "fd00:ec2::254", "fe80::1",  # link-local, cloud metadata
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "0.0.0.0", "::", "224.0.0.1", "ff02::1", "240.0.0.1",  # unspecified, multicast, reserved
        "::ffff:127.0.0.1", "::ffff:10.0.0.1",  # IPv4 mapped into IPv6
    ],
)  # fmt: skip
def test_non_global_addresses_are_refused_unless_allowed(address: str) -> None:
    problem = address_problem(address, allow_private=False)
    assert problem is not None
    assert problem.startswith("url must not point to a loopback, private, link-local")
    assert address_problem(address, allow_private=True) is None


@pytest.mark.parametrize("address", ["8.8.8.8", "205.193.117.158", "2001:4860:4860::8888"])
def test_global_addresses_are_allowed(address: str) -> None:
    assert address_problem(address, allow_private=False) is None


# -- per-send URLs (issue 23) -------------------------------------------------------------
HOSTS = frozenset({"receiver.example", "10.0.0.1", "::1"})


@pytest.mark.parametrize(
    ("url", "allow_http", "problem"),
    [
        ("https://receiver.example/cb?x=1", False, None),
        ("https://RECEIVER.example:8443/cb", False, None),
        ("https://[::1]/cb", False, None),  # the address rule is delivery's (and the list's)
        ("http://receiver.example/cb", True, None),
        ("http://receiver.example/cb", False, "callback_url is not a valid https url"),
        ("https://other.example/cb", False,
         "callback_url host other.example is not in the service's callback_hosts"),
        ("https://receiver.example.evil/cb", False,
         "callback_url host receiver.example.evil is not in the service's callback_hosts"),
        ("https://evil.example#@receiver.example/", False,
         "callback_url host evil.example is not in the service's callback_hosts"),
        ("https://u@receiver.example/cb", False,
         "callback_url must not contain a user name or password"),
        ("https://receiver.example/\ncb", False,
         "callback_url must not contain white space or control characters"),
        ("https://receiver.example:99999/", False, "callback_url is not a valid https url"),
        ("https://receiver.example/" + "a" * 2000, False,
         "callback_url must be at most 2000 characters"),
    ],
)  # fmt: skip
def test_a_send_url_must_be_well_formed_and_on_the_list(
    url: str, allow_http: bool, problem: str | None
) -> None:
    assert cu.callback_url_message(url, HOSTS, allow_http=allow_http) == problem


@pytest.mark.parametrize(
    ("url", "normal", "origin"),
    [
        ("HTTPS://Receiver.Example/cb?a=1#frag", "https://receiver.example/cb?a=1",
         "https://receiver.example"),
        ("https://receiver.example:443", "https://receiver.example/", "https://receiver.example"),
        ("https://receiver.example:8443/x", "https://receiver.example:8443/x",
         "https://receiver.example:8443"),
        ("http://127.0.0.1:80/x", "http://127.0.0.1/x", "http://127.0.0.1"),
        ("https://[::1]:9/x", "https://[::1]:9/x", "https://[::1]:9"),
    ],
)  # fmt: skip
def test_a_send_url_is_stored_in_one_form_per_origin(url: str, normal: str, origin: str) -> None:
    assert cu.normal_url(url) == normal
    assert cu.origin(normal) == origin


@pytest.mark.parametrize(
    ("entry", "ok"),
    [("Receiver.Example", True), ("[::1]", True), ("10.0.0.1", True), ("a_b.example", True),
     ("a..b", False), ("https://x.example", False), ("x.example:443", False), ("", False),
     ("*.example", False), ("-x.example", False), ("a" * 64 + ".example", False)],
)  # fmt: skip
def test_an_allowlist_entry_is_a_host_name_or_an_address(entry: str, ok: bool) -> None:
    problem = cu.host_message(cu.normal_host(entry))
    assert (problem is None) is ok, problem
