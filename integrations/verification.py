"""Who sent this request: the one check behind every signed or authenticated endpoint.

Every function here is pure (no I/O) and total: whatever the headers hold (absent, empty,
sent twice, not ASCII, ``--5``, ``²``, five thousand digits), the request is either verified
or refused with a `Refused` carrying the contract's 401 code, never another exception.

- **v0** (Slack's scheme, deskhand's own and the custom ticketing system's: one scheme under
  different header names): ``v0=hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body))``
  and a timestamp within 300 s, checked by slack_sdk's `SignatureVerifier` once the headers
  have been parsed here (it raises on a non-numeric timestamp or a non-ASCII signature).
- **digests** (Zendesk, Intercom): the system's module computes its digest; `same` compares.
- **bearer tokens** (Alertmanager): `verify_bearer`.

Refusal codes (docs/webhooks.md, docs/openapi.yaml): ``webhooks_disabled`` (no secret set),
``missing_signature``, ``invalid_timestamp``, ``stale_timestamp``, ``invalid_signature``,
``missing_token``, ``invalid_token``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from slack_sdk.signature import Clock, SignatureVerifier

MAX_SKEW_SECONDS = 300  # SignatureVerifier's own window too
MAX_HEADER_CHARS = 1024  # far above any real signature or token
# ASCII digits only: no sign, no spaces, no "²" or other Unicode digits (which int() would
# take or choke on).
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


class Refused(Exception):
    """A request deskhand does not accept; ``status`` and ``code`` are the JSON error's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def disabled(what: str) -> Refused:
    return Refused(401, "webhooks_disabled", f"{what} is not set: every request is refused.")


def missing_signature(name: str) -> Refused:
    return Refused(401, "missing_signature", f"The {name} header is missing or empty.")


def invalid_timestamp(name: str) -> Refused:
    return Refused(401, "invalid_timestamp", f"The {name} header is not a valid timestamp.")


def stale_timestamp() -> Refused:
    return Refused(401, "stale_timestamp", "The request timestamp is too old or too new.")


def invalid_signature(message: str = "The request signature does not match.") -> Refused:
    return Refused(401, "invalid_signature", message)


def require_secret(secret: str | None, what: str) -> str:
    """The secret, or ``webhooks_disabled`` when it is unset (``what`` names the variable)."""
    if not secret:
        raise disabled(what)
    return secret


def _values(headers: Mapping[str, str], name: str) -> list[object]:
    getall = getattr(headers, "getall", None)
    if callable(getall):  # aiohttp's CIMultiDict: every value, case-insensitively
        return list(getall(name, []))
    lowered = name.lower()
    return [v for k, v in headers.items() if isinstance(k, str) and k.lower() == lowered]


def single_header(
    headers: Mapping[str, str], name: str, *, missing: Refused, invalid: Refused
) -> str:
    """The one value of ``name``: present once, non-empty, printable ASCII, bounded."""
    values = _values(headers, name)
    if not values or values == [""]:
        raise missing
    value = values[0]
    if (
        len(values) > 1
        or not isinstance(value, str)
        or len(value) > MAX_HEADER_CHARS
        or not _PRINTABLE_ASCII.fullmatch(value)
        or value != value.strip()
    ):
        raise invalid
    return value


def check_skew(sent_at: float, *, now: float, max_skew: float = MAX_SKEW_SECONDS) -> None:
    if not math.isfinite(sent_at) or abs(now - sent_at) > max_skew:
        raise stale_timestamp()


def unix_seconds(value: str, *, name: str, now: float) -> int:
    """A header holding whole Unix seconds, as Slack and deskhand send them, within the skew."""
    if not _UNIX_SECONDS.fullmatch(value):
        raise invalid_timestamp(name)
    seconds = int(value)
    check_skew(seconds, now=now)
    return seconds


def same(expected: bytes, given: str) -> bool:
    """Constant-time comparison of a computed digest with the header's ASCII text."""
    return given.isascii() and hmac.compare_digest(expected, given.encode("ascii"))


# -- v0: Slack's scheme, and deskhand's --------------------------------------------------------


def v0_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``, over the body's raw bytes."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class _At(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


class RawBodyVerifier(SignatureVerifier):
    """slack_sdk's verifier, signing the raw bytes. Its own ``generate_signature`` decodes the
    body as UTF-8 and encodes it again: the same bytes, so the same signature, for any UTF-8
    body, but an exception for anything else, which deskhand's scheme signs as it is."""

    def generate_signature(self, *, timestamp: str, body: str | bytes) -> str | None:
        raw = body.encode() if isinstance(body, str) else body
        return v0_signature(self.signing_secret, timestamp, raw)


@dataclass(frozen=True)
class V0Scheme:
    """Where a v0 signature travels: the two header names."""

    timestamp_header: str
    signature_header: str

    def verify(self, secret: str, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """Return if the request is signed with ``secret`` at most 300 s from ``now``."""
        timestamp = single_header(
            headers,
            self.timestamp_header,
            missing=missing_signature(self.timestamp_header),
            invalid=invalid_timestamp(self.timestamp_header),
        )
        signature = single_header(
            headers,
            self.signature_header,
            missing=missing_signature(self.signature_header),
            invalid=invalid_signature(f"The {self.signature_header} header is malformed."),
        )
        unix_seconds(timestamp, name=self.timestamp_header, now=now)
        try:
            verifier = RawBodyVerifier(secret, clock=_At(now))
            valid = verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
        except (TypeError, ValueError, UnicodeError) as exc:
            # Unreachable after the parse above (and a blank secret fails at start-up), but
            # whatever the library raises is still only a refusal.
            raise invalid_signature() from exc
        if not valid:
            raise invalid_signature()


SLACK = V0Scheme("X-Slack-Request-Timestamp", "X-Slack-Signature")
DESKHAND = V0Scheme("X-Deskhand-Request-Timestamp", "X-Deskhand-Signature")


# -- bearer tokens --------------------------------------------------------------------------


def verify_bearer(
    expected: str | None, headers: Mapping[str, str], *, what: str = "The token"
) -> None:
    """``Authorization: Bearer <token>`` equal to ``expected`` (compared in constant time)."""
    token = require_secret(expected, what)
    value = single_header(
        headers,
        "Authorization",
        missing=Refused(401, "missing_token", "The Authorization header is missing or empty."),
        invalid=Refused(401, "invalid_token", "The Authorization header is malformed."),
    )
    scheme, _, given = value.partition(" ")
    if scheme.lower() != "bearer" or not same(token.encode(), given):
        raise Refused(401, "invalid_token", "The bearer token does not match.")
