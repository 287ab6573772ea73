"""The SQLite gate: one holder; waiting requests before waiting background work."""

from __future__ import annotations

import asyncio

import pytest

from storage.gate import Gate, background


async def _take(gate: Gate, name: str, order: list[str], *, bg: bool = False) -> None:
    if bg:
        with background():
            await gate.acquire()
    else:
        await gate.acquire()
    order.append(name)
    gate.release()


async def test_foreground_waiters_go_before_background_ones_each_in_arrival_order() -> None:
    gate, order = Gate(), []
    await gate.acquire()
    tasks = [
        asyncio.create_task(_take(gate, "bg1", order, bg=True)),
        asyncio.create_task(_take(gate, "fg1", order)),
        asyncio.create_task(_take(gate, "bg2", order, bg=True)),
        asyncio.create_task(_take(gate, "fg2", order)),
    ]
    await asyncio.sleep(0)  # let each task queue up
    gate.release()
    await asyncio.gather(*tasks)
    assert order == ["fg1", "fg2", "bg1", "bg2"]


async def test_a_newcomer_does_not_overtake_waiters() -> None:
    gate, order = Gate(), []
    await gate.acquire()
    waiting = asyncio.create_task(_take(gate, "waiting", order))
    await asyncio.sleep(0)
    gate.release()  # handed to the waiter, not left open for whoever comes next
    late = asyncio.create_task(_take(gate, "late", order))
    await asyncio.gather(waiting, late)
    assert order == ["waiting", "late"]


async def test_a_cancelled_waiter_neither_holds_nor_blocks_the_gate() -> None:
    gate, order = Gate(), []
    await gate.acquire()
    cancelled = asyncio.create_task(gate.acquire())
    after = asyncio.create_task(_take(gate, "after", order))
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    gate.release()
    await asyncio.wait_for(after, 1)
    assert order == ["after"]
    await asyncio.wait_for(gate.acquire(), 1)  # free again


async def test_cancelled_just_after_being_handed_the_gate_passes_it_on() -> None:
    gate, order = Gate(), []
    await gate.acquire()
    first = asyncio.create_task(gate.acquire())
    second = asyncio.create_task(_take(gate, "second", order))
    await asyncio.sleep(0)
    gate.release()  # hands it to `first` ...
    first.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)
    assert order == ["second"]


async def test_background_steps_aside_while_a_request_is_served_but_not_forever() -> None:
    gate = Gate(max_yield=0.5)
    order: list[str] = []
    with gate.serving():
        waiting = asyncio.create_task(_take(gate, "bg", order, bg=True))
        await asyncio.sleep(0.01)
        assert order == []  # a request is in flight: background waits
        await _take(gate, "fg", order)  # foreground goes straight through
    await asyncio.wait_for(waiting, 1)
    assert order == ["fg", "bg"]

    gate = Gate(max_yield=0.01)
    with gate.serving():  # a request that never ends
        await asyncio.wait_for(_take(gate, "late bg", order, bg=True), 1)
    assert order[-1] == "late bg"


async def test_a_flood_of_requests_does_not_starve_background_work() -> None:
    from storage.gate import FAIR_SHARE

    gate, order = Gate(), []
    await gate.acquire()
    tasks = [asyncio.create_task(_take(gate, "bg", order, bg=True))]
    tasks += [asyncio.create_task(_take(gate, f"fg{i}", order)) for i in range(FAIR_SHARE + 4)]
    await asyncio.sleep(0)
    gate.release()
    await asyncio.gather(*tasks)
    assert order.index("bg") == FAIR_SHARE  # after FAIR_SHARE requests, its turn


async def test_background_waits_for_a_real_gap_not_a_moment_between_requests() -> None:
    from storage.gate import Requests

    requests = Requests(gap=0.05, max_yield=5)
    idle = asyncio.create_task(requests.step_aside())
    await asyncio.sleep(0)
    assert idle.done()  # nothing answered lately: no wait at all

    with requests.serving():
        pass  # a request just answered
    assert requests.busy
    started = asyncio.get_running_loop().time()
    await requests.step_aside()
    assert asyncio.get_running_loop().time() - started >= 0.04


async def test_background_steps_aside_one_at_a_time_under_a_burst_with_no_gap() -> None:
    from storage.gate import Requests

    requests = Requests(gap=0.01, max_yield=0.05)
    with requests.serving():  # a burst that leaves no gap
        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(requests.step_aside() for _ in range(3)))
        # Each waited its own max_yield in turn: a trickle, not a stampede.
        assert asyncio.get_running_loop().time() - started >= 0.14
