"""SIGKILL the bot (a real process) at random moments while handoffs, customer messages,
claim and resolve clicks, refund requests and approve clicks flow; start it again; let it
drain. Every request answered 2xx reaches its end state, no Slack post, ticket, callback or
refund happens twice, and a click acked just before a kill either took effect or left its
button on the message. The seed is fixed, so a failure can be run again.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.bot_process import Secrets, leaked_secrets
from tests.support.bot_process_crash import crash_run

KILLS = 5  # per database; bench/crash_soak.py runs fifty and more


async def test_kills_lose_nothing_and_double_nothing(database_url: str, tmp_path: Path) -> None:
    verdict = await crash_run(database_url, tmp_path, kills=KILLS, seed=11)

    assert verdict.problems == [], verdict.problems
    figures = verdict.figures
    assert figures["kills survived"] == KILLS
    # The load really flowed through the kills: every kind of request was accepted.
    assert figures["handoffs accepted"] > 0
    assert figures["customer messages accepted"] > 0
    assert figures["clicks acked"] > 0
    assert figures["approval requests accepted"] > 0
    assert figures["refunds"] > 0
    assert figures["unanswered (process down)"] > 0  # requests did hit the dead process


def test_the_secret_scan_finds_any_part_of_a_secret() -> None:
    given = Secrets()
    clean = f'{{"event": "deskhand.started", "token": "{given.slack_bot_token[:9]}…"}}'
    assert leaked_secrets(clean, given) == []
    assert leaked_secrets(f"Authorization: Bearer {given.stripe_api_key}", given) == [
        "STRIPE_API_KEY"
    ]
    # Half a signing secret (its first or last 16 characters) is a leak too.
    assert leaked_secrets(given.slack_signing_secret[:16], given) == ["SLACK_SIGNING_SECRET"]
    assert leaked_secrets(given.webhook_secret[-16:], given) == ["DESKHAND_WEBHOOK_SECRET"]
