"""The Intercom stand-in's reading of the spec: request checking with openapi-core, and
what the search endpoints' query filters mean.

The trimmed spec (``shared/specs/intercom_api_2.16.trimmed.yaml``) lacks
``POST /tickets/search``, which the upstream 2.16 description has (operationId
``searchTickets``, body ``search_request``: ``query`` as a single or multiple filter,
optional ``pagination``). It is added here as upstream has it, marked
``x-deskhand-added``, and checked like the rest.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters

SPEC_FILE = "intercom_api_2.16.trimmed.yaml"
Json = dict[str, Any]


def spec_path() -> Path:
    """$DESKHAND_SPECS_DIR, else ``shared/specs`` beside the repository (as slack_spec.py)."""
    specs_dir = os.environ.get("DESKHAND_SPECS_DIR")
    if specs_dir:
        return Path(specs_dir) / SPEC_FILE
    return Path(__file__).resolve().parents[3] / "shared" / "specs" / SPEC_FILE


@functools.cache
def openapi() -> OpenAPI:
    spec = yaml.safe_load(spec_path().read_text())
    filters = [
        {"$ref": "#/components/schemas/single_filter_search_request"},
        {"$ref": "#/components/schemas/multiple_filter_search_request"},
    ]
    search_request = {
        "type": "object",
        "properties": {
            "query": {"oneOf": filters},
            "pagination": {"$ref": "#/components/schemas/starting_after_paging"},
        },
        "required": ["query"],
    }
    version = spec["paths"]["/tickets"]["post"]["parameters"][0]
    spec["paths"]["/tickets/search"] = {
        "post": {
            "operationId": "searchTickets",
            "x-deskhand-added": "from upstream descriptions/2.16/api.intercom.io.yaml",
            "parameters": [version],
            "requestBody": {"content": {"application/json": {"schema": search_request}}},
            "responses": {"200": {"description": "successful"}},
        }
    }
    return OpenAPI.from_dict(spec)


class SpecRequest:
    """An aiohttp request as openapi-core sees it, on the spec's own server URL."""

    def __init__(self, request: web.Request, body: bytes | None) -> None:
        self.host_url = "https://api.intercom.io"
        self.path = request.path
        self.method = request.method.lower()
        self.body = body
        self.content_type = request.content_type
        self.parameters = RequestParameters(
            query=request.query, header=request.headers, cookie=request.cookies
        )


def matches(query: Json, get: Callable[[str], Any]) -> bool:
    if query.get("operator") in ("AND", "OR"):
        results = [matches(q, get) for q in query["value"]]
        return all(results) if query["operator"] == "AND" else any(results)
    value, operator = get(query["field"]), str(query["operator"])
    wanted: Any = query.get("value")
    values = value if isinstance(value, list) else [value]
    if operator in ("=", "!="):
        return bool((wanted in values) == (operator == "="))
    if operator in ("IN", "NIN"):
        found = bool({str(v) for v in values} & {str(w) for w in wanted or []})
        return found == (operator == "IN")
    text, needle = str(value or "").lower(), str(wanted).lower()
    checks = {"~": needle in text, "!~": needle not in text}
    checks |= {"^": text.startswith(needle), "$": text.endswith(needle)}
    if operator not in checks:
        raise ValueError(f"operator {operator} does not apply to {query['field']}")
    return checks[operator]
