"""docs/openapi.yaml: a valid OpenAPI 3.0 document whose schemas match the public contract.

The limits pinned in `test_limits` are the numbers the webhook implementation enforces too;
change both together.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from openapi_spec_validator import validate

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"

# The contract's example handoff with every optional field filled in.
CONTRACT_HANDOFF: dict[str, Any] = {
    "handoff_id": "sess-42:esc-1",
    "session_id": "sess-42",
    "customer": {"id": "c-9", "name": "Ada", "email": "ada@example.com"},
    "reason": "no_evidence",
    "priority": "normal",
    "summary": "text",
    "intent": "text",
    "department": "billing",
    "transcript": [{"role": "customer", "text": "...", "at": "2025-03-14T09:28:00Z"}],
    "evidence": [
        {
            "title": "...",
            "url": "https://example.com/kb/1",
            "score": 0.82,
            "retrieved_at": "2025-03-14T09:28:03+01:00",
        }
    ],
    "suggested_questions": ["..."],
}

MINIMAL_HANDOFF: dict[str, Any] = {
    "handoff_id": "h1",
    "session_id": "s1",
    "customer": {"id": "c1"},
    "reason": "other",
    "summary": "s",
    "transcript": [],
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _validator(spec: dict[str, Any], name: str) -> OAS30Validator:
    root = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return OAS30Validator(root, format_checker=oas30_format_checker)


def _errors(spec: dict[str, Any], name: str, instance: Any) -> list[str]:
    return [error.message for error in _validator(spec, name).iter_errors(instance)]


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `base` with the dotted `path` set to `value` (list indexes as digits)."""
    result = copy.deepcopy(base)
    node: Any = result
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return result


def _without(base: dict[str, Any], key: str) -> dict[str, Any]:
    result = copy.deepcopy(base)
    del result[key]
    return result


def _callback_operation(spec: dict[str, Any]) -> dict[str, Any]:
    (path_item,) = spec["components"]["callbacks"]["Chatbot"].values()
    operation = path_item["post"]
    assert isinstance(operation, dict)
    return operation


def test_document_is_valid_openapi_3_0(spec: dict[str, Any]) -> None:
    assert spec["openapi"] == "3.0.3"
    validate(spec)


