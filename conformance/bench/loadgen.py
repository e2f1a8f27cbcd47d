"""The load generator: closed-loop concurrency, open-loop constant and Poisson rates, in steps.

Closed loop (``concurrency``): N slots, each sending its next request the moment its previous
answer ended; a request is scheduled at that instant.

Open loop (``rate``, ``poisson``): send instants come from the arrival process alone —
``t_k = start + k/R`` or exponential gaps of mean 1/R — and never wait for answers. Every
latency is measured from the *scheduled* instant, so a server that stalls shows its stall in
the figures instead of silently slowing the arrivals down (coordinated omission). The gap
between schedule and actual send is the schedule lag, recorded for every request; a step in
which the client itself fell behind (lag p99 over the scenario's bound, send rate under the
target, or the in-flight cap reached) is flagged invalid by the metrics.

Load is split over `workers` processes (each with its own event loop — uvloop when installed —
connection pool and raw-sample shard): slots are dealt out, a rate is divided (a constant rate
interleaves the workers' instants; Poisson streams superpose into one Poisson stream of the
full rate). Worker clocks agree because `perf_counter_ns` is the system-wide monotonic clock.
Each step is bounded by its duration and its share of the request cap, then drained; a step
waits at most `timeout_s` for the last answers.
"""
from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import random
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from time import perf_counter_ns
from typing import Any, Callable

from conformance.bench.httpclient import Pool, Result
from conformance.bench.memory import RssSampler
from conformance.bench.samples import Writer, record

_START_MARGIN_NS = 200_000_000  # workers are told a start instant this far ahead
_SPIN_NS = 1_000_000  # open loop: the last stretch before a send instant is spun, not slept
_PROGRESS_EVERY_S = 0.5
_DRAIN_EVERY_S = 0.002  # finished requests become records this often ...
_DRAIN_BATCH = 8  # ... at least this many at a time (a quarter of the backlog when it is longer)


