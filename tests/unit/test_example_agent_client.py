"""docs/examples/approval_agent.py: the example AI-agent client signs and verifies exactly as
deskhand does (integrations.signing), and its callback receiver refuses forgeries and stale
deliveries and handles each Idempotency-Key once."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from integrations import signing

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "approval_agent.py"
SECRET = "whsec-test-secret"
DECISION = {
    "type": "approval_decision",
    "request_id": "apr-1",
    "status": "executed",
    "decided_by": "U024BE7LH",
    "result": {
        "refund_id": "re_1",
        "status": "succeeded",
        "amount_minor": 1250,
        "currency": "usd",
        "partial": False,
    },
}


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deskhand_example_approval_agent", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


agent = _load_example()


@pytest.mark.parametrize("body", [json.dumps(DECISION).encode(), b""], ids=["body", "empty"])
def test_sign_matches_deskhand(body: bytes) -> None:
    now = 1_741_944_660.7
    headers = agent.sign(SECRET, body, now=now)
    timestamp = headers[signing.TIMESTAMP_HEADER]
    assert timestamp == "1741944660"
    assert headers[signing.SIGNATURE_HEADER] == signing.signature(SECRET, timestamp, body)
    assert signing.verify(SECRET, timestamp, headers[signing.SIGNATURE_HEADER], body, now=now)
    assert headers == signing.signed_headers(SECRET, body, now=now)


@pytest.mark.parametrize("body", [json.dumps(DECISION).encode(), b""], ids=["body", "empty"])
def test_verify_accepts_what_deskhand_signs(body: bytes) -> None:
    headers = signing.signed_headers(SECRET, body, now=time.time())
    assert agent.verify(SECRET, headers, body)
    assert not agent.verify("another-secret", headers, body)
    assert not agent.verify(SECRET, headers, body + b" ")


class Recorder:
    def __init__(self, fail_first: int = 0) -> None:
        self.decisions: list[dict[str, Any]] = []
        self.fail_first = fail_first

    async def __call__(self, decision: dict[str, Any]) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("agent busy")
        self.decisions.append(decision)


async def _post(
    client: TestClient[Any, Any], body: bytes, headers: dict[str, str]
) -> aiohttp.ClientResponse:
    return await client.post(
        "/deskhand", data=body, headers={"Content-Type": "application/json", **headers}
    )


def _delivery(key: str, *, now: float | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(DECISION).encode()
    headers = signing.signed_headers(SECRET, body, now=time.time() if now is None else now)
    return body, {**headers, "Idempotency-Key": key}


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h: {**h, signing.SIGNATURE_HEADER: "v0=" + "0" * 64},
        lambda h: {k: v for k, v in h.items() if k != signing.SIGNATURE_HEADER},
        lambda h: {k: v for k, v in h.items() if k != signing.TIMESTAMP_HEADER},
        lambda h: {**h, signing.TIMESTAMP_HEADER: "yesterday"},
    ],
    ids=["wrong", "no-signature", "no-timestamp", "bad-timestamp"],
)
async def test_receiver_refuses_a_bad_signature(tamper: Any) -> None:
    recorder = Recorder()
    async with TestClient(TestServer(agent.make_receiver(SECRET, recorder))) as client:
        body, headers = _delivery("k-1")
        response = await _post(client, body, tamper(headers))
        assert response.status == 401
    assert recorder.decisions == []


async def test_receiver_refuses_a_body_signed_with_another_secret() -> None:
    recorder = Recorder()
    async with TestClient(TestServer(agent.make_receiver("other", recorder))) as client:
        response = await _post(client, *_delivery("k-1"))
        assert response.status == 401
    assert recorder.decisions == []


@pytest.mark.parametrize("age", [301, -301, 3600])
async def test_receiver_refuses_a_stale_timestamp(age: int) -> None:
    recorder = Recorder()
    async with TestClient(TestServer(agent.make_receiver(SECRET, recorder))) as client:
        # Correctly signed, but for a timestamp outside the 300 s window (a replay).
        response = await _post(client, *_delivery("k-1", now=time.time() - age))
        assert response.status == 401
    assert recorder.decisions == []


async def test_receiver_handles_a_repeated_idempotency_key_once() -> None:
    recorder = Recorder()
    async with TestClient(TestServer(agent.make_receiver(SECRET, recorder))) as client:
        for _ in range(3):  # deskhand's retries carry the same key (re-signed each time)
            response = await _post(client, *_delivery("apr-1:executed"))
            assert response.status == 200
        assert recorder.decisions == [DECISION]
        response = await _post(client, *_delivery("apr-1:other"))
        assert response.status == 200
    assert recorder.decisions == [DECISION, DECISION]


async def test_receiver_lets_deskhand_retry_what_it_failed_to_handle() -> None:
    recorder = Recorder(fail_first=1)
    async with TestClient(TestServer(agent.make_receiver(SECRET, recorder))) as client:
        first = await _post(client, *_delivery("apr-1:executed"))
        assert first.status == 500
        second = await _post(client, *_delivery("apr-1:executed"))
        assert second.status == 200
    assert recorder.decisions == [DECISION]


async def test_client_requests_and_polls_with_deskhand_signatures() -> None:
    """A stand-in deskhand that checks every request with integrations.signing.verify."""
    seen: list[tuple[str, bytes]] = []
    statuses = iter(["pending", "approved", "executed"])

    def signed(request: web.Request, body: bytes) -> bool:
        headers = request.headers
        return signing.verify(
            SECRET,
            headers.get(signing.TIMESTAMP_HEADER),
            headers.get(signing.SIGNATURE_HEADER),
            body,
            now=time.time(),
        )

    async def create(request: web.Request) -> web.Response:
        body = await request.read()
        if not signed(request, body) or request.content_type != "application/json":
            return web.json_response({"error": {"code": "invalid_signature"}}, status=401)
        seen.append(("POST", body))
        return web.json_response({"request_id": "apr-1", "status": "pending"}, status=202)

    async def get(request: web.Request) -> web.Response:
        body = await request.read()
        if not signed(request, b"") or body:
            return web.json_response({"error": {"code": "invalid_signature"}}, status=401)
        seen.append(("GET", body))
        request_id = request.match_info["request_id"]
        if request_id != "apr-1":
            return web.json_response({"error": {"code": "not_found"}}, status=404)
        return web.json_response({"request_id": request_id, "status": next(statuses)})

    app = web.Application()
    app.router.add_post("/webhooks/approvals", create)
    app.router.add_get("/api/approvals/{request_id}", get)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        client = agent.ApprovalClient(session, str(server.make_url("/")), SECRET)
        params = {
            "payment_id": "pi_1",
            "amount_minor": 1250,
            "currency": "usd",
            "reason": "duplicate",
        }
        status, answer = await client.request_refund("apr-1", action="refund", params=params)
        assert (status, answer) == (202, {"request_id": "apr-1", "status": "pending"})
        assert json.loads(seen[0][1]) == {
            "request_id": "apr-1",
            "action": "refund",
            "params": params,
        }
        decision = await client.poll_decision("apr-1", interval=0)
        assert decision == {"request_id": "apr-1", "status": "executed"}
        assert [method for method, _ in seen] == ["POST", "GET", "GET", "GET"]
        assert await client.get_decision("apr-9") == (404, {"error": {"code": "not_found"}})
