"""Check requests to the Zendesk stand-in against deskhand's own Zendesk API document.

The document is ``tests/specs/zendesk_support.deskhand.yaml``, written by the deskhand
authors from Zendesk's public API reference (Zendesk's published document states no licence,
so it is not copied; ``tests/specs/README.md``). Request validation only, with openapi-core.
What Zendesk does beyond its own document is in ours, marked ``x-deskhand-beyond-upstream``
(``sort_order``, audit ``metadata``, ``skip_verify_email``) or ``x-deskhand-note``
(``"assignee_id": null`` unassigns). Undeclared query parameters are allowed (openapi-core
ignores them); requests are matched as if sent to ``example.zendesk.com``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters

SPEC_FILE = "zendesk_support.deskhand.yaml"
SPEC_HOST = "https://example.zendesk.com"


def default_spec_path() -> Path:
    return Path(__file__).resolve().parent.parent / "specs" / SPEC_FILE


@functools.cache
def load_spec(path: Path | None = None) -> OpenAPI:
    with (path or default_spec_path()).open(encoding="utf-8") as fh:
        return OpenAPI.from_dict(yaml.safe_load(fh))


@dataclass
class _Request:
    """openapi-core's Request protocol for an aiohttp request whose body was read."""

    method: str
    path: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters = field(default_factory=RequestParameters)
    host_url: str = SPEC_HOST


def problems(request: web.Request, body: bytes) -> list[str]:
    """What is wrong with ``request`` according to the spec (empty: nothing)."""
    wrapped = _Request(
        method=request.method.lower(),
        path=request.path,
        body=body or None,
        content_type=request.content_type if body else "",
        parameters=RequestParameters(query=request.query, header=request.headers, cookie={}),
    )
    try:
        load_spec().validate_request(wrapped)
    except Exception as exc:  # openapi-core raises a family of validation errors
        return [_describe(exc)]
    return []


def _describe(exc: Exception) -> str:
    cause: Any = exc.__cause__
    details = [getattr(e, "message", str(e)) for e in getattr(cause, "schema_errors", ()) or ()]
    head = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return head + (f" ({'; '.join(details)[:400]})" if details else "")
