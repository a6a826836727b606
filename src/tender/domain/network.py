"""Who a shopper is on the network, as far as a rate limit can tell.

``X-Forwarded-For`` is written by whoever sent the request, so it is only believed as far as
it was written by proxies the merchant declared: the direct peer must be one, and then the
list is read from the right (each proxy appends the address it saw), skipping declared
proxies; the first address that is not one is the shopper. Everything left of it was sent by
the shopper and may be invented.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

IPV6_BUDGET_PREFIX = 64
"""One IPv6 subscriber usually holds a whole /64: budgeting single addresses would give an
attacker 2^64 fresh budgets."""


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDRs (``10.0.0.0/8``, ``2001:db8::1``); ``ValueError`` names a bad one."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def parse_address(value: str) -> Address | None:
    """An address as proxies write it (``1.2.3.4``, ``1.2.3.4:5678``, ``[2001:db8::1]:443``),
    or ``None`` if it is none."""
    text = value.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[Network]
) -> Address | None:
    """The shopper's address: the direct peer, unless it is a declared proxy; then the
    right-most address of ``X-Forwarded-For`` (all such headers, in order) that is not one.

    A list made only of proxies gives its left-most entry; an entry that is no address stops
    the walk at the last proxy passed, since nothing left of garbage can be trusted.
    """
    current = parse_address(peer) if peer else None
    if current is None or not _trusted(current, proxies):
        return current
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return current
        current = address
        if not _trusted(address, proxies):
            return address
    return current


def budget_name(address: Address) -> str:
    """The name an address is budgeted under: itself, or its /64 for IPv6."""
    if isinstance(address, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((address, IPV6_BUDGET_PREFIX), strict=False)
        return str(network)
    return str(address)
