"""Sending one webhook request without letting a brand aim the platform at its own network.

An endpoint's host is resolved and refused if any of its addresses is private, loopback,
link-local, multicast, reserved, unspecified or otherwise not globally routable (IPv4 and IPv6,
IPv4 inside IPv6 included). The check runs when the endpoint is saved and again before every
request, and the request connects to the very address that was checked, so a DNS answer that
changes between the two (rebinding) cannot slip through. Redirects are never followed.

`allow_private` (the WEBHOOKS_ALLOW_PRIVATE setting, on only in tests) lifts the address check and
allows plain http, so tests can use a receiver on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
#: The whole request, however slowly a server drips its answer (the delivery holds a row lock).
TOTAL_TIMEOUT = 15.0
EXCERPT_BYTES = 500
MAX_URL_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(ValueError):
    """The URL may not receive webhooks. The message (English) is what a delivery records;
    `code` lets the portal show the reason in the reader's language."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent on the request line
    address: str  # the checked address the request connects to


@dataclass(frozen=True)
class Response:
    status_code: int | None
    excerpt: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _getaddrinfo(host: str, port: int) -> list[Any]:
    # One seam for tests: what the resolver answers.
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def is_public(ip: IPAddress) -> bool:
    """True for an address the wider internet routes to this host's peers, and nothing else."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not is_public(embedded):
            return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def check_url(url: str, *, allow_private: bool) -> Target:
    """Parse, resolve and vet an endpoint URL; raises UnsafeURL with the reason."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeURL("Give an https:// address of at most 2048 characters.", "length")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL("This is not a valid URL.", "invalid") from exc
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeURL("The address must start with https://.", "scheme")
    if parts.username or parts.password:
        raise UnsafeURL("The address may not carry a user name or password.", "credentials")
    host = parts.hostname
    if not host:
        raise UnsafeURL("The address has no host name.", "invalid")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise UnsafeURL("The address contains spaces or control characters.", "invalid")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = _getaddrinfo(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeURL(f"The host {host} cannot be resolved.", "resolve") from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not addresses:
        raise UnsafeURL(f"The host {host} cannot be resolved.", "resolve")
    # Every address must be public: a client may connect to any of them.
    if not allow_private and not all(is_public(ip) for ip in addresses):
        raise UnsafeURL(
            f"The host {host} resolves to a private or reserved address; "
            "webhooks go to public internet addresses only.",
            "private",
        )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path, str(addresses[0]))


def post(target: Target, body: bytes, headers: dict[str, str]) -> Response:
    """POST `body` to the checked address; never raises for network trouble."""
    started = time.monotonic()

    def pinned(_address: Any, timeout: Any = None, source_address: Any = None) -> socket.socket:
        return socket.create_connection(
            (target.address, target.port), CONNECT_TIMEOUT, source_address
        )

    conn: http.client.HTTPConnection
    if target.scheme == "https":
        # The TLS handshake and the certificate check use the host name (SNI), the TCP
        # connection the vetted address.
        conn = http.client.HTTPSConnection(
            target.host, target.port, timeout=CONNECT_TIMEOUT, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=CONNECT_TIMEOUT)
    conn._create_connection = pinned  # type: ignore[attr-defined]

    def cut() -> None:
        # Unblocks a recv that a trickling server keeps alive past the socket timeout.
        if conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(TOTAL_TIMEOUT, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.connect()
        assert conn.sock is not None
        conn.sock.settimeout(READ_TIMEOUT)
        conn.request("POST", target.path, body=body, headers=headers)
        resp = conn.getresponse()
        excerpt = resp.read(EXCERPT_BYTES).decode("utf-8", "replace")
        status = resp.status
        error = ""
        if 300 <= status < 400:
            error = "Redirects are not followed: answer 2xx at the subscribed address."
        elif not 200 <= status < 300:
            error = f"The endpoint answered HTTP {status}."
        return Response(status, excerpt, error, _ms(started))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # ValueError: what http.client raises for a malformed answer or request part.
        return Response(None, "", _describe(exc), _ms(started))
    finally:
        watchdog.cancel()
        conn.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "Timed out."
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.__class__.__name__}."
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused."
    return f"{exc.__class__.__name__}: {exc}"[:300]


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
