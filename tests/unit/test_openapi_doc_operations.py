"""docs/openapi.yaml is a valid OpenAPI 3.0 document: paths, security, responses, callbacks."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.support.openapi_doc import load_openapi, schema_errors


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded = load_openapi()
    assert isinstance(loaded, dict)
    return loaded


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
        "/webhooks/tickets/{system}": {"post"},
        "/webhooks/approvals": {"post"},
        "/api/approvals/{request_id}": {"get"},
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
    assert spec["paths"]["/webhooks/approvals"]["post"]["security"] == [both]
    assert spec["paths"]["/api/approvals/{request_id}"]["get"]["security"] == [both]
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
        assert schema_errors(spec, "Error", error["example"]) == []


def test_the_documents_own_examples_validate(spec: dict[str, Any]) -> None:
    assert schema_errors(spec, "Handoff", spec["components"]["examples"]["Handoff"]["value"]) == []
    messages = spec["paths"]["/webhooks/handoffs/{handoff_id}/messages"]["post"]
    body = messages["requestBody"]["content"]["application/json"]["example"]
    assert schema_errors(spec, "CustomerMessage", body) == []
    for path, schema in (
        ("/webhooks/handoffs", "HandoffAccepted"),
        ("/webhooks/handoffs/{handoff_id}/messages", "CustomerMessageAccepted"),
    ):
        for code in ("200", "202"):
            content = spec["paths"][path]["post"]["responses"][code]["content"]
            example = content["application/json"].get("example")
            if example is not None:
                assert schema_errors(spec, schema, example) == []


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
        assert schema_errors(spec, "ChatbotCallback", example["value"]) == [], name


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
    assert (schema_errors(spec, "ChatbotCallback", payload) == []) is valid
