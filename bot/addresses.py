"""Which addresses a feed may reach, and which web pages belong to a feed's site.

Pure decisions, used by the fetch stage (every address a connection is about to use) and
by the pipeline (which entry links may be fetched as pages):

    refusal(ip)                  None for a public unicast address, else why not
    registrable_domain(host)     "e.vnexpress.net" → "vnexpress.net" (Public Suffix List)
    page_allowed(page, feeds, domains)   the page's site is the feed's, or listed

The Public Suffix List comes bundled with `publicsuffixlist` and is never downloaded at
run time; it knows that "gov.vn" or "github.io" are suffixes, so "a.github.io" and
"b.github.io" are different sites.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ANY_DOMAIN = "*"

_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
_PRIVATE_V4 = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
# NAT64 (RFC 6052): on an IPv6-only network with DNS64 every IPv4-only site resolves into
# this prefix, so it is judged by the IPv4 address it carries rather than refused outright.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d (RFC 4291 §2.5.5.1)


def refusal(address: str) -> str | None:
    """None when `address` is a public unicast address a feed may reach; else the reason.

    Python's `is_global` alone is not enough: it has changed between releases, and it
    calls some multicast ranges global. So the kinds are checked one by one, in the order
    that names them best, and `is_global` only decides what is left.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # "fe80::1%eth0": zone dropped
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        return _refusal_v6(ip)
    return _refusal_v4(ip)


def _refusal_v4(ip: ipaddress.IPv4Address) -> str | None:
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip in _SHARED:
        return "shared (CGNAT)"
    if any(ip in network for network in _PRIVATE_V4):
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


def _refusal_v6(ip: ipaddress.IPv6Address) -> str | None:
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped"
    if ip in _NAT64:
        reason = _refusal_v4(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        return f"{reason} (NAT64)" if reason else None
    if ip.sixtofour is not None:
        reason = _refusal_v4(ip.sixtofour)
        return f"{reason} (6to4)" if reason else None
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip in _IPV4_COMPATIBLE:
        return "IPv4-compatible"
    if ip.is_link_local or ip.is_site_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip in _UNIQUE_LOCAL:
        return "private (unique local)"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


def ip_literal(host: str) -> IPAddress | None:
    """The address when `host` is written as one ("127.0.0.1", "[::1]"), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the bundled list: no network


def normal_host(host: str) -> str:
    """Lowercase, no trailing dot, no brackets; an IP literal in its canonical form."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if not host.isascii():
        with contextlib.suppress(UnicodeError):  # "báo.vn" and "xn--bo-mia.vn" alike
            host = host.encode("idna").decode("ascii")
    ip = ip_literal(host)
    return str(ip) if ip is not None else host


def registrable_domain(host: str) -> str:
    """The part of `host` one owner registered ("e.vnexpress.net" → "vnexpress.net").

    An IP literal, a bare name like "localhost" and a public suffix itself are their own
    site: only the very same host belongs to it.
    """
    host = normal_host(host)
    if ip_literal(host) is not None:
        return host
    return _suffixes().privatesuffix(host) or host


def host_of(url: str) -> str | None:
    """The normalised host of an http(s) URL; None for anything else (a local file)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return normal_host(parts.hostname)


def same_host(url: str, other: str) -> bool:
    """Both are http(s) URLs on the same host (the port and scheme may differ)."""
    host = host_of(url)
    return host is not None and host == host_of(other)


def page_allowed(page_url: str, feed_urls: Iterable[str], page_domains: Iterable[str]) -> bool:
    """May the pipeline fetch `page_url` for a feed fetched from `feed_urls`?

    Yes when the page is on the feed's own site (same registrable domain; for an IP literal
    the same host), or on one of the feed's `page_domains` or a subdomain of one ("*": any).
    Whether its address is public is checked again when connecting.
    """
    host = host_of(page_url)
    if host is None:
        return False
    for domain in page_domains:
        domain = normal_host(domain)
        if domain == ANY_DOMAIN or host == domain or host.endswith("." + domain):
            return True
    site = registrable_domain(host)
    return any(
        (feed_host := host_of(url)) is not None and registrable_domain(feed_host) == site
        for url in feed_urls
    )
