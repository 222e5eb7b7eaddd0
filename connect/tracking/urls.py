"""Destination URLs: which are safe to redirect to, and how the click id is added.

A destination is safe only if it is an absolute http(s) URL whose host is one of the brand's
verified domains (or a subdomain of one), with no userinfo, no odd port, nothing encoded that a
browser could read as another host, and no control characters. The check is strict on purpose:
anything unusual is refused, since a refused link is a support ticket and an open redirect is a
phishing kit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\]|%(?:2f|5c|00|0d|0a|09|40)", re.IGNORECASE)


class UnsafeDestination(ValueError):
    """The URL is not a redirect target this brand may use."""


def normalize_domain(raw: str) -> str:
    """A verified-domain entry in canonical form (lower-case ASCII, IDNA for non-ASCII)."""
    host = raw.strip().rstrip(".").lower()
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise UnsafeDestination(f"{raw!r} is not a valid domain") from exc
    if not _HOST_RE.match(host):
        raise UnsafeDestination(f"{raw!r} is not a valid domain")
    return host


def host_allowed(host: str, domains: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def check_destination(url: str, domains: Iterable[str]) -> str:
    """`url` unchanged if it is safe to redirect to for these verified domains; else raises."""
    if not url or len(url) > 2048:
        raise UnsafeDestination("the URL is empty or too long")
    if _FORBIDDEN.search(url) or not url.isascii():
        raise UnsafeDestination("the URL contains characters that are not allowed")
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"}:
        raise UnsafeDestination("only http and https URLs are allowed")
    if not url.lower().startswith(parts.scheme + "://"):
        raise UnsafeDestination("the URL must start with https://")
    netloc = parts.netloc
    if not netloc or "@" in netloc:
        raise UnsafeDestination("the URL must name a host, without user or password")
    host, _, port = netloc.partition(":")
    if port and port not in {"443", "80"}:
        raise UnsafeDestination("the URL must not name a port")
    host = host.lower()
    if host.endswith(".") or not _HOST_RE.match(host):
        raise UnsafeDestination("the URL's host is not a domain name")
    if not host_allowed(host, domains):
        raise UnsafeDestination(f"{host} is not one of the brand's verified domains")
    return url


def with_click_id(url: str, param: str, click_id: str) -> str:
    """`url` with `param=click_id` added, keeping its own query string and fragment.

    An existing value of `param` is replaced, so a crafted destination cannot smuggle a click id.
    """
    parts = urlsplit(url)
    # The destination's own parameters stay byte for byte as the brand wrote them.
    kept = [s for s in parts.query.split("&") if s and s.partition("=")[0] != param]
    kept.append(f"{param}={click_id}")
    return urlunsplit(parts._replace(query="&".join(kept)))
