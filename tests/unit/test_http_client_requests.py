"""HttpClient against a scripted local server: requests, responses, logs and arguments."""

from __future__ import annotations

import aiohttp
import pytest
from structlog.testing import capture_logs
from yarl import URL

from integrations.errors import Rejected
from integrations.http import HttpClient, HttpResponse, _log_path
from tests.support.scripted_http import (
    MakeClient,
    Reply,
    ScriptedServer,
)

SECRET = "xoxb-super-secret-token"


async def test_200_passes_through(server: ScriptedServer, make_client: MakeClient) -> None:
    server.play(Reply(200, '{"id": 7, "name": "café"}', {"X-Thing": "1"}))
    client = await make_client(user_agent="deskhand-test")
    resp = await client.request(
        "post",
        f"{server.base_url}/api/items",
        system="demo",
        json={"a": 1},
        params={"q": "x"},
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert isinstance(resp, HttpResponse)
    assert resp.status == 200
    assert resp.json() == {"id": 7, "name": "café"}
    assert resp.headers["x-thing"] == "1"  # case-insensitive
    assert "café" in resp.text
    [hit] = server.hits
    assert (hit.method, hit.path, hit.query) == ("POST", "/api/items", {"q": "x"})
    assert hit.body == b'{"a": 1}'
    assert hit.headers["User-Agent"] == "deskhand-test"
    assert hit.headers["Authorization"] == f"Bearer {SECRET}"
    assert "Idempotency-Key" not in hit.headers


async def test_form_data_is_sent(server: ScriptedServer, make_client: MakeClient) -> None:
    client = await make_client()
    await client.request("POST", f"{server.base_url}/f", system="demo", data={"k": "v w"})
    assert server.hits[0].body == b"k=v+w"


async def test_logs_have_fields_and_never_secrets(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    client = await make_client(max_attempts=2)
    with capture_logs() as logs:
        server.play(Reply(500, f"error body {SECRET}"), Reply(200, f"body {SECRET}"))
        await client.request(
            "POST",
            f"{server.base_url}/api/chat?token={SECRET}",
            system="slack",
            json={"token": SECRET},
            params={"key": SECRET},
            headers={"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET},
            idempotency_key=SECRET,
        )
        server.play(Reply(422, f"bad {SECRET}"))
        with pytest.raises(Rejected) as info:
            await client.request(
                "GET",
                f"{server.base_url}/api/x?token={SECRET}",
                system="slack",
                headers={"Authorization": f"Bearer {SECRET}"},
            )
    assert SECRET not in repr(logs)
    assert SECRET not in str(info.value)

    events = [entry["event"] for entry in logs]
    assert events == [
        "http.attempt_failed",
        "http.request",
        "http.attempt_failed",
        "http.request_failed",
    ]
    first = logs[0]
    assert first["system"] == "slack"
    assert first["method"] == "POST"
    assert first["host"] == server.host
    assert first["path"] == "/api/chat"
    assert first["status"] == 500
    assert first["attempt"] == 1
    assert isinstance(first["elapsed_ms"], float)
    assert logs[1]["status"] == 200 and logs[1]["attempt"] == 2
    assert logs[3]["status"] == 422 and logs[3]["error"] == "Rejected"


def test_slack_webhook_paths_are_redacted_in_logs() -> None:
    url = URL(f"https://hooks.slack.com/services/T000/B000/{SECRET}?x=1")
    assert _log_path(url) == "/services/[redacted]"
    assert _log_path(URL("https://slack.com/api/chat.postMessage")) == "/api/chat.postMessage"


async def test_request_before_start_and_bad_arguments() -> None:
    client = HttpClient()
    with pytest.raises(RuntimeError):
        await client.request("GET", "http://127.0.0.1/x", system="demo")
    await client.start()
    try:
        with pytest.raises(ValueError, match="absolute http"):
            await client.request("GET", "/relative", system="demo")
        with pytest.raises(ValueError, match="json or data"):
            await client.request("POST", "http://127.0.0.1/x", system="demo", json={}, data="x")
    finally:
        await client.close()


async def test_injected_session_is_not_closed(server: ScriptedServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with HttpClient(session=session) as client:
            assert (await client.request("GET", server.base_url, system="demo")).status == 200
        assert not session.closed


async def test_caller_headers_override_user_agent_case_insensitively(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    client = await make_client()
    await client.request("GET", server.base_url, system="demo", headers={"user-agent": "mine"})
    assert server.hits[0].headers["User-Agent"] == "mine"
    assert list(server.hits[0].headers).count("User-Agent") == 1
