"""deskhand's HMAC signature (like Slack's): v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}")).

deskhand signs its outbound callbacks with it and checks inbound webhooks with it; the check
itself is integrations.verification's, shared with every other signed endpoint.
"""

from __future__ import annotations

from integrations.verification import DESKHAND, MAX_SKEW_SECONDS, Refused, v0_signature

TIMESTAMP_HEADER = DESKHAND.timestamp_header
SIGNATURE_HEADER = DESKHAND.signature_header

__all__ = [
    "MAX_SKEW_SECONDS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "signature",
    "signed_headers",
    "verify",
]


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return v0_signature(secret, timestamp, body)


def signed_headers(secret: str, body: bytes, *, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(secret: str, timestamp: str | None, sig: str | None, body: bytes, *, now: float) -> bool:
    """True only for a fresh timestamp and a matching signature (constant-time compare);
    for receivers that need a yes or no rather than the refusal's reason."""
    sent = ((TIMESTAMP_HEADER, timestamp), (SIGNATURE_HEADER, sig))
    headers = {name: value for name, value in sent if value is not None}
    try:
        DESKHAND.verify(secret, headers, body, now=now)
    except Refused:
        return False
    return True
