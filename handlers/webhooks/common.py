"""What every deskhand-signed webhook shares: size cap, signature, JSON, JSON errors.

Checks run cheapest-first and nothing is stored before all of them pass.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, SecretStr, ValidationError

from bot.clock import Clock
from bot.errors import DeskhandError
from bot.metrics import Metrics
from integrations.verification import DESKHAND, Refused, require_secret

log = structlog.get_logger(__name__)

MAX_BODY = 1024 * 1024
RETRY_AFTER_SECONDS = 5
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebhookError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_response(
    status: int, code: str, message: str, details: list[Any] | None = None
) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    # A 503 is deskhand's own transient fault: the sender may try again shortly.
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return web.json_response({"error": error}, status=status, headers=headers)


async def read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise WebhookError(413, "payload_too_large", f"The body is over {MAX_BODY} bytes.")
    chunks: list[bytes] = []
    size = 0
    # A chunked body has no length up front: stop reading as soon as it is too big.
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY:
            raise WebhookError(413, "payload_too_large", f"The body is over {MAX_BODY} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_signed_json(request: web.Request, *, secret: SecretStr | None, clock: Clock) -> Any:
    """The body, once signed with deskhand's signature (integrations/verification.py) and,
    unless it is an empty GET, JSON; a `Refused` or `WebhookError` otherwise."""
    key = require_secret(secret.get_secret_value() if secret else None, "DESKHAND_WEBHOOK_SECRET")
    body = await read_body(request)
    DESKHAND.verify(key, request.headers, body, now=clock.now().timestamp())
    if request.method != "GET" or body:
        if request.content_type != "application/json":
            raise WebhookError(415, "unsupported_media_type", "Send application/json.")
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[…" a MiB deep
            raise WebhookError(422, "invalid_json", "The body is not valid JSON.") from exc
    return None


def parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ][:20]
        raise WebhookError(422, "invalid_payload", "The payload is not valid.", details) from exc


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except WebhookError as exc:
        log.info("webhook.refused", path=request.path, status=exc.status, code=exc.code)
        return error_response(exc.status, exc.code, exc.message, exc.details)
    except Refused as exc:  # who sent it: integrations/verification.py, every scheme
        log.info("webhook.refused", path=request.path, status=exc.status, code=exc.code)
        return error_response(exc.status, exc.code, exc.message)
    except DeskhandError as exc:
        return error_response(exc.http_status, exc.code, exc.user_message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        return error_response(exc.status, code.get(exc.status, "error"), exc.reason)
    except Exception:
        # Nothing malformed gets here (refusals are above): this is us or the database.
        incident = uuid.uuid4().hex[:12]
        log.exception("webhook.failed", path=request.path, incident=incident)
        return error_response(503, "unavailable", f"Try again later (incident {incident}).")


def metrics_middleware(metrics: Metrics) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        response = await handler(request)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        metrics.http_requests.labels(route, request.method, str(response.status)).inc()
        if route.startswith("/webhooks"):
            metrics.webhook_seconds.labels(route).observe(time.perf_counter() - started)
        return response

    return middleware


def serving_middleware(serving: Callable[[], AbstractContextManager[None]]) -> Middleware:
    """While a request is answered, background work steps aside (storage/gate.py)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        with serving():
            return await handler(request)

    return middleware
