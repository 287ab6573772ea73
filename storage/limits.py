"""What the database can hold, the same on SQLite and PostgreSQL.

SQLite ignores column lengths and stores NUL; PostgreSQL refuses both. So text is made
storable before it reaches either: NUL becomes U+FFFD (PostgreSQL's text types cannot hold
it), and so does a lone surrogate (neither driver can encode it). Keys composed of several
ids are kept within their column by hashing what does not fit, deterministically: the
same parts always give the same key.
"""

from __future__ import annotations

import hashlib
import re

REPLACEMENT = "\ufffd"
# NUL, and surrogates left alone (JSON's "\ud800" decodes to one; no UTF-8 encodes it).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# Column widths shared by models and the code that fills them (docs/limits.md).
PUBLIC_ID = 200  # handoff_id, request_id, message_id, session_id, customer id
EMAIL = 320  # RFC 5321: 64 + "@" + 255
PERSON_NAME = 400  # a customer's or a ticketing system's user's name
# Who acted: a Slack user id, or "<system>:<name or e-mail>" from a ticketing system.
ACTOR = len("intercom:") + PERSON_NAME
KEY = 300  # outbox idempotency and ordering keys, local tickets' idempotency keys (columns)
# A key is also sent on as an Idempotency-Key: Stripe and the custom ticketing contract
# take up to 255 characters, so keys are fitted to that, within their column.
SENT_KEY = 255
EVENT_ID = 200  # a ticketing system's event id (ticket_sync_events)

_DIGEST_CHARS = 64  # sha256, hex


def clean_text(text: str) -> str:
    """Text both databases store alike: NUL and lone surrogates replaced by U+FFFD (as a
    decoder does for bytes it cannot read)."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def clean_optional(text: str | None) -> str | None:
    return None if text is None else clean_text(text)


def fit_key(key: str, limit: int = SENT_KEY) -> str:
    """``key`` itself when it fits in ``limit`` characters, else a readable prefix and the
    sha256 of the whole key: distinct keys stay distinct, equal keys stay equal."""
    key = clean_text(key)
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: limit - _DIGEST_CHARS - 1]}#{digest}"


def fit_text(text: str | None, limit: int) -> str | None:
    """A display value (a name, an e-mail from a ticketing system) cleaned and cut to fit:
    such values come from systems deskhand cannot refuse, so they are shortened instead."""
    if text is None:
        return None
    cleaned = clean_text(text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
