"""Never give up in silence: a delivery is tried until the give-up window has passed, then
it is a dead letter that is counted, listed, alerted in Slack and can be sent again; when
Slack answers again after an outage, what waited for it goes at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.approvals.actions import ApprovalAction
from bot.cli import main
from bot.clock import FakeClock
from bot.jobs import update_gauges
from bot.outbox.kinds import OutboxKind
from tests.support.approvals_e2e import APPROVER, approval_desk
from tests.support.cli_logging import logging_put_back
from tests.support.harness import CHANNEL, Harness, running, standins

MESSAGE = OutboxKind.SLACK_HANDOFF_MESSAGE
ALERT = OutboxKind.SLACK_DEAD_LETTER_ALERT
CAP_SECONDS = 30  # DESKHAND_OUTBOX_RETRY_CAP in the outage test
WINDOW = 900  # DESKHAND_OUTBOX_GIVE_UP_AFTER in these tests


def _alerts(desk: Harness) -> list[str]:
    return [
        m.get("text", "")
        for m in desk.slack.messages(CHANNEL)
        if "given up on" in m.get("text", "")
    ]


async def test_one_success_after_an_outage_delivers_the_waiting_rows_at_once(
    database_url: str,
) -> None:
    # A short cap reaches its ceiling in a few tries (each try is a real, paced Slack call).
    async with running(database_url, DESKHAND_OUTBOX_RETRY_CAP=CAP_SECONDS) as desk:
        desk.slack.add_channel(CHANNEL, "escalations")
        desk.slack.go_down()
        ids = [f"outage:{n}" for n in range(2)]
        for handoff_id in ids:
            assert (await desk.handoff(handoff_id=handoff_id, session_id=handoff_id))[0] == 202
        await desk.settle_ready()
        for _ in range(6):  # Slack stays down: the rows back off to the cap, never past it
            await desk.advance_ready(CAP_SECONDS)
        # Each handoff's first post is retried; its later updates wait behind it (ordered).
        rows = [row for row in await desk.outbox_rows(MESSAGE) if row.attempts]
        assert len(rows) == 2 and all(row.status == "pending" for row in rows)
        cap = timedelta(seconds=CAP_SECONDS)
        assert all(cap / 2 <= row.next_attempt_at - desk.clock.now() <= cap for row in rows)

        desk.slack.come_back()
        first = min(row.next_attempt_at for row in rows)
        desk.clock.set(first)  # the first retry's time: one success, the other waits no more
        await desk.settle()
        assert desk.clock.now() == first
        for handoff_id in ids:
            assert desk.posted_message(handoff_id) is not None, handoff_id
        assert {row.status for row in await desk.outbox_rows()} == {"done"}
        assert len(desk.slack.messages(CHANNEL)) == 2
        assert desk.slack.violations == []


async def test_a_restarted_bot_tries_waiting_rows_at_once(database_url: str) -> None:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    ids = [f"restart:{n}" for n in range(2)]
    async with standins(clock) as (slack, chatbot):
        slack.add_channel(CHANNEL, "escalations")
        async with running(database_url, slack=slack, chatbot=chatbot, clock=clock) as first:
            slack.go_down()
            for handoff_id in ids:
                await first.handoff(handoff_id=handoff_id, session_id=handoff_id)
            await first.settle_ready()
            for _ in range(6):
                await first.advance_ready(120)
            waiting = [row for row in await first.outbox_rows(MESSAGE) if row.attempts]
            assert len(waiting) == 2
            assert all(row.next_attempt_at > clock.now() for row in waiting)

        slack.come_back()
        async with running(database_url, slack=slack, chatbot=chatbot, clock=clock) as second:
            # No time passes: start-up made them due.
            await slack.wait_for(
                lambda: all(second.posted_message(h) is not None for h in ids),
                10,
                description="the waiting posts",
            )
            assert len(slack.messages(CHANNEL)) == 2
        assert slack.violations == []


async def test_given_up_is_counted_listed_alerted_and_sent_again(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(database_url, DESKHAND_OUTBOX_GIVE_UP_AFTER=WINDOW) as desk:
        desk.slack.add_channel(CHANNEL, "escalations")
        desk.slack.go_down()
        await desk.handoff()
        await desk.settle_ready()
        start = desk.clock.now()
        for _ in range(5):
            await desk.advance_ready(300)
        post, *updates = await desk.outbox_rows(MESSAGE)
        assert post.status == "dead" and post.last_error and "503" in post.last_error
        # The rows queued behind it fell due as long ago: one try each, then dead too.
        assert all(row.status == "dead" for row in updates)
        assert post.updated_at - start >= timedelta(seconds=WINDOW)
        dead = [row for row in await desk.outbox_rows() if row.status == "dead"]
        # Counted...
        await update_gauges(desk.app)
        _, text, _ = await desk.get("/metrics")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        [sample] = families["deskhand_outbox_dead_letters"].samples
        assert sample.value == len(dead)
        # ... alerted once Slack answers (the alerts waited for it, as any delivery) ...
        assert _alerts(desk) == []
        assert all(row.kind != ALERT for row in dead)
        desk.slack.come_back()
        await desk.advance_ready(300)
        await desk.settle()
        alerts = _alerts(desk)
        assert alerts and any(MESSAGE in alert and f"#{post.id}" in alert for alert in alerts)
        assert {row.status for row in await desk.outbox_rows(ALERT)} == {"done"}
        # ... listed ...
        listing = await desk.desk_command("deadletters")
        assert f"#{post.id}" in listing and MESSAGE in listing and "503" in listing
        assert post.idempotency_key.replace("<", "&lt;") in listing
        # ... and sent again by the CLI while the bot runs.
        monkeypatch.setenv("DESKHAND_DATABASE_URL", database_url)
        with logging_put_back():
            assert await asyncio.to_thread(main, ["outbox", "retry", "--dead"]) == 0
        await desk.settle()
        assert desk.posted_message() is not None
        assert {row.status for row in await desk.outbox_rows()} == {"done"}
        # A second retry of the same row finds it delivered and leaves it alone.
        with logging_put_back():
            assert await asyncio.to_thread(main, ["outbox", "retry", str(post.id)]) == 1
        assert desk.slack.violations == []


async def test_a_refund_given_up_on_is_failed_and_the_agent_told_once(database_url: str) -> None:
    async with approval_desk(
        database_url, payments="stripe", DESKHAND_OUTBOX_GIVE_UP_AFTER=WINDOW
    ) as h:
        await h.ask()
        await h.desk.settle()
        assert h.stripe is not None
        h.stripe.go_down()
        await h.click(ApprovalAction.APPROVE, APPROVER)
        for _ in range(5):
            await h.desk.advance_ready(300)
        [refund] = await h.desk.outbox_rows(OutboxKind.PAYMENT_REFUND)
        assert refund.status == "dead"
        assert h.statuses() == ["approved", "failed"]
        failed = h.decisions()[-1]
        assert failed["result"]["error"]["code"] == "payments_unavailable"
        status, polled = await h.poll()
        assert (status, polled["status"]) == (200, "failed")
        message = h.message()
        assert message is not None
        assert "Refund failed" in str(message["blocks"])
        assert "payments_unavailable" in str(message["blocks"])
        assert h.buttons() == []

        await h.stripe.come_back()  # too late: the request is final
        for _ in range(3):
            await h.desk.advance_ready(300)
        assert h.stripe.refunds == []
        told = [c for c in h.agent.received if c.body.get("status") == "failed"]
        assert len(told) == 1
        assert h.statuses() == ["approved", "failed"]
