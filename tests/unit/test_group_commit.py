"""Group commit: requests that arrive together share one batch; none waits for more."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bot.handoffs.group_commit import GroupCommit


class Writer:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_on: int | None = None

    async def write(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        await self.gate.wait()
        if self.fail_on in items:
            raise RuntimeError("disk full")
        return [item * 10 for item in items]


async def test_a_lone_request_is_written_at_once() -> None:
    writer = Writer()
    commit = GroupCommit(writer.write)
    assert await commit.submit(1) == 10
    assert writer.batches == [[1]]


async def test_requests_arriving_during_a_write_go_together_in_the_next() -> None:
    writer = Writer()
    writer.gate.clear()
    commit = GroupCommit(writer.write)
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0)  # the first is writing (and held there)
    rest = [asyncio.create_task(commit.submit(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    writer.gate.set()
    assert await asyncio.gather(first, *rest) == [10, 20, 30, 40]
    assert writer.batches == [[1], [2, 3, 4]]


async def test_batches_are_capped() -> None:
    writer = Writer()
    writer.gate.clear()
    commit = GroupCommit(writer.write, max_batch=2)
    tasks = [asyncio.create_task(commit.submit(n)) for n in range(5)]
    await asyncio.sleep(0)
    writer.gate.set()
    assert await asyncio.gather(*tasks) == [0, 10, 20, 30, 40]
    assert writer.batches == [[0], [1, 2], [3, 4]]


async def test_a_failed_batch_fails_its_requests_only() -> None:
    writer = Writer()
    writer.gate.clear()
    writer.fail_on = 2
    commit = GroupCommit(writer.write)
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0)
    doomed = [asyncio.create_task(commit.submit(n)) for n in (2, 3)]
    await asyncio.sleep(0)
    writer.gate.set()
    assert await first == 10
    for task in doomed:
        with pytest.raises(RuntimeError, match="disk full"):
            await task
    assert await commit.submit(5) == 50  # the lead was passed on: still working


async def test_a_cancelled_waiter_does_not_stall_the_others() -> None:
    writer = Writer()
    writer.gate.clear()
    commit = GroupCommit(writer.write)
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(commit.submit(2))
    after = asyncio.create_task(commit.submit(3))
    await asyncio.sleep(0)
    cancelled.cancel()
    writer.gate.set()
    assert await first == 10
    assert await asyncio.wait_for(after, 1) == 30


async def test_an_item_the_writer_fails_alone_fails_its_request_alone() -> None:
    async def write(items: Sequence[int]) -> list[int | BaseException]:
        return [ValueError(f"bad {item}") if item < 0 else item * 10 for item in items]

    gate = asyncio.Event()

    async def held(items: Sequence[int]) -> list[int | BaseException]:
        await gate.wait()
        return await write(items)

    commit: GroupCommit[int, int] = GroupCommit(held)
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0)
    together = [asyncio.create_task(commit.submit(n)) for n in (2, -3, 4)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(first, *together, return_exceptions=True)
    assert results[:2] == [10, 20] and results[3] == 40
    assert isinstance(results[2], ValueError) and str(results[2]) == "bad -3"
    leader = asyncio.create_task(commit.submit(-5))  # a leader's own failure reaches it
    with pytest.raises(ValueError, match="bad -5"):
        await leader
    assert await commit.submit(6) == 60
