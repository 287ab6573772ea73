"""Start-up refuses placeholder and weak secrets, in one line naming the variable and the
reason, never the value (docs/configuration.md, "Secrets")."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from bot import cli
from bot.config import ConfigError, Settings, load_settings
from bot.demo.runner import Demo
from bot.secrets_policy import (
    MIN_DISTINCT_CHARACTERS,
    MIN_SHARED_SECRET_LENGTH,
    SECRET_RULES,
    SecretKind,
    secret_problem,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"

SHARED = [
    "SLACK_SIGNING_SECRET",
    "DESKHAND_WEBHOOK_SECRET",
    "ZENDESK_WEBHOOK_SECRET",
    "INTERCOM_CLIENT_SECRET",
    "CUSTOM_TICKETING_WEBHOOK_SECRET",
    "DESKHAND_ALERTMANAGER_TOKEN",
]
# Each credential with a value of its own shape, to build placeholders on.
PREFIXES = {
    "SLACK_BOT_TOKEN": "xoxb-",
    "SLACK_APP_TOKEN": "xapp-",
    "STRIPE_API_KEY": "sk_live_",
    "ZENDESK_API_TOKEN": "",
    "INTERCOM_ACCESS_TOKEN": "",
    "CUSTOM_TICKETING_TOKEN": "",
}
GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-1000000001-2000000002-Zq8rT2vLk9WmXc4bN7pYd3sH",
    "SLACK_APP_TOKEN": "xapp-1-A0000000001-3000000003-4f9c1e7a2b8d6c3e5f0a1b2c3d4e5f6a",
    "STRIPE_API_KEY": "sk_live_51Hx7QkL2mN9pR4tV8wY3zB6cD1fG5hJ",
    "ZENDESK_API_TOKEN": "Wq3eR7tY1uI5oP9aS2dF6gH0jK4lZ8xC3vB7nM1q",
    "INTERCOM_ACCESS_TOKEN": "dG9rOjk4NzY1NDMyXzEyMzRfYWJjZGVmOjE6MA==",
    "CUSTOM_TICKETING_TOKEN": "c2f0a9e8d7b6c5a4f3e2d1c0b9a8f7e6",
} | {variable: secrets.token_hex(16) for variable in SHARED}
PLACEHOLDERS = [
    "changeme",
    "change-me-before-going-live-please-0123456789",
    "secret",
    "my-super-secret-value-that-is-very-long-1234",
    "password",
    "example-8f3a9c2e7d1b4f6a0c5e9d2b7a4f1c8e",
    "your-signing-secret-goes-here-0123456789",
    "<your signing secret from the Basic Information page>",
    "${SLACK_SIGNING_SECRET_FROM_THE_VAULT_0123456789}",
    "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    "test",
    "test-1f3c5a7e9b2d4f6a8c0e1f3a5c7e9b2d",
    "dummy-1f3c5a7e9b2d4f6a8c0e1f3a5c7e9b2d",
    "replace-me-1f3c5a7e9b2d4f6a8c0e1f3a5c7e9b2d",
    "REPLACE_ME_WITH_A_REAL_ONE_1f3c5a7e9b2d4f6a8c",
    "placeholder-1f3c5a7e9b2d4f6a8c0e1f3a5c7e9b2d",
    "8f742231b10e8888abcd99yyyzzz85a5",  # the signing secret in Slack's documentation
]
ALL_VARIABLES = [*SHARED, *PREFIXES]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No deskhand, Slack or vendor variables from the outer environment, no stray .env."""
    prefixes = ("DESKHAND_", "SLACK_", "ZENDESK_", "INTERCOM_", "CUSTOM_", "STRIPE_")
    for name in list(os.environ):
        if name.startswith(prefixes) and name != "DESKHAND_TEST_DATABASES":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


# What each variable needs beside it to be accepted (a bot token needs a signing secret).
COMPANIONS: dict[str, dict[str, str]] = {
    "SLACK_BOT_TOKEN": {"SLACK_SIGNING_SECRET": GOOD["SLACK_SIGNING_SECRET"]}
}


