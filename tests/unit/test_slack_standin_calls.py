"""The Slack stand-in's Web API methods, driven through slack_sdk's real AsyncWebClient."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.slack_standin import SlackStandIn
from tests.support.standin_client import (
    BLOCKS,
    CHANNEL,
    MODAL,
    TOKEN,
    make_client,
    running_standin,
    slack_error,
)


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    async with running_standin() as server:
        yield server


@pytest.fixture
def client(standin: SlackStandIn) -> AsyncWebClient:
    return make_client(standin)


# -- messages ----------------------------------------------------------------------------


async def test_start_returns_api_base_url_on_loopback(standin: SlackStandIn) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/", standin.base_url)


async def test_post_message_with_blocks(standin: SlackStandIn, client: AsyncWebClient) -> None:
    resp = await client.chat_postMessage(channel=CHANNEL, text="Escalation opened", blocks=BLOCKS)

    assert resp["ok"] and resp["channel"] == CHANNEL
    assert re.fullmatch(r"\d{10}\.\d{6}", resp["ts"])
    message = resp["message"]
    assert message["user"] == "U0DESKHAND" and message["bot_id"] and message["blocks"] == BLOCKS
    [stored] = standin.messages(CHANNEL)
    assert stored["ts"] == resp["ts"] and stored["text"] == "Escalation opened"
    [call] = standin.calls_to("chat.postMessage")
    assert call.ok and call.http_method == "POST" and call.args["blocks"] == BLOCKS
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert standin.violations == []


async def test_ts_are_unique_and_increasing(client: AsyncWebClient) -> None:
    stamps = [(await client.chat_postMessage(channel=CHANNEL, text=str(i)))["ts"] for i in range(5)]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 5


async def test_thread_reply(standin: SlackStandIn, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="parent")
    reply = await client.chat_postMessage(channel=CHANNEL, text="r1", thread_ts=parent["ts"])
    # A reply's ts as thread_ts lands in the parent's thread, as on Slack.
    await client.chat_postMessage(channel=CHANNEL, text="r2", thread_ts=reply["ts"])

    assert reply["message"]["thread_ts"] == parent["ts"]
    assert [m["text"] for m in standin.messages(CHANNEL)] == ["parent"]
    assert [m["text"] for m in standin.replies(CHANNEL, parent["ts"])] == ["r1", "r2"]
    assert standin.messages(CHANNEL)[0]["reply_count"] == 2
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel=CHANNEL, text="x", thread_ts="1600000000.000001")
    assert slack_error(exc) == "thread_not_found"
    assert standin.violations == []


async def test_update(standin: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="open")
    resp = await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="closed", blocks=BLOCKS)

    assert resp["ts"] == posted["ts"] and resp["text"] == "closed"
    [message] = standin.messages(CHANNEL)
    assert message["text"] == "closed" and message["blocks"] == BLOCKS and "edited" in message
    with pytest.raises(SlackApiError) as exc:
        await client.chat_update(channel=CHANNEL, ts="1600000000.000001", text="nope")
    assert slack_error(exc) == "message_not_found"
    assert standin.violations == []


async def test_ephemeral(standin: SlackStandIn, client: AsyncWebClient) -> None:
    resp = await client.chat_postEphemeral(
        channel=CHANNEL, user="U1", text="only you", blocks=BLOCKS
    )

    assert resp["message_ts"]
    assert [m["text"] for m in standin.ephemerals(CHANNEL, "U1")] == ["only you"]
    assert standin.ephemerals(CHANNEL, "U2") == [] and standin.messages(CHANNEL) == []
    assert standin.violations == []


async def test_reactions(standin: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="ack me")
    await client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="eyes")

    assert standin.messages(CHANNEL)[0]["reactions"] == [
        {"name": "eyes", "users": ["U0DESKHAND"], "count": 1}
    ]
    with pytest.raises(SlackApiError) as exc:
        await client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="eyes")
    assert slack_error(exc) == "already_reacted"
    assert standin.violations == []


async def test_history_newest_first_with_window_and_pagination(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    stamps = [
        (await client.chat_postMessage(channel=CHANNEL, text=f"m{i}"))["ts"] for i in range(5)
    ]
    await client.chat_postMessage(channel=CHANNEL, text="in thread", thread_ts=stamps[0])

    full = await client.conversations_history(channel=CHANNEL)
    assert [m["text"] for m in full["messages"]] == ["m4", "m3", "m2", "m1", "m0"]
    assert full["has_more"] is False

    texts: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await client.conversations_history(channel=CHANNEL, limit=2, cursor=cursor)
        pages += 1
        texts += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert texts == ["m4", "m3", "m2", "m1", "m0"] and pages == 3

    window = await client.conversations_history(channel=CHANNEL, oldest=stamps[1], latest=stamps[4])
    assert [m["text"] for m in window["messages"]] == ["m3", "m2"]
    inclusive = await client.conversations_history(
        channel=CHANNEL, oldest=stamps[1], latest=stamps[3], inclusive=True
    )
    assert [m["text"] for m in inclusive["messages"]] == ["m3", "m2", "m1"]
    assert standin.violations == []


async def test_replies_oldest_first_with_pagination(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    parent = (await client.chat_postMessage(channel=CHANNEL, text="parent"))["ts"]
    for i in range(4):
        await client.chat_postMessage(channel=CHANNEL, text=f"r{i}", thread_ts=parent)

    full = await client.conversations_replies(channel=CHANNEL, ts=parent)
    assert [m["text"] for m in full["messages"]] == ["parent", "r0", "r1", "r2", "r3"]

    first = await client.conversations_replies(channel=CHANNEL, ts=parent, limit=3)
    assert [m["text"] for m in first["messages"]] == ["parent", "r0", "r1"]
    assert first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    second = await client.conversations_replies(channel=CHANNEL, ts=parent, limit=3, cursor=cursor)
    assert [m["text"] for m in second["messages"]] == ["r2", "r3"]
    assert second["response_metadata"]["next_cursor"] == ""
    with pytest.raises(SlackApiError) as exc:
        await client.conversations_replies(channel=CHANNEL, ts="1600000000.000001")
    assert slack_error(exc) == "thread_not_found"
    assert standin.violations == []


async def test_people_channels_permalinks(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.add_user("U1", "ana", "Ana Lima", email="ana@example.com")
    standin.add_usergroup("S1", ["U1", "U2"])
    standin.add_channel(CHANNEL, "support")
    posted = await client.chat_postMessage(channel="#support", text="by name")

    user = (await client.users_info(user="U1"))["user"]
    assert user["real_name"] == "Ana Lima" and user["profile"]["email"] == "ana@example.com"
    with pytest.raises(SlackApiError) as exc:
        await client.users_info(user="U404")
    assert slack_error(exc) == "user_not_found"
    assert (await client.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]
    info = await client.conversations_info(channel=CHANNEL)
    assert info["channel"]["name"] == "support"
    link = await client.chat_getPermalink(channel=CHANNEL, message_ts=posted["ts"])
    assert link["permalink"].endswith(f"/archives/{CHANNEL}/p{posted['ts'].replace('.', '')}")
    me = await client.auth_test()
    assert me["user_id"] == "U0DESKHAND" and me["team_id"] == "T0DEMO"
    assert standin.violations == []


async def test_views(standin: SlackStandIn, client: AsyncWebClient) -> None:
    opened = (await client.views_open(trigger_id="123.456.abc", view=MODAL))["view"]
    assert opened["id"] and opened["callback_id"] == "handoff"
    changed = {**MODAL, "title": {"type": "plain_text", "text": "Done"}}
    updated = await client.views_update(view_id=opened["id"], view=changed, hash=opened["hash"])
    assert updated["view"]["id"] == opened["id"]
    assert standin.view(opened["id"])["title"]["text"] == "Done"  # type: ignore[index]
    with pytest.raises(SlackApiError) as exc:
        await client.views_update(view_id=opened["id"], view=changed, hash=opened["hash"])
    assert slack_error(exc) == "hash_conflict"

    home = {"type": "home", "blocks": BLOCKS}
    published = await client.views_publish(user_id="U1", view=home)
    assert standin.home_view("U1")["id"] == published["view"]["id"]  # type: ignore[index]
    assert standin.violations == []


async def test_files_upload_v2(standin: SlackStandIn, client: AsyncWebClient) -> None:
    resp = await client.files_upload_v2(
        channel=CHANNEL, content="log line\n", filename="ticket.log", initial_comment="Logs"
    )
    file_id = resp["files"][0]["id"]
    assert standin.file_content(file_id) == b"log line\n"
    [message] = standin.messages(CHANNEL)
    assert message["text"] == "Logs" and message["files"][0]["id"] == file_id
    assert [c.method for c in standin.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    assert standin.violations == []
