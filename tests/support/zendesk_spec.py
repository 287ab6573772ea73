"""Check requests to the Zendesk stand-in against Zendesk's published OpenAPI document.

The document is ``shared/specs/zendesk_support_oas.trimmed.yaml`` (see
``shared/specs/README.md``, "Zendesk"). Request validation only, with openapi-core.
Deviations from the file, each because Zendesk itself behaves differently:

* ``TicketUpdateInput.assignee_id`` is made nullable: ``"assignee_id": null`` is how
  Zendesk unassigns a ticket, but the trimmed file types it as a plain integer.
* Undeclared query parameters are allowed (the README: pagination and ``sort_order`` are
  not declared on the kept operations); openapi-core ignores them already.
* Requests are matched as if sent to the spec's default server (``example.zendesk.com``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters

SPEC_FILE = "zendesk_support_oas.trimmed.yaml"
SPEC_HOST = "https://example.zendesk.com"


def default_spec_path() -> Path:
    specs_dir = os.environ.get("DESKHAND_SPECS_DIR")
    if specs_dir:
        return Path(specs_dir) / SPEC_FILE
    return Path(__file__).resolve().parents[2].parent / "shared" / "specs" / SPEC_FILE


@functools.cache
def load_spec(path: Path | None = None) -> OpenAPI:
    with (path or default_spec_path()).open(encoding="utf-8") as fh:
        document = yaml.safe_load(fh)
    update = document["components"]["schemas"]["TicketUpdateInput"]["properties"]
    update["assignee_id"]["nullable"] = True
    return OpenAPI.from_dict(document)


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
