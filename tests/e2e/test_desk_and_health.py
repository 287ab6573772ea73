"""The /desk command, App Home, and the endpoints operators and Prometheus use."""

from __future__ import annotations

import json
import math
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from bot.desk_command import DESK_HELP
from bot.handoffs.actions import HandoffAction
from storage.models import Agent
from tests.support.harness import AGENT, HANDOFF, LEAD, OTHER_AGENT, Harness

HID = HANDOFF["handoff_id"]


async def _availability(desk: Harness) -> dict[str, bool]:
    async with desk.app.db.uow() as uow:
        rows = await uow.session.scalars(select(Agent))
        return {row.slack_user_id: row.available for row in rows}


def _home_publishes(desk: Harness, user: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        c.args["view"]
        for c in desk.slack.calls_to("views.publish")
        if c.ok and c.args.get("user_id") == user[0]
    ]


async def test_availability_is_stored_and_shown_at_home(desk: Harness) -> None:
    assert await _availability(desk) == {}
    assert "nobody" not in (await desk.desk_command("status")).lower()
    assert (await desk.desk_command("status")).startswith("You are *away*")

    answer = await desk.desk_command("available")
    assert answer == "You are *available*: new handoffs may be assigned to you."
    assert await _availability(desk) == {AGENT[0]: True}
    await desk.settle()
    [home] = _home_publishes(desk, AGENT)
    assert home["type"] == "home" and "*Available*" in json.dumps(home)
    assert (await desk.desk_command("status")).startswith("You are *available*")

    desk.clock.advance(1)
    answer = await desk.desk_command("away")
    assert answer == "You are *away*: no new handoffs will be assigned to you."
    assert await _availability(desk) == {AGENT[0]: False}
    await desk.settle()
    homes = _home_publishes(desk, AGENT)
    assert len(homes) == 2 and "*Away*" in json.dumps(homes[-1])

    # Commands are case- and space-insensitive; one agent's state is theirs alone.
    await desk.desk_command("  AVAILABLE ", user=OTHER_AGENT)
    assert await _availability(desk) == {AGENT[0]: False, OTHER_AGENT[0]: True}


async def test_help_and_unknown_commands(desk: Harness) -> None:
    assert await desk.desk_command("help") == DESK_HELP
    assert await desk.desk_command("") == DESK_HELP
    answer = await desk.desk_command("nonsense")
    assert answer == f"I don't know `/desk nonsense`.\n\n{DESK_HELP}"
    answer = await desk.desk_command("return not-a-reference")
    assert answer.startswith("I don't know `/desk return not-a-reference`.")
    # Whatever is typed is answered as text, never turned into mentions.
    answer = await desk.desk_command("<!channel> hi")
    assert "I don't know" in answer
    assert await _availability(desk) == {}


async def test_list_and_status_count_the_open_handoffs(desk: Harness) -> None:
    assert await desk.desk_command("list") == "No open handoffs. :tada:"
    _, first = await desk.handoff()
    _, second = await desk.handoff(handoff_id="sess-43:esc-1", session_id="sess-43")
    await desk.settle()
    await desk.click(HandoffAction.CLAIM, "sess-43:esc-1", OTHER_AGENT)

    listing = await desk.desk_command("list")
    assert listing.startswith("Open handoffs:\n")
    assert f"• *{first['reference']}* (high) waiting" in listing
    assert f"• *{second['reference']}* (high) claimed by <@{OTHER_AGENT[0]}>" in listing
    status = await desk.desk_command("status")
    assert status == "You are *away*. Waiting: 1, in progress: 1."


async def test_return_to_bot_by_reference(desk: Harness) -> None:
    _, body = await desk.handoff()
    reference = body["reference"]
    await desk.settle()
    await desk.click(HandoffAction.CLAIM)
    await desk.settle()

    refused = await desk.desk_command(f"return {reference}", user=OTHER_AGENT)
    assert refused == f"Only <@{AGENT[0]}> or a lead can do that on {reference}."
    await desk.settle()
    assert desk.chatbot.of_type("handoff_status", status="returned_to_bot") == []
    stored = await desk.stored_handoff()
    assert stored is not None and stored.status == "claimed"

    missing = await desk.desk_command("return DH-ZZZZ9999")
    assert missing == "No handoff with reference DH-ZZZZ9999."

    answer = await desk.desk_command(f"return {reference.lower()}")
    assert answer == f"{reference} is handed back to the bot."
    await desk.settle()
    [returned] = desk.chatbot.of_type("handoff_status", status="returned_to_bot")
    assert returned["handoff_id"] == HID and returned["message"]
    stored = await desk.stored_handoff()
    assert stored is not None
    assert (stored.status, stored.resolved_by) == ("returned_to_bot", AGENT[0])
    post = desk.posted_message()
    assert post is not None and not [b for b in post["blocks"] if b["type"] == "actions"]

    again = await desk.desk_command(f"return {reference}", user=LEAD)
    assert again == f"{reference} was handed back to the bot."
    await desk.settle()
    assert len(desk.chatbot.of_type("handoff_status", status="returned_to_bot")) == 1


