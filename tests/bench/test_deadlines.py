"""`Deadlines`: callbacks run in deadline order, never before their instant, and not once cancelled."""
from __future__ import annotations

import asyncio
from time import perf_counter_ns

from conformance.bench.deadlines import Deadlines, tighten_timer_slack


def test_runs_in_order_never_early_and_skips_cancelled():
    fired: list[tuple[str, int, int]] = []

    async def go() -> None:
        loop = asyncio.get_running_loop()
        clock = Deadlines(loop)
        t0 = perf_counter_ns()
        done = loop.create_future()
        plan = {"c": 9_000_000, "a": 1_000_000, "b": 4_000_000, "x": 5_000_000, "now": 0}
        for name, offset in plan.items():
            entry = clock.at(t0 + offset, lambda n, due: fired.append((n, due, perf_counter_ns())), name, t0 + offset)
            if name == "x":
                entry.cancel()
        # scheduled from inside a callback, earlier than what is pending: still in order
        clock.at(t0 + 2_000_000, lambda: clock.at(t0 + 3_000_000, fired.append, ("nested", t0 + 3_000_000, 0)))
        clock.at(t0 + 10_000_000, done.set_result, None)
        await done

    asyncio.run(go())
    assert [f[0] for f in fired] == ["now", "a", "nested", "b", "c"]
    assert all(at >= due for _, due, at in fired if at)


def test_timer_slack_is_set_or_reported_unavailable():
    assert tighten_timer_slack() in (True, False)
