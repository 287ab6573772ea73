"""Every signed endpoint as a target: where it is, a body it takes, and how its sender
signs, so header refusal tests can sign correctly and then break one thing.

The bad header sets are built from the correct ones: each drops, empties, repeats or
replaces exactly one header, and a replaced timestamp is signed as it stands, so only the
defensive parsing can refuse it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.demo import slack_requests
from integrations.verification import v0_signature
from tests.support.approvals_e2e import refund_request
from tests.support.harness_data import (
    AGENT,
    CHANNEL,
    HANDOFF,
    SLACK_SECRET,
    WEBHOOK_SECRET,
    handoff_payload,
)
from tests.support.raw_http import Header
from tests.support.ticketing_e2e import SECRET as TICKETING_SECRET

HID = HANDOFF["handoff_id"]
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
# Documented in docs/webhooks.md ("Signatures") and docs/openapi.yaml.
HEADER_CODES = frozenset(
    {
        "webhooks_disabled",
        "missing_signature",
        "invalid_timestamp",
        "stale_timestamp",
        "invalid_signature",
    }
)


@dataclass(frozen=True)
class Target:
    name: str
    method: str
    path: str
    body: bytes
    content_type: str
    signature_header: str
    sign: Callable[[str, bytes], str]  # (timestamp as sent, body) -> the signature
    timestamp_header: str | None = None  # None: the scheme signs no timestamp (Intercom)
    iso_timestamp: bool = False  # Zendesk's timestamp is ISO 8601

    def timestamp(self, now: float) -> str:
        if self.iso_timestamp:
            return datetime.fromtimestamp(int(now), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return str(int(now))

    def signed(self, now: float, timestamp: str | None = None) -> list[Header]:
        """The headers a genuine sender sends (over ``timestamp`` if given)."""
        stamp = timestamp if timestamp is not None else self.timestamp(now)
        headers: list[Header] = [("Content-Type", self.content_type.encode())]
        if self.timestamp_header is not None:
            headers.append((self.timestamp_header, stamp.encode()))
        headers.append((self.signature_header, self.sign(stamp, self.body).encode()))
        return headers


def _v0(secret: str) -> Callable[[str, bytes], str]:
    return lambda timestamp, body: v0_signature(secret, timestamp, body)


def _zendesk(timestamp: str, body: bytes) -> str:
    digest = hmac.new(TICKETING_SECRET.encode(), timestamp.encode() + body, hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def _intercom(_: str, body: bytes) -> str:
    return "sha1=" + hmac.new(TICKETING_SECRET.encode(), body, hashlib.sha1).hexdigest()


def _deskhand(name: str, method: str, path: str, body: bytes) -> Target:
    return Target(
        name,
        method,
        path,
        body,
        JSON,
        "X-Deskhand-Signature",
        _v0(WEBHOOK_SECRET),
        "X-Deskhand-Request-Timestamp",
    )


def claim_click(message_ts: str) -> str:
    return slack_requests.block_action(
        action_id="handoff_claim",
        value=HID,
        user_id=AGENT[0],
        user_name=AGENT[1],
        channel=CHANNEL,
        message_ts=message_ts,
    )


def slack_target(message_ts: str) -> Target:
    return Target(
        "slack_events",
        "POST",
        "/slack/events",
        claim_click(message_ts).encode(),
        FORM,
        "X-Slack-Signature",
        _v0(SLACK_SECRET),
        "X-Slack-Request-Timestamp",
    )


def deskhand_targets(message_ts: str) -> list[Target]:
    message = json.dumps({"message_id": "m-hostile", "text": "hi"}).encode()
    return [
        _deskhand("handoffs", "POST", "/webhooks/handoffs", json.dumps(handoff_payload()).encode()),
        _deskhand("customer_message", "POST", f"/webhooks/handoffs/{HID}/messages", message),
        _deskhand(
            "approvals", "POST", "/webhooks/approvals", json.dumps(refund_request()).encode()
        ),
        _deskhand("approval_status", "GET", "/api/approvals/apr-1", b""),
        slack_target(message_ts),
    ]


def ticket_target(system: str) -> Target:
    path = f"/webhooks/tickets/{system}"
    if system == "zendesk":
        body = json.dumps({"deskhand_event": "status", "ticket_id": "1", "status": "open"})
        return Target(
            "zendesk",
            "POST",
            path,
            body.encode(),
            JSON,
            "X-Zendesk-Webhook-Signature",
            _zendesk,
            "X-Zendesk-Webhook-Signature-Timestamp",
            iso_timestamp=True,
        )
    if system == "intercom":
        body = json.dumps({"type": "notification_event", "topic": "ping", "data": {"item": {}}})
        return Target("intercom", "POST", path, body.encode(), JSON, "X-Hub-Signature", _intercom)
    return Target(
        "custom",
        "POST",
        path,
        b'{"events": []}',
        JSON,
        "X-Ticketing-Signature",
        _v0(TICKETING_SECRET),
        "X-Ticketing-Timestamp",
    )


# Timestamps that are not one: signs, Unicode digits (superscript two, Arabic-Indic,
# Devanagari), inner whitespace, exponents, hex, a fraction, 5000 digits, not UTF-8.
BAD_TIMESTAMPS = [
    "--5",
    "+{now}",
    "-{now}",
    "\u00b2",
    "\u0661\u0667\u0666\u0667",
    "\u0967\u0968",
    "{now}\t1",
    "{now} 1",
    "1e9",
    "0x10",
    "{now}.5",
    "9" * 5000,
    "yesterday",
]
BAD_SIGNATURES: list[bytes] = [
    "v0=\u00e9".encode() * 20,
    b"\xff\xfe" * 10,
    b"v0=" + b"0" * 64,
    b"v0=" + b"a" * 6000,
    b"v0=ab\tcd",
    b"sha1=" + "\u00b2".encode() * 40,
]


def bad_header_sets(target: Target, now: float) -> list[tuple[str, list[Header]]]:
    """(what is wrong, headers) for every malformed variant of the target's headers."""
    good = target.signed(now)
    content, rest = good[0], good[1:]
    by_name = dict(rest)
    sig_name, ts_name = target.signature_header, target.timestamp_header
    cases: list[tuple[str, list[Header]]] = [
        ("no signature headers", [content]),
        ("no signature", [content, *((n, v) for n, v in rest if n != sig_name)]),
        ("empty signature", [content, *((n, b"" if n == sig_name else v) for n, v in rest)]),
        ("signature twice", [*good, (sig_name, by_name[sig_name])]),
    ]
    cases += [
        (f"signature {bad[:12]!r}", [content, *((n, bad if n == sig_name else v) for n, v in rest)])
        for bad in BAD_SIGNATURES
    ]
    if ts_name is not None:
        cases += [
            ("no timestamp", [content, (sig_name, by_name[sig_name])]),
            ("empty timestamp", [content, (ts_name, b""), (sig_name, by_name[sig_name])]),
            ("timestamp twice", [*good, (ts_name, by_name[ts_name])]),
            ("stale timestamp", target.signed(now - 301)),
            ("future timestamp", target.signed(now + 301)),
            ("not UTF-8 timestamp", [content, (ts_name, b"\xff17"), (sig_name, b"v0=00")]),
        ]
        for pattern in BAD_TIMESTAMPS:
            stamp = pattern.format(now=int(now))
            # Signed over the bad timestamp as sent: only the parse may refuse it.
            cases.append((f"timestamp {stamp[:12]!r}", target.signed(now, timestamp=stamp)))
    return cases