@dataclass(frozen=True)
class StepPlan:
    index: int
    pattern: str
    value: float
    duration_s: float
    max_requests: int
    warmup_s: float
    warmup_requests: int


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs; picklable. `variants` holds the request bytes."""

    index: int
    workers: int
    host: str
    port: int
    tls: bool
    variants: tuple[tuple[str, bytes], ...]  # (endpoint, HTTP request bytes)
    shard: Path
    seed: int = 0
    timeout_s: float = 60.0
    max_in_flight: int = 4096
    use_uvloop: bool = True
    stamps: bool = False
    kernel_timestamps: bool = True


@dataclass
class Counters:
    sent: int = 0
    done: int = 0
    errors: int = 0
    in_flight: int = 0
    events: int = 0
    capped: int = 0
    lag_max_us: int = 0

    def as_tuple(self) -> tuple[int, ...]:
        return (self.sent, self.done, self.errors, self.in_flight, self.events, self.capped, self.lag_max_us)


def _share(total: int, parts: int, index: int) -> int:
    """`total` dealt out over `parts`: the first `total % parts` get one more."""
    return total // parts + (1 if index < total % parts else 0)


class Worker:
    def __init__(self, spec: WorkerSpec, t0: int) -> None:
        self.spec = spec
        self.t0 = t0
        self.pool = Pool(spec.host, spec.port, tls=spec.tls, timeout_s=spec.timeout_s,
                         kernel_timestamps=spec.kernel_timestamps)
        self.writer = Writer(spec.shard)
        self.counters = Counters()
        self.k = 0  # this worker's request counter over the whole run
        self.finished: list[tuple[Result, int, int, int, str, bool]] = []
        self.drain_handle: asyncio.TimerHandle | None = None

    def close(self) -> None:
        if self.drain_handle is not None:
            self.drain_handle.cancel()
        self._drain(everything=True)
        self.pool.close()
        self.writer.close()

    async def _one(self, step: StepPlan, sched: int, n: int, warm: bool) -> None:
        c = self.counters
        spec = self.spec
        v = n % len(spec.variants)
        endpoint, wire = spec.variants[v]
        res = Result(sched)
        c.sent += 1
        c.in_flight += 1
        try:
            await self.pool.request(wire, res)
        finally:
            c.in_flight -= 1
        c.done += 1
        c.events += len(res.events)
        lag = (res.start - sched) // 1000
        if lag > c.lag_max_us:
            c.lag_max_us = lag
        if res.error is not None or res.status != 200:
            c.errors += 1
        # Turning a result into its record costs tens of µs; done at once, a burst of endings
        # would hold up the timestamps of every stream still running. So it waits for a drain
        # that runs a few at a time (see `_drain`).
        self.finished.append((res, n * spec.workers + spec.index, step.index, v, endpoint, warm))
        if self.drain_handle is None:
            self.drain_handle = asyncio.get_running_loop().call_later(_DRAIN_EVERY_S, self._drain)

    def _drain(self, everything: bool = False) -> None:
        self.drain_handle = None
        todo = self.finished
        batch = len(todo) if everything else max(_DRAIN_BATCH, len(todo) // 4)
        spec = self.spec
        for res, i, step, v, endpoint, warm in todo[:batch]:
            self.writer.add(record(res, i=i, step=step, worker=spec.index, variant=v, endpoint=endpoint, t0=self.t0,
                                   warm=warm, stamps=spec.stamps))
        del todo[:batch]
        if todo:
            self.drain_handle = asyncio.get_running_loop().call_later(_DRAIN_EVERY_S, self._drain)

    def _warm(self, step: StepPlan, sched: int, start: int, n_in_step: int) -> bool:
        global_n = n_in_step * self.spec.workers + self.spec.index
        return sched < start + int(step.warmup_s * 1e9) or global_n < step.warmup_requests

    async def run_step(self, step: StepPlan, start: int) -> dict[str, Any]:
        """Run one step from the instant `start`; returns when sending stopped and all answers are in."""
        spec = self.spec
        cap = _share(step.max_requests, spec.workers, spec.index)
        end = start + int(step.duration_s * 1e9)
        delay = (start - perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        if step.pattern == "concurrency":
            stop, capped = await self._closed(step, start, end, cap)
        else:
            stop, capped = await self._open(step, start, end, cap)
        if self.drain_handle is not None:
            self.drain_handle.cancel()
        self._drain(everything=True)
        self.writer.flush()
        return {"stop": stop, "drained": perf_counter_ns(), "capped": capped}

    async def _closed(self, step: StepPlan, start: int, end: int, cap: int) -> tuple[int, int]:
        slots = _share(int(step.value), self.spec.workers, self.spec.index)
        budget = [cap]
        n_step = [0]
        last_send = [start]

        async def slot() -> None:
            sched = max(start, perf_counter_ns())
            while budget[0] > 0 and sched < end:
                budget[0] -= 1
                n = n_step[0]
                n_step[0] += 1
                last_send[0] = sched
                await self._one(step, sched, self.k + n, self._warm(step, sched, start, n))
                sched = perf_counter_ns()

        await asyncio.wait_for(asyncio.gather(*(slot() for _ in range(slots))),
                               step.duration_s + self.spec.timeout_s + 10)
        self.k += n_step[0]
        return last_send[0], 0

    async def _open(self, step: StepPlan, start: int, end: int, cap: int) -> tuple[int, int]:
        spec = self.spec
        rate = step.value
        rng = random.Random(f"{spec.seed}/{step.index}/{spec.index}")
        limit = max(1, _share(spec.max_in_flight, spec.workers, spec.index))
        tasks: set[asyncio.Task[None]] = set()
        free = asyncio.Event()
        capped = 0
        t = start
        n = 0
        last_send = start

        def done(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            free.set()

        while n < cap:
            if step.pattern == "poisson":
                t += int(rng.expovariate(rate / spec.workers) * 1e9)
            else:
                t = start + int((n * spec.workers + spec.index) * 1e9 / rate)
            if t >= end:
                break
            wait_ns = t - perf_counter_ns()
            if wait_ns > _SPIN_NS:
                await asyncio.sleep((wait_ns - _SPIN_NS) / 1e9)
            while perf_counter_ns() < t:
                await asyncio.sleep(0)
            while len(tasks) >= limit:  # the client's own limit: the lag this causes is counted
                capped += 1
                free.clear()
                await free.wait()
            task = asyncio.get_running_loop().create_task(
                self._one(step, t, self.k + n, self._warm(step, t, start, n)))
            tasks.add(task)
            task.add_done_callback(done)
            last_send = t
            n += 1
        if tasks:
            await asyncio.wait(set(tasks), timeout=spec.timeout_s + 5)
        for task in list(tasks):
            task.cancel()
        self.k += n
        self.counters.capped += capped
        return last_send, capped


def _quiet_gc() -> None:
    """Keep the cyclic garbage collector from pausing the loop mid-run.

    A full collection over a run's live objects takes milliseconds, and every stream's
    timestamps wait for it. What exists at start is frozen out of collection and the young
    generation threshold raised; cycles are still collected, just rarely.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _install_uvloop(wanted: bool) -> bool:
    if not wanted:
        return False
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


# ----------------------------------------------------------------------------- worker process


