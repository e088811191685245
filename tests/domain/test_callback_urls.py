"""The SSRF rules for callback URLs: the URL's form and the addresses it may reach."""

from __future__ import annotations

import pytest

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
