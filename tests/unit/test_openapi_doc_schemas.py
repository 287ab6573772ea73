"""docs/openapi.yaml: its schemas match the public contract (handoffs, customer messages).

The limits pinned in `test_limits` are the numbers the webhook implementation enforces too;
change both together. `test_every_text_field_documents_the_models_maximum` checks every
string of every request schema against the pydantic model that parses it.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from bot.approvals.payloads import ApprovalIn
from bot.handoffs.payloads import CustomerMessageIn, HandoffIn
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


# Each request body's schema, and the model that parses it.
REQUEST_MODELS: list[tuple[str, type[BaseModel]]] = [
    ("Handoff", HandoffIn),
    ("CustomerMessage", CustomerMessageIn),
    ("ApprovalRequest", ApprovalIn),
]


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a ``$ref`` (``#/components/schemas/X`` or pydantic's ``#/$defs/X``), and
    unwrap an optional (``anyOf`` with null) to the schema it allows."""
    while True:
        if "$ref" in schema:
            node: Any = root
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node[part]
            schema = node
        elif "anyOf" in schema:
            (schema,) = [s for s in schema["anyOf"] if s.get("type") != "null"]
        else:
            return schema


def _strings(
    doc: dict[str, Any],
    model: dict[str, Any],
    roots: tuple[dict[str, Any], dict[str, Any]],
    where: str,
) -> list[tuple[str, Any, Any]]:
    """(path, documented maxLength, model's maxLength) for every string in ``doc``;
    ``roots``: the OpenAPI document and the model's JSON schema, for their references."""
    doc, model = _resolve(doc, roots[0]), _resolve(model, roots[1])
    found: list[tuple[str, Any, Any]] = []
    if doc.get("type") == "string":
        bounded_otherwise = "enum" in doc or doc.get("format") == "date-time"
        if not bounded_otherwise:
            found.append((where, doc.get("maxLength"), model.get("maxLength")))
    for name, prop in (doc.get("properties") or {}).items():
        assert name in model.get("properties", {}), f"{where}.{name} is not in the model"
        found += _strings(prop, model["properties"][name], roots, f"{where}.{name}")
    if "items" in doc:
        found += _strings(doc["items"], model["items"], roots, f"{where}[]")
    return found


@pytest.mark.parametrize(("name", "model"), REQUEST_MODELS)
def test_every_text_field_documents_the_models_maximum(
    spec: dict[str, Any], name: str, model: type[BaseModel]
) -> None:
    doc = spec["components"]["schemas"][name]
    strings = _strings(doc, model.model_json_schema(), (spec, model.model_json_schema()), name)
    assert len(strings) >= 2, strings  # the walk reached the fields
    for path, documented, enforced in strings:
        assert documented is not None, f"{path} has no maxLength in docs/openapi.yaml"
        assert documented == enforced, f"{path}: documented {documented}, enforced {enforced}"


def test_path_ids_are_bounded(spec: dict[str, Any]) -> None:
    for schema in ("HandoffId", "ApprovalRequestId"):
        assert spec["components"]["schemas"][schema]["maxLength"] == 200
