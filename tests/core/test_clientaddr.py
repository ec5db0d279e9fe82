"""Client addresses behind trusted proxies: headers count only from them, read from the right."""

from __future__ import annotations

import pytest

from gateway.core.clientaddr import client_address, forwarded_proto, parse_networks

PROXY = parse_networks("10.0.0.0/8, 127.0.0.1")


def test_headers_from_an_untrusted_peer_are_ignored():
    assert client_address("203.0.113.9", PROXY, x_forwarded_for="1.2.3.4") == "203.0.113.9"
    assert client_address("127.0.0.1", (), x_forwarded_for="1.2.3.4") == "127.0.0.1"


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client():
    assert client_address("127.0.0.1", PROXY, x_forwarded_for="198.51.100.7") == "198.51.100.7"
    # A client-written left part is never reached: the rightmost untrusted hop wins.
    assert client_address("10.1.2.3", PROXY, x_forwarded_for="6.6.6.6, 198.51.100.7, 10.9.9.9") == "198.51.100.7"


def test_forwarded_wins_and_handles_ipv6_and_ports():
    header = 'for=6.6.6.6, for="[2001:db8::1]:4711";proto=https'
    assert client_address("127.0.0.1", PROXY, forwarded=header, x_forwarded_for="9.9.9.9") == "2001:db8::1"
    assert client_address("127.0.0.1", PROXY, forwarded="for=192.0.2.1:8080") == "192.0.2.1"


def test_junk_hops_stop_the_walk_at_the_last_good_address():
    assert client_address("127.0.0.1", PROXY, x_forwarded_for="1.1.1.1, unknown") == "127.0.0.1"
    assert client_address("127.0.0.1", PROXY, x_forwarded_for="") == "127.0.0.1"
    assert client_address("127.0.0.1", PROXY, forwarded='for="_hidden"') == "127.0.0.1"


def test_all_trusted_chain_gives_the_leftmost():
    assert client_address("127.0.0.1", PROXY, x_forwarded_for="10.0.0.5, 10.0.0.6") == "10.0.0.5"


def test_proto_only_from_a_trusted_proxy():
    assert forwarded_proto("127.0.0.1", PROXY, "for=1.2.3.4;proto=HTTPS", None) == "https"
    assert forwarded_proto("127.0.0.1", PROXY, None, "https, http") == "https"
    assert forwarded_proto("203.0.113.9", PROXY, None, "https") is None


def test_bad_networks_are_named():
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33'"):
        parse_networks("10.0.0.0/8,10.0.0.0/33")
    assert parse_networks(" ") == ()
