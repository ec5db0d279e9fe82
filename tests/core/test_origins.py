"""Origins compared whole and normalised; Host counts only for the configured public hostnames."""

from __future__ import annotations

import pytest

from gateway.core.origins import normalise_host, normalise_origin, origin_allowed, own_origin

ALLOWED = ("https://ops.example.com",)


@pytest.mark.parametrize(("text", "normal"), [
    ("HTTPS://Ops.Example.COM:443/", "https://ops.example.com"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://[::1]:80", "http://[::1]"),
    ("https://ops.example.com:8443", "https://ops.example.com:8443"),
    ("null", None), ("ftp://x", None), ("https://", None), ("https://a/b", None), ("https://u@a", None),
    ("https://a:99999", None),
])
def test_normalise(text, normal):
    assert normalise_origin(text) == normal


def test_no_origin_or_no_allowlist_passes():
    assert origin_allowed(None, ALLOWED)
    assert origin_allowed("https://anything.example", ())


def test_allowlist_compares_whole_normalised_origins():
    assert origin_allowed("https://OPS.example.com", ALLOWED)
    assert not origin_allowed("http://ops.example.com", ALLOWED)  # the scheme matters
    assert not origin_allowed("https://ops.example.com:8443", ALLOWED)
    assert not origin_allowed("null", ALLOWED)


def test_dns_rebinding_does_not_pass_through_host():
    # The attacker's page: its Origin and the Host its browser sends agree.
    rebound = own_origin("http", "evil.example:8080")
    assert rebound == "http://evil.example:8080"
    assert not origin_allowed("http://evil.example:8080", ALLOWED, ("127.0.0.1",), rebound)


def test_same_origin_only_for_public_hostnames():
    mine = own_origin("https", "Gateway.Example.com")
    assert origin_allowed("https://gateway.example.com", ALLOWED, ("gateway.example.com",), mine)
    assert not origin_allowed("http://gateway.example.com", ALLOWED, ("gateway.example.com",), mine)
    assert origin_allowed("http://[::1]:9000", ALLOWED, (normalise_host("[::1]"),), own_origin("http", "[::1]:9000"))


def test_hostnames_normalise():
    assert normalise_host(" Gw.Example.COM. ") == "gw.example.com"
