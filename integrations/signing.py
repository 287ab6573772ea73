"""deskhand's HMAC signature (like Slack's): v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}"))."""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Deskhand-Request-Timestamp"
SIGNATURE_HEADER = "X-Deskhand-Signature"
MAX_SKEW_SECONDS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(secret: str, timestamp: str | None, sig: str | None, body: bytes, *, now: float) -> bool:
    """True only for a fresh timestamp and a matching signature (constant-time compare)."""
    if not timestamp or not sig:
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > MAX_SKEW_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), sig)
