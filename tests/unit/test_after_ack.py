"""Work after a Slack ack: bounded, tracked, and every failure reported."""

from __future__ import annotations

import asyncio

import pytest

from bot.after_ack import AfterAck


async def test_runs_at_most_limit_at_once_and_join_waits_for_all() -> None:
    runner = AfterAck(limit=2)
    running, most, done = 0, 0, []
    release = asyncio.Event()

    def work(i: int):  # type: ignore[no-untyped-def]
        async def run() -> None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            await release.wait()
            running -= 1
            done.append(i)

        return run

    async def never(_: Exception) -> None:
        raise AssertionError("no failure expected")

    for i in range(5):
        runner.submit(work(i), on_error=never, name=f"w{i}")
    await asyncio.sleep(0.01)
    assert (running, runner.pending) == (2, 5)
    release.set()
    await runner.join()
    assert (sorted(done), most, runner.pending) == ([0, 1, 2, 3, 4], 2, 0)


async def test_a_failure_reaches_on_error() -> None:
    runner = AfterAck()
    seen: list[str] = []

    async def boom() -> None:
        raise ValueError("already claimed")

    async def on_error(error: Exception) -> None:
        seen.append(str(error))

    runner.submit(boom, on_error=on_error, name="boom")
    await runner.join()
    assert seen == ["already claimed"]


async def test_stop_finishes_the_work_and_refuses_more() -> None:
    runner = AfterAck()
    done: list[int] = []

    async def work() -> None:
        await asyncio.sleep(0)
        done.append(1)

    async def on_error(_: Exception) -> None: ...

    runner.submit(work, on_error=on_error, name="w")
    await runner.stop()
    assert done == [1]
    with pytest.raises(RuntimeError):
        runner.submit(work, on_error=on_error, name="late")
