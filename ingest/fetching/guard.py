"""The SSRF guard: which URLs and addresses may be fetched, judged where the connection is made.

* Only http(s). Names are resolved once, at connection time, by the transport's network backend
  (:class:`PinnedBackend`), which vets every address and then connects to the vetted address itself: no
  second lookup that a DNS-rebinding server could answer differently. TLS (SNI, certificate) and the Host
  header keep the name.
* The host is the one httpx connects to: IDNA 2008 as httpx encodes it (``straße.example`` is
  ``xn--strae-oqa.example``, for the check and the connection alike).
* Loopback, private, link-local (169.254.169.254), shared (100.64/10), multicast, reserved and unspecified
  addresses are refused; IPv6 forms that carry an IPv4 address (IPv4-mapped, 6to4 ``2002::/16``, Teredo
  ``2001::/32``, NAT64 ``64:ff9b::/96``) are unwrapped and the embedded address is judged too.
* The allow-list (``FetchOptions.allow_hosts``) lets chosen destinations through anyway (an IPv4 entry admits
  the IPv4-mapped form of its addresses, never a 6to4/Teredo/NAT64 one that merely carries them). Entries are
  ``host``, ``host:port``, ``ip``, ``ip:port``, ``[ipv6]:port``, ``cidr`` or ``[cidr]:port``: with a port an
  entry admits only that host:port pair (``127.0.0.1:8765`` is the test server, not every loopback service);
  without one, every port of that host or range.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import certifi
import httpcore
import httpx

from ingest.errors import BlockedURL, ConfigurationError, DNSError
from ingest.urls import http_host

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], list[str]]

_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: IPv4-mapped, 6to4, Teredo (server and client), NAT64."""
    if isinstance(ip, ipaddress.IPv4Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _public_v4(ip: ipaddress.IPv4Address) -> bool:
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip in _SHARED)


def is_public(ip: IPAddress) -> bool:
    """Whether ``ip`` (and every IPv4 address it carries) is a public unicast address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _public_v4(ip)
    inner = embedded_ipv4(ip)
    if ip.ipv4_mapped is not None or ip in _NAT64:
        # a wrapper around an IPv4 address: that address decides (NAT64 to a public address is fine)
        return all(_public_v4(v4) for v4 in inner)
    if ip in _NAT64_LOCAL:
        return False
    public6 = ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)
    return public6 and all(_public_v4(v4) for v4 in inner)


@dataclass(frozen=True)
class AllowEntry:
    """One allow-list entry: a host name or an address range, on one port or (``port`` None) all."""

    name: str | None
    network: IPNetwork | None
    port: int | None

    def admits_name(self, host: str, port: int) -> bool:
        return self.name is not None and self.name == host and self.port in (None, port)

    def admits_ip(self, ip: IPAddress, port: int) -> bool:
        """Whether the entry admits a connection to ``ip``. An IPv4-mapped address (``::ffff:127.0.0.1``) is the
        IPv4 host itself and matches as such; 6to4, Teredo and NAT64 addresses never match an IPv4 entry: the
        connection goes to a relay or gateway elsewhere, not to the address they carry (an entry for
        ``127.0.0.1:8765`` must not admit ``[2002:7f00:1::]:8765``)."""
        if self.network is None or self.port not in (None, port):
            return False
        candidates = [ip] if not isinstance(ip, ipaddress.IPv6Address) or ip.ipv4_mapped is None else [ip.ipv4_mapped]
        return any(c.version == self.network.version and c in self.network for c in candidates)


def _parse_port(text: str, entry: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise ConfigurationError(f"allow-list entry {entry!r}: bad port {text!r}")
    return int(text)


def parse_allow_entry(entry: str) -> AllowEntry:
    """``host``, ``host:port``, ``ip[:port]``, ``[ipv6][:port]``, ``cidr``, ``[cidr]:port`` (see module doc)."""
    text = entry.strip().lower()
    port: int | None = None
    if text.startswith("["):
        if "]" not in text:
            raise ConfigurationError(f"allow-list entry {entry!r} lacks its closing bracket")
        inside, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ConfigurationError(f"allow-list entry {entry!r} is malformed")
            port = _parse_port(rest[1:], entry)
        text = inside
    elif text.count(":") == 1:
        text, _, port_text = text.partition(":")
        port = _parse_port(port_text, entry)
    if not text:
        raise ConfigurationError(f"allow-list entry {entry!r} has no host")
    try:
        return AllowEntry(name=None, network=ipaddress.ip_network(text, strict=False), port=port)
    except ValueError:
        pass
    try:
        host, _ = http_host(f"http://{text}/")
    except Exception as exc:  # BadURL: the entry is not a host name
        raise ConfigurationError(f"allow-list entry {entry!r} is not a host, address or range: {exc}") from exc
    return AllowEntry(name=host, network=None, port=port)


def system_resolver(host: str) -> list[str]:
    """Every address ``host`` resolves to (the host is already IDNA-encoded ASCII)."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


