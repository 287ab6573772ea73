"""A minimal AI agent for deskhand's refund approvals (docs/approvals.md): aiohttp + stdlib.

It asks for a refund, waits for the signed `approval_decision` callback and slowly polls
`GET /api/approvals/{id}` in case one is missed. Only `executed` means the money moved.
Run: DESKHAND_URL=https://deskhand.example.com DESKHAND_WEBHOOK_SECRET=... python <this file>
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web

TIMESTAMP_HEADER = "X-Deskhand-Request-Timestamp"
SIGNATURE_HEADER = "X-Deskhand-Signature"
FINAL_STATUSES = frozenset({"executed", "failed", "rejected", "expired"})
Decision = dict[str, Any]


def _signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def sign(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two signature headers for `body` (b"" for a GET)."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: _signature(secret, timestamp, body)}


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """True for a timestamp within 300 s and a matching signature over the raw body."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    signature = headers.get(SIGNATURE_HEADER, "")
    return hmac.compare_digest(_signature(secret, timestamp, body), signature)


class ApprovalClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, secret: str) -> None:
        self._session, self._base, self._secret = session, base_url.rstrip("/"), secret

    async def request_refund(self, request_id: str, **fields: Any) -> tuple[int, Decision]:
        """POST /webhooks/approvals: 202 new, 200 a repeat (safe to resend), 409 id reused."""
        body = json.dumps({"request_id": request_id, **fields}).encode()  # sign these bytes
        headers = {"Content-Type": "application/json", **sign(self._secret, body)}
        url = f"{self._base}/webhooks/approvals"
        async with self._session.post(url, data=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)

    async def get_decision(self, request_id: str) -> tuple[int, Decision]:
        """GET /api/approvals/{request_id}, signed over the empty body."""
        url = f"{self._base}/api/approvals/{request_id}"
        async with self._session.get(url, headers=sign(self._secret, b"")) as response:
            return response.status, await response.json(content_type=None)

    async def poll_decision(self, request_id: str, *, interval: float = 30.0) -> Decision:
        """Poll until a final status: executed, failed, rejected or expired."""
        while True:
            try:
                status, decision = await self.get_decision(request_id)
                if status == 200 and decision["status"] in FINAL_STATUSES:
                    return decision
            except (aiohttp.ClientError, TimeoutError, ValueError):
                pass  # deskhand (or a proxy) failed for a moment: try again later
            await asyncio.sleep(interval)


def make_receiver(
    secret: str, on_decision: Callable[[Decision], Awaitable[None]], path: str = "/deskhand"
) -> web.Application:
    """An aiohttp app for `approval_decision` callbacks: verify, dedupe, then act once."""
    seen: set[str] = set()  # in production keep processed keys in your database

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()  # the raw bytes, never re-serialised JSON
        if not verify(secret, request.headers, body):
            return web.json_response({"error": "bad signature"}, status=401)
        key = request.headers.get("Idempotency-Key", "")
        if not key or key in seen:  # a retry of a callback already handled: just say 200
            return web.json_response({"status": "duplicate" if key else "no key"})
        payload = json.loads(body)
        if payload.get("type") == "approval_decision":
            await on_decision(payload)  # keep it quick; if it raises, deskhand retries
        seen.add(key)
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post(path, receive)
    return app


async def run(base_url: str, secret: str) -> None:
    port = int(os.environ.get("AGENT_CALLBACK_PORT", "8081"))
    request_id = f"apr-{uuid.uuid4().hex[:16]}"
    final: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()

    async def on_decision(decision: Decision) -> None:
        print("callback:", decision["status"], decision.get("result"))
        ours = decision["request_id"] == request_id and not final.done()
        if ours and decision["status"] in FINAL_STATUSES:
            final.set_result(decision)

    runner = web.AppRunner(make_receiver(secret, on_decision))
    await runner.setup()
    await web.TCPSite(runner, os.environ.get("AGENT_CALLBACK_HOST", "127.0.0.1"), port).start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
            client = ApprovalClient(session, base_url, secret)
            status, answer = await client.request_refund(
                request_id,
                action="refund",
                requested_by="billing-agent",
                customer={"id": "c-9", "email": "ada@example.com"},
                params={
                    "payment_id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
                    "amount_minor": 1250,  # USD 12.50: an integer of minor units, never 12.5
                    "currency": "usd",
                    "reason": "duplicate",
                },
                justification="Charged twice for order 1042; the second charge is a duplicate.",
            )
            print("requested:", status, answer)
            if status not in (200, 202):
                return
            polling = asyncio.ensure_future(client.poll_decision(request_id, interval=60))
            done, _ = await asyncio.wait({final, polling}, return_when=asyncio.FIRST_COMPLETED)
            polling.cancel()
            print("final:", json.dumps(done.pop().result()))
    finally:
        await runner.cleanup()


def main() -> None:
    asyncio.run(run(os.environ["DESKHAND_URL"], os.environ["DESKHAND_WEBHOOK_SECRET"]))


if __name__ == "__main__":
    main()
