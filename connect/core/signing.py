"""Signed server-to-server requests (brand conversions, and the scheme brands see documented).

    X-Connect-Timestamp: <unix seconds>
    X-Connect-Signature: v1=<hex HMAC-SHA256(key, "<timestamp>." + raw body)>

The HMAC key is SHA-256 of the brand's API key (raw bytes), which is also all the platform
stores of it. A timestamp more than TOLERANCE away from the server clock is refused (stale or
future); an exact signature seen before is refused as a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The request's signature or timestamp is not acceptable; the message says which."""


def key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def sign(digest_hex: str, timestamp: int, body: bytes) -> str:
    """The signature header value for a body (what a brand's client computes)."""
    mac = hmac.new(bytes.fromhex(digest_hex), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    digest_hex: str,
    timestamp_header: str,
    signature_header: str,
    body: bytes,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless the signature is right and the timestamp is fresh."""
    if not timestamp_header.isdigit() or len(timestamp_header) > 12:
        raise SignatureError("X-Connect-Timestamp must be the Unix time in seconds")
    timestamp = int(timestamp_header)
    skew = (time.time() if now is None else now) - timestamp
    if skew > TOLERANCE_SECONDS:
        raise SignatureError("the request timestamp is too old (more than 5 minutes)")
    if skew < -TOLERANCE_SECONDS:
        raise SignatureError("the request timestamp is in the future (more than 5 minutes)")
    expected = sign(digest_hex, timestamp, body)
    offered = [part.strip() for part in signature_header.split(",") if part.strip()]
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise SignatureError("the signature does not match the body and timestamp")
