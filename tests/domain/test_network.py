"""Which address a shopper has, as far as declared proxies let us believe X-Forwarded-For."""

from __future__ import annotations

import ipaddress

import pytest

from tender.domain.network import budget_name, client_address, parse_address, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.10"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # An untrusted peer is the client, whatever it claims.
        ("203.0.113.9", ["1.2.3.4"], "203.0.113.9"),
        ("203.0.113.9", [], "203.0.113.9"),
        # A trusted peer: the right-most untrusted entry; anything left of it is the client's.
        ("10.0.0.2", ["198.51.100.7"], "198.51.100.7"),
        ("10.0.0.2", ["6.6.6.6, 198.51.100.7"], "198.51.100.7"),
        ("10.0.0.2", ["198.51.100.7, 10.0.0.3"], "198.51.100.7"),
        ("10.0.0.2", ["6.6.6.6", "198.51.100.7, 192.0.2.10"], "198.51.100.7"),
        # Ports and brackets as proxies write them; IPv4-mapped IPv6 is IPv4.
        ("10.0.0.2", ["198.51.100.7:61000"], "198.51.100.7"),
        ("10.0.0.2", ["[2001:db8:1::5]:443"], "2001:db8:1::5"),
        ("::ffff:10.0.0.2", ["198.51.100.7"], "198.51.100.7"),
        ("2001:db8:ffff:1::1", ["2001:db8:1::5"], "2001:db8:1::5"),
        # Only proxies: the left-most of them. Garbage: the last proxy passed.
        ("10.0.0.2", ["10.0.0.9, 10.0.0.3"], "10.0.0.9"),
        ("10.0.0.2", ["198.51.100.7, unknown"], "10.0.0.2"),
        ("10.0.0.2", ["unknown, 10.0.0.3"], "10.0.0.3"),
        ("10.0.0.2", [" , "], "10.0.0.2"),
    ],
)
def test_client_address(peer: str, forwarded: list[str], expected: str) -> None:
    assert client_address(peer, forwarded, PROXIES) == ipaddress.ip_address(expected)


def test_no_peer_or_a_peer_that_is_no_address_gives_none() -> None:
    assert client_address(None, ["198.51.100.7"], PROXIES) is None
    assert client_address("testclient", ["198.51.100.7"], PROXIES) is None


def test_without_proxies_the_peer_is_always_the_client() -> None:
    assert client_address("10.0.0.2", ["198.51.100.7"], ()) == ipaddress.ip_address("10.0.0.2")


def test_ipv6_addresses_are_budgeted_by_their_64() -> None:
    one = parse_address("2001:db8:1:2::5")
    other = parse_address("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert one is not None
    assert other is not None
    assert budget_name(one) == budget_name(other) == "2001:db8:1:2::/64"
    v4 = parse_address("198.51.100.7")
    assert v4 is not None
    assert budget_name(v4) == "198.51.100.7"


def test_bad_networks_are_named() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33'"):
        parse_networks(["10.0.0.0/33"])