def _load(variable: str, value: str) -> Settings:
    return load_settings(**COMPANIONS.get(variable, {}), **{variable: value})


def _refusal(variable: str, value: str) -> str:
    with pytest.raises(ConfigError) as refused:
        _load(variable, value)
    return str(refused.value)


def _assert_one_line_naming(message: str, variable: str, value: str) -> None:
    assert message.startswith(f"invalid configuration: {variable}: "), message
    assert "\n" not in message
    assert value not in message


def _shaped(variable: str, value: str) -> str:
    """``value`` behind the prefix the variable's tokens carry, so the prefix rule passes."""
    return PREFIXES.get(variable, "") + value


@pytest.mark.parametrize("variable", ALL_VARIABLES)
def test_a_good_value_is_accepted_and_kept_secret(variable: str) -> None:
    settings = _load(variable, GOOD[variable])
    held = getattr(settings, _field(variable))
    assert isinstance(held, SecretStr)
    assert held.get_secret_value() == GOOD[variable]
    assert GOOD[variable] not in repr(settings) + settings.model_dump_json()


@pytest.mark.parametrize("variable", ALL_VARIABLES)
@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_a_placeholder_is_refused(variable: str, placeholder: str) -> None:
    value = _shaped(variable, placeholder)
    message = _refusal(variable, value)
    _assert_one_line_naming(message, variable, value)
    assert "placeholder" in message or "too short" in message


@pytest.mark.parametrize("variable", ALL_VARIABLES)
@pytest.mark.parametrize("blank", ["", "   "])
def test_an_empty_value_is_refused(variable: str, blank: str) -> None:
    message = _refusal(variable, blank)
    assert message == (
        f"invalid configuration: {variable}: is empty: unset it or give it a real value"
    )


@pytest.mark.parametrize("variable", ALL_VARIABLES)
def test_too_few_different_characters_are_refused(variable: str) -> None:
    value = _shaped(variable, "ab12" * 12)  # 48 characters, 4 different ones
    message = _refusal(variable, value)
    _assert_one_line_naming(message, variable, value)
    assert f"fewer than {MIN_DISTINCT_CHARACTERS} different characters" in message


@pytest.mark.parametrize("variable", SHARED)
def test_a_shared_secret_needs_32_characters(variable: str) -> None:
    short = secrets.token_hex(16)[: MIN_SHARED_SECRET_LENGTH - 1]
    message = _refusal(variable, short)
    _assert_one_line_naming(message, variable, short)
    assert f"at least {MIN_SHARED_SECRET_LENGTH} characters" in message
    exact = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert len(exact) == MIN_SHARED_SECRET_LENGTH
    assert _load(variable, exact) is not None


@pytest.mark.parametrize(
    ("variable", "value", "shape"),
    [
        ("SLACK_BOT_TOKEN", "xoxp-1000000001-2000000002-Zq8rT2vLk9WmXc4bN7pYd3sH", "xoxb-"),
        ("SLACK_BOT_TOKEN", "1000000001-2000000002-Zq8rT2vLk9WmXc4bN7pYd3sH", "xoxb-"),
        ("SLACK_APP_TOKEN", GOOD["SLACK_BOT_TOKEN"], "xapp-"),  # the bot token, by mistake
        ("STRIPE_API_KEY", "pk_live_51Hx7QkL2mN9pR4tV8wY3zB6cD1fG5hJ", "sk_ or rk_"),
        ("STRIPE_API_KEY", "51Hx7QkL2mN9pR4tV8wY3zB6cD1fG5hJ", "sk_ or rk_"),
    ],
)
def test_a_token_of_the_wrong_kind_is_refused(variable: str, value: str, shape: str) -> None:
    message = _refusal(variable, value)
    _assert_one_line_naming(message, variable, value)
    assert f"must start with {shape}" in message


@pytest.mark.parametrize(
    "key",
    ["sk_test_51Hx7QkL2mN9pR4tV8wY3zB6cD1fG5hJ", "rk_live_51Hx7QkL2mN9pR4tV8wY3zB6cD1fG5hJ"],
)
def test_stripe_test_mode_and_restricted_keys_are_accepted(key: str) -> None:
    settings = load_settings(STRIPE_API_KEY=key)
    assert settings.stripe_api_key is not None


