"""Signed callbacks to the customer-facing chatbot (DESKHAND_CHATBOT_CALLBACK_URL), and the
same kind to the AI agent that asks for approvals (DESKHAND_AGENT_CALLBACK_URL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from integrations.http import HttpClient
from integrations.signing import signed_headers


class ChatbotCallbacks(Protocol):
    async def send(self, body: dict[str, Any], *, idempotency_key: str) -> None: ...


class HttpChatbotCallbacks:
    """POSTs each callback signed, with an Idempotency-Key; the shared client retries."""

    def __init__(
        self,
        http: HttpClient,
        *,
        url: str,
        secret: str,
        now: Callable[[], float],
        system: str = "chatbot",
    ) -> None:
        # The same signed callbacks also reach the AI agent (system "agent").
        self.system = system
        self._http = http
        self._url = url
        self._secret = secret
        self._now = now

    async def send(self, body: dict[str, Any], *, idempotency_key: str) -> None:
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        headers.update(signed_headers(self._secret, raw, now=self._now()))
        await self._http.request(
            "POST",
            self._url,
            system=self.system,
            data=raw,
            headers=headers,
            idempotency_key=idempotency_key,
        )


class NoChatbotCallbacks:
    """No callback URL configured: callbacks are recorded in the log and dropped."""

    def __init__(self, log: Callable[[str, dict[str, Any]], None]) -> None:
        self._log = log

    async def send(self, body: dict[str, Any], *, idempotency_key: str) -> None:
        self._log(idempotency_key, body)