class AddressGuard:
    """Decides whether a URL may be fetched and which addresses a connection may use."""

    def __init__(self, allow: Iterable[str] = (), resolver: Resolver | None = None) -> None:
        self.allow = tuple(parse_allow_entry(item) for item in allow if item.strip())
        self._resolve = resolver or system_resolver

    def _name_allowed(self, host: str, port: int) -> bool:
        return any(entry.admits_name(host, port) for entry in self.allow)

    def ip_allowed(self, ip: IPAddress, port: int) -> bool:
        return is_public(ip) or any(entry.admits_ip(ip, port) for entry in self.allow)

    def check(self, url: str, *, resolve: bool = True) -> list[IPAddress]:
        """Refuse ``url`` (:class:`BlockedURL`, or :class:`~ingest.errors.BadURL` when it is malformed)
        unless it may be fetched; returns the vetted addresses (none for an allow-listed name).

        The fetcher calls it with ``resolve=False``: names are then resolved once, when the connection is
        made (:meth:`addresses`), never twice.
        """
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in ("http", "https"):
            raise BlockedURL(f"scheme {scheme or '(none)'!r} is not fetched", reason="blocked_scheme", url=url)
        host, port = http_host(url)
        if self._name_allowed(host, port):
            return []
        literal = _ip_literal(host)
        if literal is not None:
            self._vet(host, port, [literal], url)
            return [literal]
        if host == "localhost" or host.endswith(_LOCAL_SUFFIXES):
            raise BlockedURL(f"host {host} is local", reason="blocked_address", url=url)
        if not resolve:
            return []
        return self.addresses(host, port, url=url)

    def addresses(self, host: str, port: int, *, url: str | None = None) -> list[IPAddress]:
        """Resolve ``host`` once and vet every address (all must pass); what a connection may use."""
        literal = _ip_literal(host)
        if literal is not None:
            if not self._name_allowed(host, port):
                self._vet(host, port, [literal], url)
            return [literal]
        if not self._name_allowed(host, port) and (host == "localhost" or host.endswith(_LOCAL_SUFFIXES)):
            raise BlockedURL(f"host {host} is local", reason="blocked_address", url=url)
        try:
            found = [ipaddress.ip_address(a.split("%")[0]) for a in self._resolve(host)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise DNSError(f"cannot resolve {host}: {exc}", url=url) from exc
        if not found:
            raise DNSError(f"{host} has no addresses", url=url)
        if not self._name_allowed(host, port):
            self._vet(host, port, found, url)
        return found

    def _vet(self, host: str, port: int, found: list[IPAddress], url: str | None) -> None:
        for ip in found:
            if not self.ip_allowed(ip, port):
                raise BlockedURL(
                    f"{host}:{port} is (or resolves to) non-public address {ip}", reason="blocked_address", url=url
                )


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class PinnedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the guard vetted for this very connection."""

    def __init__(self, guard: AddressGuard) -> None:
        self.guard = guard

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self.guard.addresses(host.lower().rstrip("."), port)
        last: Exception | None = None
        for ip in addresses:
            try:
                return super().connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None  # addresses() never returns an empty list
        raise last


class PinnedTransport(httpx.HTTPTransport):
    """httpx's transport over :class:`PinnedBackend`; no proxies, no keep-alive (one connection per request)."""

    def __init__(self, guard: AddressGuard, *, verify: ssl.SSLContext | None = None) -> None:
        super().__init__(trust_env=False, limits=httpx.Limits(max_keepalive_connections=0))
        context = verify or ssl.create_default_context(cafile=certifi.where())
        # HTTPTransport does not take a network backend; its pool is rebuilt with ours (same arguments)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=None,
            max_keepalive_connections=0,
            http1=True,
            http2=False,
            network_backend=PinnedBackend(guard),
        )
