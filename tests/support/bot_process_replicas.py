"""Three bot processes on one PostgreSQL database, with requests spread across them: runs
the races of ``tests.support.bot_process_races``, a few at a time, plus approvals nobody
decides (every replica's expiry job finds them due), then drains and judges everything.

Used by tests/e2e/test_replicas.py and bench/replica_races.py.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from pathlib import Path

from tests.support.bot_process import BotProcess, leaked_secrets
from tests.support.bot_process_checks import Store, Verdict, nothing_twice
from tests.support.bot_process_races import Judge, Races
from tests.support.bot_process_world import World, world_and_client

RACE_KINDS = ("claim_vs_claim", "approve_vs_approve", "approve_vs_reject", "same_handoff_twice")
REPLICAS = 3
# Undecided approvals expire after this; a race's approval is decided within seconds.
EXPIRES_AFTER = 20.0
EXPIRY_SWEEP = 30.0  # bot.jobs.APPROVAL_SWEEP_SECONDS: the job's first run is that far out


async def replica_run(
    database_url: str,
    workdir: Path,
    *,
    races: Mapping[str, int],
    expiring: int,
    seed: int,
    at_once: int = 6,
) -> Verdict:
    rng = random.Random(seed)
    async with world_and_client() as (world, client):
        settings = world.settings(database_url, DESKHAND_APPROVAL_EXPIRES_AFTER=str(EXPIRES_AFTER))
        bots = [BotProcess(f"replica{i}", settings, workdir) for i in range(REPLICAS)]
        store = Store(database_url)
        try:
            for bot in bots:
                bot.start()
            await asyncio.gather(*(bot.wait_ready(90) for bot in bots))
            run = Races(world, client, bots, store, rng)
            judges = [await run.left_to_expire(n) for n in range(expiring)]
            judges += await _race(run, races, rng, at_once)
            await _expired(store, [f"{run.tag}-expire-{n}" for n in range(expiring)])
            await store.drained()
            verdict = await _judged(world, store, judges)
        finally:
            for bot in bots:
                bot.stop()
            await store.dispose()
        verdict.figures["races"] = sum(races.values())
        verdict.figures |= {f"races: {kind}": n for kind, n in races.items()}
        verdict.figures["approvals left to expire"] = expiring
        for bot in bots:
            verdict.other += [
                f"secret in {bot.name}'s output: {name}"
                for name in leaked_secrets(bot.log_text(), world.secrets)
            ]
        return verdict


async def _race(
    run: Races, races: Mapping[str, int], rng: random.Random, at_once: int
) -> list[Judge]:
    plan = [kind for kind in RACE_KINDS for _ in range(races.get(kind, 0))]
    rng.shuffle(plan)
    limit = asyncio.Semaphore(at_once)

    async def one(n: int, kind: str) -> Judge:
        async with limit:
            race = getattr(run, kind)
            judge: Judge = await race(n)
            return judge

    return list(await asyncio.gather(*(one(n, kind) for n, kind in enumerate(plan))))


async def _expired(store: Store, request_ids: list[str]) -> None:
    """Poll until the expiry job (on some replica) has expired them all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + EXPIRES_AFTER + 2 * EXPIRY_SWEEP + 30
    while True:
        statuses = await store.approvals()
        if all(statuses.get(r) == "expired" for r in request_ids):
            return
        if loop.time() > deadline:
            left = {r: statuses.get(r) for r in request_ids if statuses.get(r) != "expired"}
            raise AssertionError(f"not expired in time: {left}")
        await asyncio.sleep(0.25)


async def _judged(world: World, store: Store, judges: list[Judge]) -> Verdict:
    """Judge every race; until drained effects have arrived, a judge may see too little,
    so a failing set is judged again (a few times) before it counts."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        problems = [problem for judge in judges for problem in await judge()]
        if not problems or loop.time() > deadline:
            break
        await store.drained()
        await asyncio.sleep(0.25)
    verdict = await nothing_twice(world, store)
    verdict.other += problems
    verdict.figures["races lost, doubled or refused"] = len(problems)
    return verdict
