"""Who the client is behind proxies: only trusted hops are believed, read from the right."""

from __future__ import annotations

import ipaddress

import pytest

from cornerstone.kit.client_address import TrustedProxies, parse_ip

PROXIES = TrustedProxies([ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),  # untrusted peer: header ignored
        ("10.0.0.1", [], "10.0.0.1"),  # trusted peer, no header: the peer
        ("10.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.1", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # spoofed left part is not believed
        ("10.0.0.1", ["6.6.6.6, 198.51.100.1, 10.0.0.7"], "198.51.100.1"),  # through two proxies
        ("10.0.0.1", ["6.6.6.6", "198.51.100.1, 10.0.0.7"], "198.51.100.1"),  # header repeated
        ("10.0.0.1", ["10.0.0.9, 10.0.0.7"], "10.0.0.9"),  # all trusted: the left-most
        ("10.0.0.1", ["garbage, 10.0.0.7"], "10.0.0.7"),  # a non-address stops the chain
        ("10.0.0.1", ["198.51.100.1:4711"], "198.51.100.1"),
        ("10.0.0.1", ["[2001:db8::1]:4711"], "2001:db8::1"),
        ("fd00::1", ["2001:db8::2"], "2001:db8::2"),
    ],
)
def test_the_client_is_the_right_most_untrusted_address(peer: str, forwarded_for: list[str], client: str) -> None:
    assert PROXIES.client_address(peer, forwarded_for) == client


def test_no_trusted_proxies_means_the_header_is_never_believed() -> None:
    assert TrustedProxies([]).client_address("127.0.0.1", ["198.51.100.1"]) == "127.0.0.1"


def test_addresses_parse_as_proxies_write_them() -> None:
    assert str(parse_ip(" ::ffff:10.1.2.3 ")) == "10.1.2.3"
    assert parse_ip("unknown") is None
    assert parse_ip("") is None
