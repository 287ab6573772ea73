"""The Intercom stand-in's reading of the spec: request checking with openapi-core, and
what the search endpoints' query filters mean.

The spec is ``tests/specs/intercom_api_2.16.trimmed.yaml`` (Intercom's 2.16 description,
trimmed; ``tests/specs/README.md``). It has ``POST /tickets/search`` as upstream 2.16 has it
(operationId ``searchTickets``, body ``search_request``), so ticket searches are checked
like every other request.
"""

from __future__ import annotations

import functools
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
    return Path(__file__).resolve().parent.parent / "specs" / SPEC_FILE


@functools.cache
def openapi() -> OpenAPI:
    return OpenAPI.from_dict(yaml.safe_load(spec_path().read_text(encoding="utf-8")))


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