async def test_opening_app_home_publishes_it(desk: Harness) -> None:
    await desk.handoff()
    await desk.settle()
    event = {
        "type": "app_home_opened",
        "user": OTHER_AGENT[0],
        "channel": "D0HOME0001",
        "tab": "home",
        "event_ts": "1700000000.000500",
    }
    assert await desk.slack_event(event) == 200
    await desk.settle()
    [view] = _home_publishes(desk, OTHER_AGENT)
    text = json.dumps(view)
    assert "*Away*" in text and HANDOFF["summary"][:20] in text
    assert _home_publishes(desk, AGENT) == []

    # The Messages tab is not the App Home: nothing to publish.
    desk.clock.advance(1)
    assert await desk.slack_event({**event, "tab": "messages"}) == 200
    await desk.settle()
    assert len(_home_publishes(desk, OTHER_AGENT)) == 1


async def test_health_and_readiness(desk: Harness) -> None:
    status, text, content_type = await desk.get("/healthz")
    assert status == 200 and content_type.startswith("application/json")
    assert json.loads(text)["status"] == "ok"

    status, text, _ = await desk.get("/readyz")
    assert status == 200
    ready = json.loads(text)
    assert ready["status"] == "ready" and ready["checks"]["database"] is True

    # Readiness does not depend on the Slack Web API.
    desk.slack.go_down()
    status, _, _ = await desk.get("/readyz")
    assert status == 200


async def test_metrics_after_some_traffic(desk: Harness) -> None:
    await desk.handoff()
    await desk.handoff()
    await desk.webhook("/webhooks/handoffs", b"{", content_type="application/json")
    await desk.settle()
    await desk.click(HandoffAction.CLAIM)
    await desk.desk_command("status")
    await desk.settle()

    status, text, content_type = await desk.get("/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    for name in (
        "deskhand_slack_ack_seconds_bucket",
        "deskhand_outbox_depth",
        "deskhand_http_requests_total",
    ):
        assert name in text, name

    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families and all(name.startswith("deskhand_") for name in families)
    for family in families.values():
        assert family.documentation, f"{family.name} has no HELP"
        assert family.type in ("counter", "gauge", "histogram"), family.type
        for sample in family.samples:
            assert not math.isnan(sample.value), sample
            if family.type == "counter" and sample.name.endswith("_total"):
                assert sample.value >= 0
        if family.type == "histogram":
            _check_histogram(family.samples)

    requests = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["deskhand_http_requests"].samples
        if s.name == "deskhand_http_requests_total"
    }
    assert requests[("/webhooks/handoffs", "202")] == 1
    assert requests[("/webhooks/handoffs", "200")] == 1
    assert requests[("/webhooks/handoffs", "422")] == 1
    # Over the socket, Slack's requests are no HTTP requests at all.
    slack_requests = 2 if desk.slack_mode == "http" else 0
    assert requests.get(("/slack/events", "200"), 0) == slack_requests
    kinds = {
        s.labels["kind"]
        for s in families["deskhand_slack_ack_seconds"].samples
        if s.name == "deskhand_slack_ack_seconds_count"
    }
    assert {"block_actions", "slash_command"} <= kinds


def _check_histogram(samples: list[Any]) -> None:
    """Buckets per label set rise, end in +Inf, and +Inf equals _count."""
    buckets: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    counts: dict[tuple[tuple[str, str], ...], float] = {}
    for sample in samples:
        labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
        if sample.name.endswith("_bucket"):
            buckets.setdefault(labels, []).append((float(sample.labels["le"]), sample.value))
        elif sample.name.endswith("_count"):
            counts[labels] = sample.value
    assert buckets and set(buckets) == set(counts)
    for labels, series in buckets.items():
        bounds = [bound for bound, _ in series]
        values = [value for _, value in series]
        assert bounds == sorted(bounds) and bounds[-1] == math.inf, labels
        assert values == sorted(values), labels
        assert values[-1] == counts[labels], labels
