"""Which addresses a feed may reach, and which pages belong to a feed's site (pure)."""

from __future__ import annotations

import pytest

from bot.addresses import page_allowed, refusal, registrable_domain, same_host

REFUSED = [
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "shared"),  # CGNAT, RFC 6598
    ("100.127.255.254", "shared"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "reserved"),  # "this network"
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.1", "reserved"),  # TEST-NET-1, documentation
    ("198.18.0.1", "reserved"),  # benchmarking
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fc00::1", "private"),  # unique local, fc00::/7
    ("fd12:3456:789a::1", "private"),
    ("fe80::1", "link-local"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "IPv4-mapped"),
    ("::ffff:8.8.8.8", "IPv4-mapped"),  # a mapped address is never a real destination
    ("::127.0.0.1", "IPv4-compatible"),
    ("2001:db8::1", "reserved"),  # documentation
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("2002:c0a8:101::", "private"),  # 6to4 of 192.168.1.1
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "203.162.4.191", "2001:4860:4860::8888", "2606:4700::1111",
           "64:ff9b::808:808"]  # fmt: skip


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    reason = refusal(address)
    assert reason is not None, f"{address} should be refused"
    assert kind in reason


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(address) is None


def test_a_scoped_ipv6_address_is_classified_without_its_zone() -> None:
    assert refusal("fe80::1%eth0") is not None


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("vnexpress.net", "vnexpress.net"),
        ("www.VnExpress.net", "vnexpress.net"),
        ("e.vnexpress.net.", "vnexpress.net"),
        ("tuoitre.vn", "tuoitre.vn"),
        ("cdn.baochinhphu.gov.vn", "baochinhphu.gov.vn"),  # gov.vn is a public suffix
        ("news.bbc.co.uk", "bbc.co.uk"),
        ("alice.github.io", "alice.github.io"),  # the private section counts too
        ("127.0.0.1", "127.0.0.1"),  # an IP literal is its own site
        ("[::1]", "::1"),
        ("localhost", "localhost"),
    ],
)
def test_registrable_domain(host: str, domain: str) -> None:
    assert registrable_domain(host) == domain


@pytest.mark.parametrize(
    ("page", "feed", "domains", "allowed"),
    [
        ("https://vnexpress.net/a.html", "https://vnexpress.net/rss/x.rss", (), True),
        ("https://e.vnexpress.net/a.html", "https://vnexpress.net/rss/x.rss", (), True),
        ("https://evil.example/a.html", "https://vnexpress.net/rss/x.rss", (), False),
        ("https://vnexpress.net.evil.example/", "https://vnexpress.net/rss", (), False),
        ("https://bob.github.io/a", "https://alice.github.io/feed.xml", (), False),
        ("http://127.0.0.1:9/a", "http://127.0.0.1:8080/f.rss", (), True),  # same host
        ("http://localhost:8080/a", "http://127.0.0.1:8080/f.rss", (), False),
        ("http://127.0.0.2:8080/a", "http://127.0.0.1:8080/f.rss", (), False),
        ("https://vnexpress.net/a", "https://feeds.feedburner.com/vne", (), False),
        ("https://vnexpress.net/a", "https://feeds.feedburner.com/vne", ("vnexpress.net",), True),
        ("https://e.vnexpress.net/a", "https://feeds.example/vne", ("vnexpress.net",), True),
        ("https://xvnexpress.net/a", "https://feeds.example/vne", ("vnexpress.net",), False),
        ("https://anything.example/a", "https://news.google.com/rss", ("*",), True),
        ("https://vnexpress.net/a", "/srv/feeds/local.rss", (), False),  # a file has no site
        ("ftp://vnexpress.net/a", "https://vnexpress.net/rss", (), False),
    ],
)
def test_page_allowed(page: str, feed: str, domains: tuple[str, ...], allowed: bool) -> None:
    assert page_allowed(page, (feed,), domains) is allowed


def test_same_host_ignores_case_port_and_scheme() -> None:
    assert same_host("http://Example.com:8080/a", "https://example.com/b")
    assert not same_host("http://example.com/a", "http://www.example.com/a")
    assert not same_host("/a/file.rss", "/a/file.rss")  # files have no host