def _worker_main(conn: Connection, spec: WorkerSpec) -> None:
    """A worker process: wait for ("step", plan, start) messages; report progress and results."""
    _install_uvloop(spec.use_uvloop)
    _quiet_gc()
    try:
        asyncio.run(_worker_loop(conn, spec))
    except KeyboardInterrupt:
        pass
    except BaseException as exc:  # reported to the parent, which stops the run
        try:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass
    finally:
        conn.close()


async def _worker_loop(conn: Connection, spec: WorkerSpec) -> None:
    t0 = conn.recv()
    worker = Worker(spec, t0)
    loop = asyncio.get_running_loop()
    conn.send(("ready",))
    try:
        while True:
            message = await loop.run_in_executor(None, conn.recv)
            if message[0] != "step":
                break
            _, plan, start = message
            reporter = loop.create_task(_report(conn, worker))
            try:
                summary = await worker.run_step(plan, start)
            finally:
                reporter.cancel()
            conn.send(("done", worker.counters.as_tuple(), summary))
    finally:
        worker.close()


async def _report(conn: Connection, worker: Worker) -> None:
    while True:
        await asyncio.sleep(_PROGRESS_EVERY_S)
        conn.send(("progress", worker.counters.as_tuple()))


# ----------------------------------------------------------------------------- orchestration


@dataclass
class StepOutcome:
    plan: StepPlan
    start: int
    stop: int
    drained: int
    capped: int
    sent: int


@dataclass
class LoadOutcome:
    t0: int
    steps: list[StepOutcome] = field(default_factory=list)
    shards: list[Path] = field(default_factory=list)
    uvloop: bool = False
    interrupted: bool = False
    memory: dict[str, Any] = field(default_factory=dict)  # RssSampler.as_dict() of the client's processes


ProgressFn = Callable[[StepPlan, float, Counters], None]


def run_load(specs: list[WorkerSpec], plans: list[StepPlan], *, in_process: bool | None = None,
             progress: ProgressFn | None = None) -> LoadOutcome:
    """Run every step on every worker; in this process when there is one worker (unless told)."""
    if in_process is None:
        in_process = len(specs) == 1
    if in_process:
        if len(specs) != 1:
            raise ValueError("in-process runs have exactly one worker")
        return _run_in_process(specs[0], plans, progress)
    return _run_processes(specs, plans, progress)


def _run_in_process(spec: WorkerSpec, plans: list[StepPlan], progress: ProgressFn | None) -> LoadOutcome:
    uv = _install_uvloop(spec.use_uvloop)
    outcome = LoadOutcome(t0=0, shards=[spec.shard], uvloop=uv)
    thresholds = gc.get_threshold()
    _quiet_gc()

    async def go() -> None:
        outcome.t0 = perf_counter_ns() + _START_MARGIN_NS // 4
        worker = Worker(spec, outcome.t0)
        rss = RssSampler({"client": os.getpid()}, outcome.t0)
        try:
            for plan in plans:
                start = outcome.t0 if plan.index == 0 else perf_counter_ns() + _START_MARGIN_NS // 4
                before = worker.counters.sent
                task = asyncio.get_running_loop().create_task(worker.run_step(plan, start))
                while not task.done():
                    await asyncio.wait({task}, timeout=_PROGRESS_EVERY_S)
                    rss.poll()
                    if progress is not None:
                        progress(plan, (perf_counter_ns() - start) / 1e9, worker.counters)
                summary = task.result()
                outcome.steps.append(StepOutcome(plan, start, summary["stop"], summary["drained"],
                                                 summary["capped"], worker.counters.sent - before))
        finally:
            worker.close()
            rss.poll(force=True)
            outcome.memory = rss.as_dict()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        if uv:
            asyncio.set_event_loop_policy(None)
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    return outcome