def test_the_environment_is_checked_too(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DESKHAND_WEBHOOK_SECRET", "changeme")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    _assert_one_line_naming(message, "DESKHAND_WEBHOOK_SECRET", "changeme")
    Path(".env").write_text("DESKHAND_WEBHOOK_SECRET=" + GOOD["DESKHAND_WEBHOOK_SECRET"] + "\n")
    clean_env.delenv("DESKHAND_WEBHOOK_SECRET")
    held = load_settings().webhook_secret
    assert held is not None and held.get_secret_value() == GOOD["DESKHAND_WEBHOOK_SECRET"]


def test_start_up_prints_one_line_and_stops(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    weak = "your-webhook-secret-0123456789abcdef"
    clean_env.setenv("DESKHAND_WEBHOOK_SECRET", weak)
    assert cli.main(["db", "upgrade"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("deskhand: invalid configuration: DESKHAND_WEBHOOK_SECRET: ")
    assert weak not in captured.err


def test_a_validation_error_never_echoes_the_value() -> None:
    """Settings built directly (not through load_settings) keep the value out, too."""
    weak = "changeme-but-nobody-did-0123456789"
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate({"SLACK_SIGNING_SECRET": weak})
    assert weak not in str(refused.value) + repr(refused.value)


@settings(max_examples=200, deadline=None)
@given(
    variable=st.sampled_from(sorted(SECRET_RULES)),
    value=st.text(min_size=16, max_size=80),
)
def test_a_refusal_never_contains_the_value(variable: str, value: str) -> None:
    problem = secret_problem(variable, value)
    assert problem is None or value not in problem


@settings(max_examples=100, deadline=None)
@given(
    variable=st.sampled_from(sorted(SECRET_RULES)),
    raw=st.binary(min_size=MIN_SHARED_SECRET_LENGTH // 2, max_size=64),
)
def test_a_generated_value_is_always_accepted(variable: str, raw: bytes) -> None:
    """What `openssl rand -hex` makes passes every rule, behind the right prefix."""
    rule = SECRET_RULES[variable]
    generated = (rule.prefixes[0] if rule.prefixes else "") + raw.hex()
    assume(len(set(raw.hex())) >= MIN_DISTINCT_CHARACTERS)  # 16 random bytes: all but always
    assert secret_problem(variable, generated) is None


def test_every_secret_setting_has_a_rule() -> None:
    secret_fields = {
        name
        for name, field in Settings.model_fields.items()
        if SecretStr in get_args(field.annotation) or field.annotation is SecretStr
    }
    assert secret_fields == set(SECRET_RULES)
    aliases = {Settings.model_fields[name].alias for name in SECRET_RULES}
    assert aliases == set(ALL_VARIABLES)
    shared = {name for name, rule in SECRET_RULES.items() if rule.kind is SecretKind.SHARED}
    assert {Settings.model_fields[name].alias for name in shared} == set(SHARED)


def test_the_rule_is_documented() -> None:
    section = DOCS.read_text(encoding="utf-8").split("## Secrets", 1)[1].split("\n## ", 1)[0]
    assert f"{MIN_SHARED_SECRET_LENGTH} characters" in section
    assert f"{MIN_DISTINCT_CHARACTERS} different characters" in section
    for variable in ALL_VARIABLES:
        assert f"`{variable}`" in section, variable


def _field(variable: str) -> str:
    by_alias: dict[str | None, Any] = {f.alias: n for n, f in Settings.model_fields.items()}
    return str(by_alias[variable])


def test_the_demo_makes_secrets_the_rule_accepts() -> None:
    """`deskhand run` without Slack credentials builds Settings from generated values."""
    demo = Demo(say=lambda _line: None)
    generated = {
        "slack_bot_token": demo.bot_token,
        "slack_signing_secret": demo.slack_secret,
        "webhook_secret": demo.webhook_secret,
    }
    for field, value in generated.items():
        assert secret_problem(field, value) is None, field
