"""Who the client is: the peer address, or what a trusted reverse proxy says it is.

``X-Forwarded-For`` is believed only when the TCP peer is one of the configured trusted
proxies, and then only as far as the chain of trusted hops goes: the list is read from the
right (the hop nearest to us) and the first address that is not itself a trusted proxy is
the client. Anything further left was written by the client and proves nothing. With no
trusted proxies configured the header is ignored entirely.

The middleware rewrites ``scope["client"]`` (and ``scope["scheme"]`` from
``X-Forwarded-Proto``) so that every later layer - rate limits, audit records, CSRF origin
checks - sees the same client. uvicorn's own proxy-header handling, which trusts loopback
by default, must therefore be off (``kit.service_app.serve`` turns it off).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(value: str) -> IPAddress | None:
    """An address as proxies write it: bare, ``v4:port`` or ``[v6]:port``; ``None`` if it is none of these."""
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        value = value[1:end] if end > 0 else value
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    def __init__(self, networks: Iterable[IPNetwork]) -> None:
        self.networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client_address(self, peer: str | None, forwarded_for: list[str]) -> str | None:
        """The client's address for a request from ``peer`` carrying these ``X-Forwarded-For`` values."""
        peer_address = parse_ip(peer) if peer else None
        if not forwarded_for or not self.trusts(peer_address):
            return peer
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
        client = peer
        for hop in reversed(hops):
            address = parse_ip(hop)
            if address is None:
                # A trusted proxy passed on something that is not an address: stop believing the chain.
                return client
            client = str(address)
            if not self.trusts(address):
                return client
        return client


class ClientAddressMiddleware:
    """Replaces the peer address by the client's when the peer is a trusted proxy."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted:
            peer = scope.get("client")
            forwarded_for: list[str] = []
            forwarded_proto: str | None = None
            for name, value in scope["headers"]:
                if name == b"x-forwarded-for":
                    forwarded_for.append(value.decode("latin-1"))
                elif name == b"x-forwarded-proto":
                    forwarded_proto = value.decode("latin-1").strip().lower()
            if peer and self.trusted.trusts(parse_ip(peer[0])):
                client = self.trusted.client_address(peer[0], forwarded_for)
                if client is not None and client != peer[0]:
                    scope["client"] = (client, 0)
                if forwarded_proto in {"http", "https"}:
                    scope["scheme"] = forwarded_proto
        await self.app(scope, receive, send)