def _run_processes(specs: list[WorkerSpec], plans: list[StepPlan], progress: ProgressFn | None) -> LoadOutcome:
    ctx = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    procs = []
    outcome = LoadOutcome(t0=0, shards=[s.shard for s in specs], uvloop=specs[0].use_uvloop)
    try:
        for spec in specs:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(child, spec), name=f"bench-worker-{spec.index}",
                               daemon=True)
            proc.start()
            child.close()
            pipes.append(parent)
            procs.append(proc)
        outcome.t0 = perf_counter_ns() + 10 * _START_MARGIN_NS  # spawning takes a moment
        rss = RssSampler({"orchestrator": os.getpid()} | {f"worker {s.index}": p.pid for s, p in zip(specs, procs)
                                                         if p.pid is not None}, outcome.t0)
        for pipe in pipes:
            pipe.send(outcome.t0)
        for pipe in pipes:
            _expect(pipe, "ready", 60)
        for plan in plans:
            start = max(outcome.t0, perf_counter_ns() + _START_MARGIN_NS)
            for pipe in pipes:
                pipe.send(("step", plan, start))
            latest: dict[int, tuple[int, ...]] = {}
            summaries: dict[int, dict[str, Any]] = {}
            deadline = time.monotonic() + plan.duration_s + specs[0].timeout_s + 30
            while len(summaries) < len(pipes):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"workers did not finish step {plan.index} in time")
                for pipe in wait(pipes, timeout=_PROGRESS_EVERY_S):
                    i = pipes.index(pipe)  # type: ignore[arg-type]
                    try:
                        message = pipe.recv()  # type: ignore[union-attr]
                    except EOFError:
                        raise RuntimeError(f"bench worker {i} exited unexpectedly") from None
                    if message[0] == "progress":
                        latest[i] = message[1]
                    elif message[0] == "done":
                        latest[i] = message[1]
                        summaries[i] = message[2]
                    elif message[0] == "error":
                        raise RuntimeError(f"bench worker {i}: {message[1]}")
                rss.poll()
                if progress is not None and latest:
                    progress(plan, (perf_counter_ns() - start) / 1e9, _sum(latest.values()))
            before = sum(o.sent for o in outcome.steps)
            total = _sum(latest.values())
            outcome.steps.append(StepOutcome(
                plan, start, max(s["stop"] for s in summaries.values()), max(s["drained"] for s in summaries.values()),
                sum(s["capped"] for s in summaries.values()), total.sent - before))
        rss.poll(force=True)  # the workers still hold everything they built
        outcome.memory = rss.as_dict()
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        for pipe in pipes:
            try:
                pipe.send(("stop",))
            except OSError:
                pass
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        for pipe in pipes:
            pipe.close()
    return outcome


def _expect(pipe: Connection, kind: str, timeout_s: float) -> None:
    if not pipe.poll(timeout_s):
        raise RuntimeError(f"bench worker sent no {kind!r} within {timeout_s:g} s")
    message = pipe.recv()
    if message[0] == "error":
        raise RuntimeError(f"bench worker: {message[1]}")
    if message[0] != kind:
        raise RuntimeError(f"bench worker: expected {kind!r}, got {message[0]!r}")


def _sum(rows: Any) -> Counters:
    total = Counters()
    for row in rows:
        sent, done, errors, in_flight, events, capped, lag = row
        total.sent += sent
        total.done += done
        total.errors += errors
        total.in_flight += in_flight
        total.events += events
        total.capped += capped
        total.lag_max_us = max(total.lag_max_us, lag)
    return total


class ProgressLine:
    """One self-overwriting status line on stderr (a plain line every few seconds when not a TTY)."""

    def __init__(self, total_steps: int, stream: Any = None) -> None:
        self.total = total_steps
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_plain = 0.0
        self._prev: tuple[float, int] | None = None
        self._step = -1

    def __call__(self, plan: StepPlan, elapsed: float, c: Counters) -> None:
        if plan.index != self._step:
            self._step, self._prev = plan.index, None
        rate = 0.0
        if self._prev is not None and elapsed > self._prev[0]:
            rate = (c.done - self._prev[1]) / (elapsed - self._prev[0])
        self._prev = (elapsed, c.done)
        label = (f"concurrency {int(plan.value)}" if plan.pattern == "concurrency"
                 else f"{plan.pattern} {plan.value:g}/s")
        line = (f"step {plan.index + 1}/{self.total} {label}: {min(elapsed, plan.duration_s):5.1f}/"
                f"{plan.duration_s:g}s  sent {c.sent}  done {c.done}  errors {c.errors}  in flight "
                f"{c.in_flight}  {rate:7.1f} req/s  max lag {c.lag_max_us / 1000:.1f} ms")
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self.stream.flush()
        elif time.monotonic() - self._last_plain >= 5 or elapsed <= _PROGRESS_EVERY_S * 1.5:
            self._last_plain = time.monotonic()
            self.stream.write(line + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def plans_for(scenario: Any) -> list[StepPlan]:
    ld = scenario.load
    return [StepPlan(s.index, s.pattern, s.value, ld.duration_s, ld.max_requests, ld.warmup_s, ld.warmup_requests)
            for s in ld.steps()]


def cpu_count() -> int:
    return os.cpu_count() or 1


__all__ = ["LoadOutcome", "ProgressLine", "StepOutcome", "StepPlan", "WorkerSpec", "plans_for", "run_load"]
