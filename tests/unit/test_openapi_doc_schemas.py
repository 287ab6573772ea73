"""docs/openapi.yaml: its schemas match the public contract (handoffs, customer messages).

The limits pinned in `test_limits` are the numbers the webhook implementation enforces too;
change both together.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.openapi_doc import (
    CONTRACT_HANDOFF,
    MINIMAL_HANDOFF,
    load_openapi,
    schema_errors,
    with_value,
    without,
)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded = load_openapi()
    assert isinstance(loaded, dict)
    return loaded


def test_contract_example_handoff_validates(spec: dict[str, Any]) -> None:
    assert schema_errors(spec, "Handoff", CONTRACT_HANDOFF) == []


def test_minimal_handoff_validates(spec: dict[str, Any]) -> None:
    assert schema_errors(spec, "Handoff", MINIMAL_HANDOFF) == []


def test_handoff_extension_locale(spec: dict[str, Any]) -> None:
    locale = spec["components"]["schemas"]["Handoff"]["properties"]["locale"]
    assert locale["x-deskhand-extension"] is True
    for tag in ("en", "de", "pt-BR", "zh-Hant-TW"):
        assert schema_errors(spec, "Handoff", {**MINIMAL_HANDOFF, "locale": tag}) == [], tag
    for tag in ("", "e", "en_US", "en-"):
        assert schema_errors(spec, "Handoff", {**MINIMAL_HANDOFF, "locale": tag}), tag


@pytest.mark.parametrize(
    "field", ["handoff_id", "session_id", "customer", "reason", "summary", "transcript"]
)
def test_handoff_required_fields(spec: dict[str, Any], field: str) -> None:
    assert schema_errors(spec, "Handoff", without(CONTRACT_HANDOFF, field))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("handoff_id", ""),
        ("handoff_id", "sess 42"),
        ("handoff_id", "sess/42"),
        ("handoff_id", "a" * 201),
        ("session_id", ""),
        ("customer", {"name": "Ada"}),
        ("customer.email", "x" * 321),
        ("customer.name", "x" * 401),
        ("reason", "bored"),
        ("priority", "critical"),
        ("summary", ""),
        ("summary", "x" * 5001),
        ("intent", "x" * 1001),
        ("department", "x" * 201),
        ("transcript", [{"role": "customer", "text": "x"}] * 501),
        ("transcript.0.role", "agent"),
        ("transcript.0.text", "x" * 20001),
        ("transcript.0.at", "yesterday"),
        ("evidence", [{"title": "t"}] * 51),
        ("evidence.0.score", 1.5),
        ("evidence.0.score", -0.1),
        ("evidence.0.title", ""),
        ("evidence.0.url", "https://example.com/" + "x" * 2029),
        ("evidence.0.url", "ftp://example.com/kb"),
        ("evidence.0.title", "x" * 1001),
        ("suggested_questions", ["q"] * 21),
        ("suggested_questions", ["x" * 1001]),
    ],
)
def test_invalid_handoffs(spec: dict[str, Any], path: str, value: Any) -> None:
    assert schema_errors(spec, "Handoff", with_value(CONTRACT_HANDOFF, path, value))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("handoff_id", "a" * 200),
        ("handoff_id", "Sess.42:esc_1-A"),
        ("summary", "x" * 5000),
        ("transcript", [{"role": "bot", "text": "x"}] * 500),
        ("transcript.0.text", "x" * 20000),
        ("evidence", [{"title": "t"}] * 50),
        ("evidence.0.score", 0),
        ("evidence.0.score", 1),
        ("suggested_questions", ["q"] * 20),
        ("suggested_questions", ["x" * 1000]),
        ("intent", "x" * 1000),
        ("department", "x" * 200),
        ("customer.name", "x" * 400),
        ("customer.email", "not checked"),
        ("evidence.0.url", "https://example.com/" + "x" * 2028),
        ("evidence.0.url", "HTTP://example.com"),
        ("evidence.0.title", "x" * 1000),
    ],
)
def test_handoffs_at_the_limits(spec: dict[str, Any], path: str, value: Any) -> None:
    assert schema_errors(spec, "Handoff", with_value(CONTRACT_HANDOFF, path, value)) == []


def test_priority_defaults_to_normal(spec: dict[str, Any]) -> None:
    priority = spec["components"]["schemas"]["Handoff"]["properties"]["priority"]
    assert priority["default"] == "normal"
    assert priority["enum"] == ["low", "normal", "high", "urgent"]


@pytest.mark.parametrize(
    ("message", "valid"),
    [
        ({"message_id": "m-7", "text": "..."}, True),
        ({"message_id": "m-7", "text": "...", "at": "2025-03-14T09:31:00Z"}, True),
        ({"message_id": "m-7", "text": "x" * 20000}, True),
        ({"message_id": "m-7", "text": "x" * 20001}, False),
        ({"message_id": "m-7", "text": ""}, False),
        ({"message_id": "", "text": "..."}, False),
        ({"message_id": "m" * 201, "text": "..."}, False),
        ({"message_id": "m 7", "text": "..."}, False),
        ({"message_id": "m" * 200, "text": "..."}, True),
        ({"text": "..."}, False),
        ({"message_id": "m-7"}, False),
    ],
)
def test_customer_message(spec: dict[str, Any], message: dict[str, Any], valid: bool) -> None:
    assert (schema_errors(spec, "CustomerMessage", message) == []) is valid


def test_limits(spec: dict[str, Any]) -> None:
    """The numbers the implementation enforces; see docs/webhooks.md."""
    schemas = spec["components"]["schemas"]
    handoff = schemas["Handoff"]["properties"]
    assert schemas["HandoffId"]["maxLength"] == 200
    assert schemas["HandoffId"]["pattern"] == "^[A-Za-z0-9:_.-]{1,200}$"
    assert handoff["session_id"]["maxLength"] == 200
    assert handoff["summary"]["maxLength"] == 5000
    assert handoff["intent"]["maxLength"] == 1000
    assert handoff["department"]["maxLength"] == 200
    assert handoff["transcript"]["maxItems"] == 500
    assert schemas["TranscriptTurn"]["properties"]["text"]["maxLength"] == 20000
    assert handoff["evidence"]["maxItems"] == 50
    assert schemas["Evidence"]["properties"]["title"]["maxLength"] == 1000
    assert schemas["Evidence"]["properties"]["url"]["maxLength"] == 2048
    assert handoff["suggested_questions"]["maxItems"] == 20
    assert handoff["suggested_questions"]["items"]["maxLength"] == 1000
    assert handoff["locale"]["maxLength"] == 35
    customer = schemas["Customer"]["properties"]
    assert customer["id"]["maxLength"] == 200
    assert customer["name"]["maxLength"] == 400
    assert customer["email"]["maxLength"] == 320
    message = schemas["CustomerMessage"]["properties"]
    assert message["message_id"]["maxLength"] == 200
    assert message["message_id"]["pattern"] == "^[A-Za-z0-9:_.-]{1,200}$"
    assert message["text"]["maxLength"] == 20000
    assert "1048576" in spec["components"]["responses"]["PayloadTooLarge"]["description"]
