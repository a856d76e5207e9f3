"""Who is on the other end of a request: the client IP for per-IP limits (contract §1.8)."""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar import Request

# RFC 1918 and RFC 4193 ranges; loopback is checked separately.
_PRIVATE_NETWORKS = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("fc00::/7"),
)


def is_loopback_or_private(host: str) -> bool:
    """True for loopback, RFC 1918 and RFC 4193 addresses (IPv4-mapped IPv6 included)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return True
    return any(address in network for network in _PRIVATE_NETWORKS if network.version == address.version)


def client_ip(request: Request[Any, Any, Any], trust_proxy: int | None) -> str | None:
    """The client IP for the per-IP limit, or None when that limit must be skipped.

    With ``TRUST_PROXY=n`` it is the n-th ``X-Forwarded-For`` entry from the right (the entries a
    client wrote itself sit further left and are ignored); with fewer entries, the leftmost one;
    with none, the peer. Without ``TRUST_PROXY``, a loopback or private peer is most likely a
    reverse proxy that would put every user in one bucket, so the per-IP limit is skipped.
    """
    peer = request.client.host if request.client else None
    if trust_proxy:
        entries = [
            entry.strip()
            for header in request.headers.getall("x-forwarded-for", [])
            for entry in header.split(",")
            if entry.strip()
        ]
        if entries:
            return entries[-trust_proxy] if len(entries) >= trust_proxy else entries[0]
        return peer
    if peer is None or is_loopback_or_private(peer):
        return None
    return peer
