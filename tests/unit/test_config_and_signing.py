"""Settings (defaults from the contract, one-line errors, secrets kept secret) and the
deskhand HMAC signature."""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.config import ConfigError, Settings, load_settings
from integrations import signing
from integrations.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers, verify

NOW = 1_767_600_000.0  # 2026-01-05


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No deskhand or Slack variables from the outer environment, no stray .env file."""
    for name in list(os.environ):
        if name.startswith(("DESKHAND_", "SLACK_")) and name != "DESKHAND_TEST_DATABASES":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


# -- Settings ----------------------------------------------------------------------------------


def test_defaults_match_the_contract() -> None:
    settings = load_settings()
    assert str(settings.slack_api_url) == "https://slack.com/api/"
    assert settings.port == 3000
    assert settings.host == "0.0.0.0"  # noqa: S104 - the documented default
    assert settings.database_url == "sqlite+aiosqlite:///./deskhand.db"
    assert settings.ticketing == "local"
    assert settings.leads == ()
    assert settings.slack_bot_token is None
    assert settings.slack_signing_secret is None
    assert settings.slack_app_token is None
    assert settings.webhook_secret is None
    assert settings.escalation_channel is None
    assert settings.chatbot_callback_url is None
    assert settings.demo_mode is True  # no SLACK_BOT_TOKEN: the local demo
    assert settings.socket_mode is False


def test_the_environment_and_a_dotenv_file_are_read(clean_env: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("DESKHAND_PORT=4001\nDESKHAND_LEADS=U1,S2\nDESKHAND_HOST=127.0.0.1\n")
    clean_env.setenv("DESKHAND_HOST", "10.0.0.1")  # the environment beats .env
    clean_env.setenv("DESKHAND_TICKETING", "zendesk")
    clean_env.setenv("ZENDESK_URL", "https://acme.zendesk.com")
    clean_env.setenv("ZENDESK_EMAIL", "bot@acme.example")
    clean_env.setenv("ZENDESK_API_TOKEN", "8cab0df6a84922905daf233c4c6dba85")
    settings = load_settings()
    assert (settings.port, settings.leads, settings.host) == (4001, ("U1", "S2"), "10.0.0.1")
    assert settings.ticketing == "zendesk"
    assert settings.zendesk_api_token is not None
    assert "8cab0df6a84922905daf233c4c6dba85" not in repr(settings)  # a secret is never printed


@pytest.mark.parametrize(
    ("system", "missing"),
    [
        ("zendesk", "ZENDESK_URL"),
        ("intercom", "INTERCOM_ACCESS_TOKEN"),
        ("custom", "CUSTOM_TICKETING_URL"),
    ],
)
def test_a_ticketing_system_without_its_credentials_stops_start_up_in_one_line(
    clean_env: pytest.MonkeyPatch, system: str, missing: str
) -> None:
    clean_env.setenv("DESKHAND_TICKETING", system)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert "\n" not in message and missing in message and system in message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("U1", ("U1",)),
        ("U1,U2", ("U1", "U2")),
        (" U1 , S2,,U3 ,", ("U1", "S2", "U3")),
        ("", ()),
    ],
)
def test_leads_split_on_commas(
    clean_env: pytest.MonkeyPatch, raw: str, expected: tuple[str, ...]
) -> None:
    clean_env.setenv("DESKHAND_LEADS", raw)
    assert load_settings().leads == expected
    clean_env.delenv("DESKHAND_LEADS")
    assert load_settings(DESKHAND_LEADS=raw).leads == expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DESKHAND_TICKETING", "jira"),
        ("DESKHAND_CHATBOT_CALLBACK_URL", "not a url"),
        ("DESKHAND_CHATBOT_CALLBACK_URL", "ftp://example.com/callback"),
        ("DESKHAND_PORT", "three thousand"),
        ("DESKHAND_PORT", "70000"),
        ("DESKHAND_DATABASE_URL", "mysql://localhost/deskhand"),
        ("DESKHAND_DATABASE_URL", "sqlite:///deskhand.db"),  # the sync driver
        ("SLACK_API_URL", "slack.com/api"),
        ("DESKHAND_OUTBOX_RETRY_CAP", "0"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert variable in message
    assert message.startswith("invalid configuration: ")


def test_a_bad_override_names_the_variable_too() -> None:
    with pytest.raises(ConfigError, match="DESKHAND_TICKETING") as caught:
        load_settings(DESKHAND_TICKETING="jira")
    assert "\n" not in str(caught.value)


def test_a_bot_token_without_a_signing_secret_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SLACK_BOT_TOKEN", "xoxb-1000000001-2000000002-6188f946d7b2209a")
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET") as caught:
        load_settings()
    assert "\n" not in str(caught.value)
    # Socket Mode needs no signing secret.
    clean_env.setenv("SLACK_APP_TOKEN", "xapp-1-A01-3000000003-89e35e8cb6865461")
    assert load_settings().socket_mode is True


def test_secrets_are_secret(clean_env: pytest.MonkeyPatch) -> None:
    secrets = {
        "SLACK_BOT_TOKEN": "xoxb-1000000001-2000000002-6dfe0165b9430d21",
        "SLACK_SIGNING_SECRET": "6dfe0165b9430d21b64334f4ca230eb0",
        "SLACK_APP_TOKEN": "xapp-1-A01-3000000003-b64334f4ca230eb0",
        "DESKHAND_WEBHOOK_SECRET": "89e35e8cb6865461be9ebd74ddda5844",
    }
    for name, value in secrets.items():
        clean_env.setenv(name, value)
    settings = load_settings()
    fields = {
        "SLACK_BOT_TOKEN": settings.slack_bot_token,
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret,
        "SLACK_APP_TOKEN": settings.slack_app_token,
        "DESKHAND_WEBHOOK_SECRET": settings.webhook_secret,
    }
    for name, field in fields.items():
        assert isinstance(field, SecretStr)
        assert field.get_secret_value() == secrets[name]
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for value in secrets.values():
        assert value not in shown
    assert settings.demo_mode is False


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1
    assert isinstance(settings, Settings)


# -- signing -----------------------------------------------------------------------------------

SECRET = "webhook-secret"
BODY = b'{"handoff_id": "sess-1:esc-1"}'


def headers(secret: str = SECRET, body: bytes = BODY, now: float = NOW) -> tuple[str, str]:
    signed = signed_headers(secret, body, now=now)
    return signed[TIMESTAMP_HEADER], signed[SIGNATURE_HEADER]


def test_the_signature_format() -> None:
    timestamp, sig = headers()
    assert timestamp == str(int(NOW))
    assert sig.startswith("v0=") and len(sig) == 3 + 64
    int(sig[3:], 16)
    assert sig == signing.signature(SECRET, timestamp, BODY)


def test_verify_accepts_its_own_signature() -> None:
    timestamp, sig = headers()
    assert verify(SECRET, timestamp, sig, BODY, now=NOW) is True


def test_verify_refuses_a_wrong_secret() -> None:
    timestamp, sig = headers(secret="another-secret")
    assert verify(SECRET, timestamp, sig, BODY, now=NOW) is False


@pytest.mark.parametrize(
    "body", [BODY + b" ", BODY[:-1], b"", BODY.replace(b"esc-1", b"esc-2")], ids=repr
)
def test_verify_refuses_a_changed_body(body: bytes) -> None:
    timestamp, sig = headers()
    assert verify(SECRET, timestamp, sig, body, now=NOW) is False


@pytest.mark.parametrize("skew", [-301, 301, -3600, 3600])
def test_verify_refuses_a_stale_or_future_timestamp(skew: int) -> None:
    timestamp, sig = headers(now=NOW + skew)
    assert verify(SECRET, timestamp, sig, BODY, now=NOW) is False


@pytest.mark.parametrize("skew", [-300, 300, 0])
def test_verify_accepts_a_timestamp_within_five_minutes(skew: int) -> None:
    timestamp, sig = headers(now=NOW + skew)
    assert verify(SECRET, timestamp, sig, BODY, now=NOW) is True


def test_verify_refuses_a_timestamp_changed_after_signing() -> None:
    timestamp, sig = headers()
    assert verify(SECRET, str(int(timestamp) + 1), sig, BODY, now=NOW) is False


@pytest.mark.parametrize("timestamp", ["abc", "1767600000.5", "1e9", "0x10", " ", "9" * 5000])
def test_verify_refuses_a_non_numeric_timestamp(timestamp: str) -> None:
    sig = signing.signature(SECRET, timestamp, BODY)  # even correctly signed
    assert verify(SECRET, timestamp, sig, BODY, now=NOW) is False


@pytest.mark.parametrize(
    ("timestamp", "sig"),
    [(None, "sig"), ("ts", None), (None, None), ("", "sig"), ("ts", "")],
)
def test_verify_refuses_missing_headers(timestamp: str | None, sig: str | None) -> None:
    real_ts, real_sig = headers()
    assert (
        verify(
            SECRET,
            real_ts if timestamp == "ts" else timestamp,
            real_sig if sig == "sig" else sig,
            BODY,
            now=NOW,
        )
        is False
    )


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s.upper(),
        lambda s: s[:-1],
        lambda s: s + "0",
        lambda s: s.replace("v0=", "v1="),
        lambda s: s[3:],
        lambda s: s[:-1] + ("0" if s[-1] != "0" else "1"),
    ],
    ids=["upper", "truncated", "extended", "version", "no-prefix", "last-digit"],
)
def test_verify_refuses_a_mangled_signature(mangle: object) -> None:
    timestamp, sig = headers()
    assert callable(mangle)
    assert verify(SECRET, timestamp, mangle(sig), BODY, now=NOW) is False


@pytest.mark.parametrize("secret", ["", " ", "\t\n"], ids=repr)
def test_a_blank_secret_verifies_nothing(secret: str) -> None:
    timestamp, sig = headers(secret=secret)
    assert verify(secret, timestamp, sig, BODY, now=NOW) is False


def test_the_signature_is_compared_in_constant_time() -> None:
    timestamp, sig = headers()
    with mock.patch.object(hmac, "compare_digest", wraps=hmac.compare_digest) as spy:
        assert verify(SECRET, timestamp, sig, BODY, now=NOW) is True
        assert verify(SECRET, timestamp, "v0=" + "0" * 64, BODY, now=NOW) is False
    assert spy.call_count == 2


# A blank secret signs nothing deskhand accepts (start-up refuses one anyway).
@given(
    secret=st.text(min_size=1).filter(str.strip), body=st.binary(), flip=st.integers(min_value=0)
)
def test_any_body_round_trips_and_any_changed_byte_is_refused(
    secret: str, body: bytes, flip: int
) -> None:
    timestamp, sig = headers(secret=secret, body=body)
    assert verify(secret, timestamp, sig, body, now=NOW)
    if body:
        index = flip % len(body)
        changed = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
        assert not verify(secret, timestamp, sig, changed, now=NOW)
