"""One crash run: a bot process under a seeded load, SIGKILLed at random moments and started
again, then drained and checked. Half the kills come at a random point of the load, half
right after a click was acked (the moment a click can be lost: acked, not yet applied).

Used by tests/e2e/test_crash_recovery.py (a handful of kills) and bench/crash_soak.py
(fifty and more).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

from tests.support.bot_process import BotProcess, leaked_secrets
from tests.support.bot_process_checks import Store, Verdict, check
from tests.support.bot_process_load import Load
from tests.support.bot_process_world import Client, World, world_and_client


async def crash_run(
    database_url: str,
    workdir: Path,
    *,
    kills: int,
    seed: int,
    tag: str = "crash",
    workers: int = 3,
) -> Verdict:
    rng = random.Random(seed)
    async with world_and_client() as (world, client):
        bot = BotProcess("bot", world.settings(database_url), workdir)
        store = Store(database_url)
        try:
            await bot.start_ready()
            verdict = await _kill_under_load(world, client, bot, store, rng, kills, tag, workers)
        finally:
            bot.stop()
            await store.dispose()
        verdict.figures["kills survived"] = bot.kills
        verdict.figures["starts"] = bot.starts
        verdict.other += [
            f"secret in the bot's output: {n}"
            for n in leaked_secrets(bot.log_text(), world.secrets)
        ]
        return verdict


async def _kill_under_load(
    world: World,
    client: Client,
    bot: BotProcess,
    store: Store,
    rng: random.Random,
    kills: int,
    tag: str,
    workers: int,
) -> Verdict:
    load = Load(world, client, lambda: [bot], rng=rng, tag=tag)
    stop = asyncio.Event()
    traffic = asyncio.ensure_future(load.run(stop, workers))
    try:
        for kill in range(kills):
            if kill % 2 == 0 or not await load.next_ack():
                await load.accepted_more(rng.randint(2, 10))
                await asyncio.sleep(rng.uniform(0.0, 0.3))  # a random moment, not a clock
            bot.kill()
            await bot.start_ready()
        # The last process gets every kind of request too, so each kind is seen through
        # to its end state (a click acked before a kill may rightly have been lost).
        if not await load.each_kind_since(load.counts()):
            raise AssertionError(f"the load stalled after the last restart: {load.counts()}")
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await traffic
    await load.finish()
    await store.drained()
    return await settled_verdict(world, store, load)


async def settled_verdict(world: World, store: Store, load: Load, within: float = 20.0) -> Verdict:
    """Check until nothing is missing (effects queued by effects may still be on their way)
    or ``within`` passes; the last verdict."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        verdict = await check(world, store, load.ledger)
        if not verdict.lost or loop.time() > deadline:
            return verdict
        await store.drained()
        await asyncio.sleep(0.2)