def test_paths_and_methods(spec: dict[str, Any]) -> None:
    assert {path: set(item) - {"parameters"} for path, item in spec["paths"].items()} == {
        "/webhooks/handoffs": {"post"},
        "/webhooks/handoffs/{handoff_id}/messages": {"post"},
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/metrics": {"get"},
    }
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_signature_security_schemes(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    headers = {(s["type"], s["in"], s["name"]) for s in schemes.values()}
    assert headers == {
        ("apiKey", "header", "X-Deskhand-Request-Timestamp"),
        ("apiKey", "header", "X-Deskhand-Signature"),
    }
    both: dict[str, list[str]] = {name: [] for name in schemes}
    for path in ("/webhooks/handoffs", "/webhooks/handoffs/{handoff_id}/messages"):
        assert spec["paths"][path]["post"]["security"] == [both]
    for path in ("/healthz", "/readyz", "/metrics"):
        assert spec["paths"][path]["get"]["security"] == []


@pytest.mark.parametrize(
    ("path", "codes"),
    [
        ("/webhooks/handoffs", {"200", "202", "401", "413", "415", "422"}),
        (
            "/webhooks/handoffs/{handoff_id}/messages",
            {"200", "202", "401", "404", "409", "413", "415", "422"},
        ),
    ],
)
def test_webhook_responses(spec: dict[str, Any], path: str, codes: set[str]) -> None:
    responses = spec["paths"][path]["post"]["responses"]
    assert set(responses) == codes
    for code in codes - {"200", "202"}:
        ref = responses[code]["$ref"].rsplit("/", 1)[-1]
        error = spec["components"]["responses"][ref]["content"]["application/json"]
        assert error["schema"] == {"$ref": "#/components/schemas/Error"}
        assert _errors(spec, "Error", error["example"]) == []


def test_contract_example_handoff_validates(spec: dict[str, Any]) -> None:
    assert _errors(spec, "Handoff", CONTRACT_HANDOFF) == []


def test_minimal_handoff_validates(spec: dict[str, Any]) -> None:
    assert _errors(spec, "Handoff", MINIMAL_HANDOFF) == []


def test_the_documents_own_examples_validate(spec: dict[str, Any]) -> None:
    assert _errors(spec, "Handoff", spec["components"]["examples"]["Handoff"]["value"]) == []
    messages = spec["paths"]["/webhooks/handoffs/{handoff_id}/messages"]["post"]
    body = messages["requestBody"]["content"]["application/json"]["example"]
    assert _errors(spec, "CustomerMessage", body) == []
    for path, schema in (
        ("/webhooks/handoffs", "HandoffAccepted"),
        ("/webhooks/handoffs/{handoff_id}/messages", "CustomerMessageAccepted"),
    ):
        for code in ("200", "202"):
            content = spec["paths"][path]["post"]["responses"][code]["content"]
            example = content["application/json"].get("example")
            if example is not None:
                assert _errors(spec, schema, example) == []


def test_handoff_extension_locale(spec: dict[str, Any]) -> None:
    locale = spec["components"]["schemas"]["Handoff"]["properties"]["locale"]
    assert locale["x-deskhand-extension"] is True
    for tag in ("en", "de", "pt-BR", "zh-Hant-TW"):
        assert _errors(spec, "Handoff", {**MINIMAL_HANDOFF, "locale": tag}) == [], tag
    for tag in ("", "e", "en_US", "en-"):
        assert _errors(spec, "Handoff", {**MINIMAL_HANDOFF, "locale": tag}), tag


@pytest.mark.parametrize(
    "field", ["handoff_id", "session_id", "customer", "reason", "summary", "transcript"]
)
def test_handoff_required_fields(spec: dict[str, Any], field: str) -> None:
    assert _errors(spec, "Handoff", _without(CONTRACT_HANDOFF, field))


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
    assert _errors(spec, "Handoff", _with(CONTRACT_HANDOFF, path, value))


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
    assert _errors(spec, "Handoff", _with(CONTRACT_HANDOFF, path, value)) == []


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
    assert (_errors(spec, "CustomerMessage", message) == []) is valid


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


def test_callbacks_are_documented(spec: dict[str, Any]) -> None:
    for path in ("/webhooks/handoffs", "/webhooks/handoffs/{handoff_id}/messages"):
        callbacks = spec["paths"][path]["post"]["callbacks"]
        assert callbacks == {"chatbot": {"$ref": "#/components/callbacks/Chatbot"}}
    operation = _callback_operation(spec)
    headers = set()
    for parameter in operation["parameters"]:
        resolved = spec["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]
        assert resolved["in"] == "header"
        assert resolved["required"] is True
        headers.add(resolved["name"])
    assert headers == {
        "Idempotency-Key",
        "X-Deskhand-Request-Timestamp",
        "X-Deskhand-Signature",
    }
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    for name, example in examples.items():
        assert _errors(spec, "ChatbotCallback", example["value"]) == [], name


def test_callback_payloads_match_the_contract(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    agent_message = schemas["AgentMessageCallback"]
    assert set(agent_message["required"]) == {
        "type",
        "handoff_id",
        "session_id",
        "message_id",
        "text",
        "agent",
    }
    assert set(agent_message["properties"]) == set(agent_message["required"])
    status = schemas["HandoffStatusCallback"]
    assert set(status["required"]) == {"type", "handoff_id", "session_id", "status", "message"}
    assert set(status["properties"]) == set(status["required"]) | {
        "agent",
        "queue_position",
        "estimated_wait_seconds",
        "ticket",
    }
    assert status["properties"]["status"]["enum"] == [
        "queued",
        "claimed",
        "released",
        "resolved",
        "returned_to_bot",
    ]
    assert set(schemas["Agent"]["required"]) == {"id", "name"}
    assert set(schemas["Ticket"]["properties"]) == {"system", "id", "url", "offline_reference"}
    assert schemas["Ticket"]["required"] == ["system"]


@pytest.mark.parametrize(
    ("payload", "valid"),
    [
        (
            {
                "type": "handoff_status",
                "handoff_id": "h1",
                "session_id": "s1",
                "status": "returned_to_bot",
                "message": "The assistant is back.",
            },
            True,
        ),
        (
            {
                "type": "handoff_status",
                "handoff_id": "h1",
                "session_id": "s1",
                "status": "queued",
                "queue_position": 0,
                "message": "...",
            },
            False,
        ),
        (
            {
                "type": "handoff_status",
                "handoff_id": "h1",
                "session_id": "s1",
                "status": "escalated",
                "message": "...",
            },
            False,
        ),
        (
            {
                "type": "agent_message",
                "handoff_id": "h1",
                "session_id": "s1",
                "message_id": "a1",
                "text": "Hello",
            },
            False,
        ),
        ({"type": "approval_decision", "request_id": "apr-1", "status": "approved"}, False),
    ],
)
def test_callback_payloads(spec: dict[str, Any], payload: dict[str, Any], valid: bool) -> None:
    assert (_errors(spec, "ChatbotCallback", payload) == []) is valid
