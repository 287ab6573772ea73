"""The approval request as the contract describes it, and the decision sent back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from bot.approvals.payloads import (
    MAX_AMOUNT_MINOR,
    ApprovalIn,
    ApprovalStatus,
    DecisionCallbackOut,
    DecisionOut,
)


def example() -> dict[str, Any]:
    """The contract's example, with its placeholders filled in."""
    return {
        "request_id": "apr-1",
        "action": "refund",
        "requested_by": "billing-agent",
        "handoff_id": "sess-42:esc-1",
        "customer": {"id": "c-9", "email": "ada@example.com"},
        "params": {
            "payment_id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
            "amount_minor": 1250,
            "currency": "usd",
            "reason": "duplicate",
        },
        "justification": "Charged twice for order 1042.",
    }


def with_(path: str, value: Any) -> dict[str, Any]:
    body = example()
    *parents, leaf = path.split(".")
    target = body
    for key in parents:
        target = target[key]
    target[leaf] = value
    return body


def test_contract_example_validates_from_json() -> None:
    request = ApprovalIn.model_validate_json(json.dumps(example()))
    assert request.params.amount_minor == 1250
    assert request.params.currency == "usd"
    assert request.customer.email == "ada@example.com"


def test_minimal_request() -> None:
    body = example()
    del body["handoff_id"], body["customer"]["email"]
    request = ApprovalIn.model_validate(body)
    assert request.handoff_id is None and request.customer.email is None


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("params.payment_id", "ch_1Abc"),
        ("params.currency", "jpy"),
        ("params.currency", "kwd"),
        ("params.reason", "fraudulent"),
        ("params.reason", "requested_by_customer"),
        ("params.amount_minor", 1),
        ("params.amount_minor", MAX_AMOUNT_MINOR),
        ("request_id", "a" * 200),
        ("justification", "x" * 5_000),
        ("requested_by", "r" * 200),
    ],
)
def test_valid_variants_and_limits(path: str, value: Any) -> None:
    ApprovalIn.model_validate_json(json.dumps(with_(path, value)))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("params.amount_minor", 12.5),
        ("params.amount_minor", 1250.0),
        ("params.amount_minor", "12.5"),
        ("params.amount_minor", "1250"),
        ("params.amount_minor", True),
        ("params.amount_minor", None),
        ("params.amount_minor", 0),
        ("params.amount_minor", -1250),
        ("params.amount_minor", MAX_AMOUNT_MINOR + 1),
        ("params.currency", "xxx"),
        ("params.currency", "abc"),
        ("params.currency", "USD"),
        ("params.currency", "us"),
        ("params.currency", "clf"),
        ("params.payment_id", "re_123"),
        ("params.payment_id", "pi_"),
        ("params.payment_id", "pi_abc def"),
        ("params.payment_id", "pi_abc\n"),
        ("params.payment_id", "PI_abc"),
        ("params.payment_id", "pi_" + "a" * 253),
        ("params.reason", "because"),
        ("action", "delete_account"),
        ("request_id", ""),
        ("request_id", "a b"),
        ("request_id", "a" * 201),
        ("handoff_id", "x/y"),
        ("requested_by", ""),
        ("requested_by", "r" * 201),
        ("justification", ""),
        ("justification", "   \n"),
        ("justification", "x" * 5_001),
        ("justification", 42),
        ("customer.id", ""),
        ("customer.email", "e" * 321),
    ],
)
def test_invalid_requests(path: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        ApprovalIn.model_validate_json(json.dumps(with_(path, value)))


@pytest.mark.parametrize(
    "field", ["request_id", "action", "requested_by", "customer", "params", "justification"]
)
def test_required_fields(field: str) -> None:
    body = example()
    del body[field]
    with pytest.raises(ValidationError):
        ApprovalIn.model_validate(body)


@pytest.mark.parametrize("field", ["payment_id", "amount_minor", "currency", "reason"])
def test_required_params(field: str) -> None:
    body = example()
    del body["params"][field]
    with pytest.raises(ValidationError):
        ApprovalIn.model_validate(body)


def test_unknown_top_level_and_customer_fields_are_ignored() -> None:
    body = with_("priority", "high")
    body["customer"]["name"] = "Ada"
    request = ApprovalIn.model_validate(body)
    assert "priority" not in request.model_dump()


@pytest.mark.parametrize("extra", ["amount", "refund_application_fee", "metadata"])
def test_unknown_params_are_refused(extra: str) -> None:
    with pytest.raises(ValidationError):
        ApprovalIn.model_validate(with_(f"params.{extra}", 1))


def test_statuses_match_the_contract() -> None:
    assert [s.value for s in ApprovalStatus] == [
        "pending", "approved", "rejected", "executed", "failed", "expired"
    ]  # fmt: skip


def test_decision_body_omits_what_is_unset() -> None:
    assert DecisionOut(request_id="apr-1", status=ApprovalStatus.PENDING).to_json() == {
        "request_id": "apr-1",
        "status": "pending",
    }


def test_decision_callback_body() -> None:
    body = DecisionCallbackOut(
        request_id="apr-1",
        status=ApprovalStatus.EXECUTED,
        decided_by="U123",
        decision_reason="duplicate confirmed",
        result={"refund_id": "re_1", "amount_minor": 1250, "currency": "usd"},
    ).to_json()
    assert body == {
        "type": "approval_decision",
        "request_id": "apr-1",
        "status": "executed",
        "decided_by": "U123",
        "decision_reason": "duplicate confirmed",
        "result": {"refund_id": "re_1", "amount_minor": 1250, "currency": "usd"},
    }
    assert json.loads(json.dumps(body)) == body


def test_decision_refuses_unknown_status() -> None:
    with pytest.raises(ValidationError):
        DecisionOut(request_id="apr-1", status="maybe")  # type: ignore[arg-type]
