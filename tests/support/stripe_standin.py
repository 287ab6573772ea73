"""A stand-in for Stripe's refunds API, built from the trimmed spec
(tests/specs/stripe_spec3.trimmed.json): an aiohttp server on a loopback port.

Every request is recorded and checked with openapi-core; a mismatch is answered 400 and
listed in ``violations``. Two spec details openapi-core cannot decode are patched in the
copy it reads: ``metadata`` (anyOf object/"" with deepObject style) is the object branch,
and ``expand`` (a deepObject *array*) is form style. Form fields the spec does not declare
are violations too (openapi-core would drop them silently).

``Idempotency-Key`` works as Stripe documents: the first status and body per key are
stored once the endpoint runs (payment errors included) and replayed for the same
parameters; other parameters give a 400 ``idempotency_error``; a request refused by
validation is not stored. ``fail_next`` answers before anything runs (like a rate limiter
or a load balancer); ``lose_next`` does the refund, then drops the answer.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters

__all__ = ["API_KEY", "RecordedCall", "StripeStandIn"]

SPEC_PATH = Path(__file__).resolve().parent.parent / "specs" / "stripe_spec3.trimmed.json"
SPEC_HOST = "https://api.stripe.com"
API_KEY = "sk_test_3d1fddaf636fd3feb3d136d6a1ef9161"  # a fake key, shaped like one
JSON = dict[str, Any]
_REFUND = re.compile(r"^/v1/refunds/([^/]+)$")
_FORM = "application/x-www-form-urlencoded"


@dataclass
class RecordedCall:
    method: str
    path: str
    headers: dict[str, str]
    form: list[tuple[str, str]]
    status: int = 0


class _Error(Exception):
    def __init__(self, status: int, type_: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSON = {"error": {"type": type_, "message": message}}
        if code is not None:
            self.body["error"]["code"] = code


class StripeStandIn:
    def __init__(self, *, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.url = ""
        self.calls: list[RecordedCall] = []
        self.violations: list[str] = []
        self.refunds: list[JSON] = []  # what was really refunded, in order
        self._payments: dict[str, tuple[int, str]] = {}
        self._refunded: dict[str, int] = {}
        self._stored: dict[str, tuple[list[tuple[str, str]], int, JSON]] = {}
        self._failures: list[tuple[int, float | None]] = []
        self._lose = 0
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    # -- lifecycle, seeding and failure switches ---------------------------------------

    async def start(self) -> None:
        # Load the (1 MB) spec before listening: loaded on the first request instead, it
        # can outlast the client's timeout and make the client send the request again.
        _spec()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self._listen()
        self.url = f"http://127.0.0.1:{self._port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._site = None

    def add_payment(self, payment_id: str, amount_minor: int, currency: str) -> None:
        """A payment intent (pi_…) or charge (ch_…) of ``amount_minor`` to refund from."""
        self._payments[payment_id] = (amount_minor, currency)

    def go_down(self) -> None:
        """Refuse connections: stop listening and drop open (keep-alive) ones; state stays."""
        assert self._runner is not None and self._site is not None
        server = self._site._server
        if server is not None:
            server.close()
        for handler in list(self._runner.server.connections if self._runner.server else []):
            handler.force_close()

    async def come_back(self) -> None:
        assert self._site is not None
        await self._site.stop()
        await self._listen()

    def fail_next(self, n: int, status: int = 500, retry_after: float | None = None) -> None:
        self._failures += [(status, retry_after)] * n

    def lose_next(self, n: int = 1) -> None:
        self._lose += n

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await self._site.start()
        self._port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    # -- the API -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        form = parse_qsl(raw.decode(), keep_blank_values=True)
        call = RecordedCall(request.method, request.path, dict(request.headers), form)
        self.calls.append(call)
        if self._failures:
            status, retry_after = self._failures.pop(0)
            kind = "rate_limit_error" if status == 429 else "api_error"
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
            body = _Error(status, kind, f"injected failure {status}").body
            return _answer(call, status, body, headers)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            error = _Error(401, "invalid_request_error", "Invalid API Key provided")
            return _answer(call, 401, error.body)
        problem = self._contract_problem(request, raw, form)
        if problem is not None:
            self.violations.append(f"{request.method} {request.path}: {problem}")
            return _answer(call, 400, _Error(400, "invalid_request_error", problem).body)
        if request.method == "GET" and (match := _REFUND.match(request.path)):
            found = [r for r in self.refunds if r["id"] == match[1]]
            if not found:
                missing = _Error(404, "invalid_request_error", "No such refund", "resource_missing")
                return _answer(call, 404, missing.body)
            return _answer(call, 200, found[0])
        key = request.headers["Idempotency-Key"]
        replay = {"Idempotent-Replayed": "true"}
        if key in self._stored:
            first_form, status, body = self._stored[key]
            if sorted(first_form) != sorted(form):
                message = (
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}'."
                )
                return _answer(call, 400, _Error(400, "idempotency_error", message).body)
            return _answer(call, status, body, replay)
        try:
            status, body = 200, self._refund(dict(form))
        except _Error as error:
            status, body = error.status, error.body
        self._stored[key] = (form, status, body)
        if self._lose:
            self._lose -= 1
            call.status = -1  # done, but the answer never arrives
            assert request.transport is not None
            request.transport.abort()
            raise ConnectionResetError("answer lost on purpose")
        return _answer(call, status, body)

    def _refund(self, form: dict[str, str]) -> JSON:
        target = "payment_intent" if "payment_intent" in form else "charge"
        payment_id = form.get(target)
        if payment_id is None or ("payment_intent" in form and "charge" in form):
            raise _Error(400, "invalid_request_error", "Pass a charge or a payment_intent.")
        prefix = "pi_" if target == "payment_intent" else "ch_"
        if payment_id not in self._payments or not payment_id.startswith(prefix):
            message = f"No such {target}: '{payment_id}'"
            raise _Error(404, "invalid_request_error", message, "resource_missing")
        amount, currency = self._payments[payment_id]
        left = amount - self._refunded.get(payment_id, 0)
        if left <= 0:
            message = f"Charge {payment_id} has already been refunded."
            raise _Error(400, "invalid_request_error", message, "charge_already_refunded")
        wanted = int(form.get("amount", left))
        if wanted <= 0:
            message = "This value must be greater than or equal to 1."
            raise _Error(400, "invalid_request_error", message, "parameter_invalid_integer")
        if wanted > left:
            message = f"Refund amount ({wanted}) is greater than unrefunded amount ({left})."
            raise _Error(400, "invalid_request_error", message, "amount_too_large")
        self._refunded[payment_id] = amount - left + wanted
        metadata = {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}
        refund = {
            "id": f"re_standin_{len(self.refunds) + 1:06d}",
            "object": "refund",
            "amount": wanted,
            "balance_transaction": None,
            "charge": payment_id if prefix == "ch_" else f"ch_of_{payment_id[3:]}",
            "created": 1_700_000_000 + len(self.refunds),
            "currency": currency,
            "metadata": metadata,
            "payment_intent": payment_id if prefix == "pi_" else None,
            "reason": form.get("reason"),
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        self.refunds.append(refund)
        return refund

    def _contract_problem(
        self, request: web.Request, raw: bytes, form: list[tuple[str, str]]
    ) -> str | None:
        if request.method == "POST" and request.path == "/v1/refunds":
            if request.content_type != _FORM:
                return f"content type {request.content_type}, not {_FORM}"
            if not request.headers.get("Idempotency-Key"):
                return "no Idempotency-Key header on a refund"
            if request.headers.get("Stripe-Version") != "2023-08-16":
                return "Stripe-Version is not pinned to 2023-08-16"
            declared = _declared_fields()
            unknown = [k for k, _ in form if k.split("[", 1)[0] not in declared]
            if unknown or any("[" in k and not k.startswith("metadata[") for k, _ in form):
                return f"undeclared form fields {unknown}"
        result = _spec().unmarshal_request(_SpecRequest(request, raw))
        if result.errors:
            problems = []
            for error in result.errors:
                cause = error.__cause__
                details = [str(e.message) for e in getattr(cause, "schema_errors", None) or []]
                problems.append("; ".join([repr(error), repr(cause), *details]))
            return " | ".join(problems)
        return None


@functools.cache
def _spec() -> OpenAPI:
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    post = spec["paths"]["/v1/refunds"]["post"]["requestBody"]["content"][_FORM]
    post["schema"]["properties"]["metadata"] = {
        "type": "object",
        "additionalProperties": {"type": "string"},
    }
    post["encoding"]["expand"] = {"style": "form", "explode": True}
    for parameter in spec["paths"]["/v1/refunds/{refund}"]["get"]["parameters"]:
        if parameter["name"] == "expand":
            parameter["style"] = "form"
    return OpenAPI.from_dict(spec)


@functools.cache
def _declared_fields() -> frozenset[str]:
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    body = spec["paths"]["/v1/refunds"]["post"]["requestBody"]["content"][_FORM]
    return frozenset(body["schema"]["properties"])


class _SpecRequest:
    """openapi-core's request protocol, on Stripe's host."""

    def __init__(self, request: web.Request, body: bytes) -> None:
        self.host_url = SPEC_HOST
        self.path = request.path
        self.method = request.method.lower()
        self.body = body or None
        self.content_type = request.content_type
        self.parameters = RequestParameters(
            query=request.query, header=request.headers, cookie=request.cookies
        )


def _answer(
    call: RecordedCall, status: int, body: JSON, headers: dict[str, str] | None = None
) -> web.Response:
    call.status = status
    return web.json_response(body, status=status, headers=headers)
