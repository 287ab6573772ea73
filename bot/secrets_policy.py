"""Which values deskhand accepts as secrets: start-up refuses placeholders and weak ones.

The rule, as docs/configuration.md ("Secrets") states it:

* Every secret and token is refused when empty, when it reads like a placeholder (a known
  example value, a template such as ``<...>`` or ``${...}``, a word such as ``changeme``,
  ``secret``, ``password``, ``example``, ``your``, ``test``, ``dummy``, or a run of one
  character such as ``xxxx``), or when it has fewer than 8 different characters.
* A shared secret that deskhand verifies requests with (signing and webhook secrets, the
  Alertmanager bearer token) needs at least 32 characters: Slack's signing secrets are 32
  hex characters, and ``openssl rand -hex 32`` makes 64.
* Slack's tokens start with their kind's prefix (``xoxb-``, ``xapp-``), Stripe's keys with
  ``sk_`` or ``rk_``; the rules above apply to what follows the prefix.

A refusal names the reason, never the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MIN_SHARED_SECRET_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 8


class SecretKind(StrEnum):
    SHARED = "shared"  # deskhand verifies requests with it: its strength is ours to check
    CREDENTIAL = "credential"  # deskhand presents it to a vendor, who checks it


@dataclass(frozen=True)
class SecretRule:
    kind: SecretKind
    prefixes: tuple[str, ...] = ()
    looks_like: str = ""  # what a value of the right shape is, for the refusal


# Keyed by the Settings field each rule guards.
SECRET_RULES: dict[str, SecretRule] = {
    "slack_signing_secret": SecretRule(SecretKind.SHARED),
    "webhook_secret": SecretRule(SecretKind.SHARED),
    "zendesk_webhook_secret": SecretRule(SecretKind.SHARED),
    "intercom_client_secret": SecretRule(SecretKind.SHARED),
    "custom_ticketing_webhook_secret": SecretRule(SecretKind.SHARED),
    "alertmanager_token": SecretRule(SecretKind.SHARED),
    "slack_bot_token": SecretRule(SecretKind.CREDENTIAL, ("xoxb-",), "a Slack bot token"),
    "slack_app_token": SecretRule(SecretKind.CREDENTIAL, ("xapp-",), "a Slack app-level token"),
    "stripe_api_key": SecretRule(
        SecretKind.CREDENTIAL, ("sk_", "rk_"), "a Stripe secret or restricted key"
    ),
    "zendesk_api_token": SecretRule(SecretKind.CREDENTIAL),
    "intercom_access_token": SecretRule(SecretKind.CREDENTIAL),
    "custom_ticketing_token": SecretRule(SecretKind.CREDENTIAL),
}

# Markers only placeholders contain, looked for in the value with everything but letters
# and digits removed. Each is long enough that a random value holds it by chance less
# than once in millions.
PLACEHOLDER_MARKERS = (
    "changeme",
    "replaceme",
    "placeholder",
    "example",
    "sample",
    "password",
    "passwd",
    "secret",
    "dummy",
)
# Whole words (split on anything but letters and digits) that only placeholders are made of.
PLACEHOLDER_WORDS = frozenset(
    {
        "test",
        "tests",
        "testing",
        "fake",
        "your",
        "yours",
        "my",
        "todo",
        "fixme",
        "tbd",
        "token",
        "key",
        "demo",
        "default",
        "none",
        "null",
        "foo",
        "bar",
        "abc",
        "here",
        "insert",
    }
)
# Example values published in Slack's documentation, lower-cased, prefix included.
KNOWN_EXAMPLES = frozenset(
    {
        "8f742231b10e8888abcd99yyyzzz85a5",  # the signing secret of "Verifying requests"
        "xoxb-17653672481-19874698323-pdfzkvetue8sk7oocbrzbqgy",  # an OAuth example's bot token
    }
)
_STRIPE_MODE = re.compile(r"^(live|test)_")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_ONE_CHARACTER_RUN = re.compile(r"(.)\1{3,}")


def secret_problem(field: str, value: str) -> str | None:
    """Why ``value`` is refused for the Settings field ``field``; None when it is fine.

    The answer never contains the value, so it can go into an error message as it is.
    """
    rule = SECRET_RULES.get(field)
    if rule is None:
        return None
    if not value.strip():
        return "is empty: unset it or give it a real value"
    body = value
    if rule.prefixes:
        prefix = next((p for p in rule.prefixes if value.startswith(p)), None)
        if prefix is None:
            starts = " or ".join(rule.prefixes)
            return f"does not look like {rule.looks_like}: it must start with {starts}"
        body = value[len(prefix) :]
        if prefix in ("sk_", "rk_"):
            body = _STRIPE_MODE.sub("", body)
    if {value.lower(), body.lower()} & KNOWN_EXAMPLES or _is_placeholder(body):
        return "looks like a placeholder or an example value, not a generated one"
    if rule.kind is SecretKind.SHARED and len(value) < MIN_SHARED_SECRET_LENGTH:
        return (
            "is too short: deskhand verifies requests with it, so it needs at least "
            f"{MIN_SHARED_SECRET_LENGTH} characters (for example, openssl rand -hex 32)"
        )
    if len(set(body)) < MIN_DISTINCT_CHARACTERS:
        return (
            f"has fewer than {MIN_DISTINCT_CHARACTERS} different characters: "
            "it looks like a placeholder, not a generated value"
        )
    return None


def _is_placeholder(body: str) -> bool:
    stripped = body.strip()
    if stripped.startswith("<") or stripped.endswith(">") or "${" in body or "{{" in body:
        return True  # a template left unfilled
    lowered = stripped.lower()
    compact = _NOT_ALNUM.sub("", lowered)
    if any(marker in compact for marker in PLACEHOLDER_MARKERS):
        return True
    words = [word for word in _NOT_ALNUM.split(lowered) if word]
    if any(word in PLACEHOLDER_WORDS for word in words):
        return True
    # xxxx, 0000, ****: four of one character in a row is typed, not generated.
    return any(_ONE_CHARACTER_RUN.fullmatch(word) for word in [*words, lowered])
