"""Shared pieces of the docs/openapi.yaml tests: the document, sample handoffs, validation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

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


def load_openapi() -> Any:
    """docs/openapi.yaml, parsed."""
    return yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))


def _validator(spec: dict[str, Any], name: str) -> OAS30Validator:
    root = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return OAS30Validator(root, format_checker=oas30_format_checker)


def schema_errors(spec: dict[str, Any], name: str, instance: Any) -> list[str]:
    return [error.message for error in _validator(spec, name).iter_errors(instance)]


def with_value(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
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


def without(base: dict[str, Any], key: str) -> dict[str, Any]:
    result = copy.deepcopy(base)
    del result[key]
    return result
