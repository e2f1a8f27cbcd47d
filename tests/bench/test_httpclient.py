"""The lean client: HTTP/1.1 framing split anywhere, SSE events timed per read, failures as kinds."""
from __future__ import annotations

import asyncio
from time import perf_counter_ns

import pytest

from conformance.bench.httpclient import Pool, Result
from tests.bench.conftest import scripted_server

REQUEST = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


def run(host: str, port: int, n: int = 1, timeout_s: float = 5.0) -> tuple[list[Result], int]:
    async def go() -> tuple[list[Result], int]:
        pool = Pool(host, port, timeout_s=timeout_s)
        results = []
        for _ in range(n):
            results.append(await pool.request(REQUEST, Result(perf_counter_ns())))
        pool.close()
        return results, pool.opened
    return asyncio.run(go())


async def _read_request(reader: asyncio.StreamReader) -> bool:
    try:
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(2)
        return True
    except (asyncio.IncompleteReadError, ConnectionError):
        return False


def sse_script(pieces: list[bytes], pause_s: float = 0.0):
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await _read_request(reader):
            for piece in pieces:
                writer.write(piece)
                await writer.drain()
                if pause_s:
                    await asyncio.sleep(pause_s)
        writer.close()
    return script


EVENTS = [b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n',
          b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n',
          b"data: [DONE]\n\n"]


def chunked(events: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("split", [1, 3, 7, 1000])
def test_chunked_sse_split_anywhere(loop_thread, split) -> None:
    wire = HEAD + chunked(EVENTS)
    pieces = [wire[i:i + split] for i in range(0, len(wire), split)]
    host, port = scripted_server(loop_thread, sse_script(pieces))
    (res,), _ = run(host, port)
    assert res.error is None and res.status == 200 and res.sse
    assert [e for _, e in res.events] == EVENTS
    times = [t for t, _ in res.events]
    assert res.sched <= res.start <= res.hdr <= times[0] <= times[-1] <= res.end


def test_each_event_is_timed_when_its_read_arrives(loop_thread) -> None:
    pieces = [HEAD] + [b"%x\r\n%s\r\n" % (len(e), e) for e in EVENTS] + [b"0\r\n\r\n"]
    host, port = scripted_server(loop_thread, sse_script(pieces, pause_s=0.03))
    (res,), _ = run(host, port)
    gaps = [(b - a) / 1e6 for (a, _), (b, _) in zip(res.events, res.events[1:])]
    assert all(g >= 10 for g in gaps), gaps  # the 30 ms pauses show: the reads were not batched
    assert (res.events[-1][0] - res.events[0][0]) / 1e6 >= 50


def test_crlf_event_separators(loop_thread) -> None:
    events = [e.replace(b"\n", b"\r\n") for e in EVENTS]
    host, port = scripted_server(loop_thread, sse_script([HEAD + chunked(events)]))
    (res,), _ = run(host, port)
    assert [e for _, e in res.events] == events


def test_content_length_body_and_keep_alive_reuse(loop_thread) -> None:
    body = b'{"usage":{"prompt_tokens":3,"completion_tokens":5}}'
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
    host, port = scripted_server(loop_thread, sse_script([head, body]))
    results, opened = run(host, port, n=3)
    assert [bytes(r.body) for r in results] == [body] * 3
    assert not results[0].sse and all(r.error is None for r in results)
    assert opened == 1  # one connection, kept alive
    assert results[0].connected and not results[1].connected


def test_error_status_is_recorded(loop_thread) -> None:
    body = b'{"error":{"message":"slow down"}}'
    head = b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
    host, port = scripted_server(loop_thread, sse_script([head, body]))
    (res,), _ = run(host, port)
    assert res.status == 429 and res.error is None  # the status is the finding; the record names it


def test_disconnect_mid_stream(loop_thread) -> None:
    async def script(reader, writer):
        await _read_request(reader)
        writer.write(HEAD + b"%x\r\n%s\r\n" % (len(EVENTS[0]), EVENTS[0]))
        await writer.drain()
        writer.close()
    host, port = scripted_server(loop_thread, script)
    (res,), _ = run(host, port)
    assert res.error == "disconnected" and len(res.events) == 1 and res.end >= res.start


def test_timeout(loop_thread) -> None:
    async def script(reader, writer):
        await _read_request(reader)
        writer.write(HEAD)
        await asyncio.sleep(2)
        writer.close()
    host, port = scripted_server(loop_thread, script)
    (res,), _ = run(host, port, timeout_s=0.2)
    assert res.error == "timeout"
    assert 0.15 <= (res.end - res.start) / 1e9 < 1.5


def test_connection_refused() -> None:
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    (res,), _ = run("127.0.0.1", port)
    assert res.error == "connect-error" and res.status == 0


def test_malformed_status_line(loop_thread) -> None:
    host, port = scripted_server(loop_thread, sse_script([b"HTTP/1.1 OK-ish\r\n\r\n"]))
    (res,), _ = run(host, port)
    assert res.error == "bad-response"


def test_arrival_moves_the_kernel_stamp_onto_the_monotonic_clock_within_bounds() -> None:
    import socket
    import struct
    from time import time_ns

    from conformance.bench.httpclient import _SO_TIMESTAMPNS, arrival, clock_offset

    now = perf_counter_ns()
    real = time_ns() - 3_000_000  # the kernel says: 3 ms ago
    anc = [(socket.SOL_SOCKET, _SO_TIMESTAMPNS, struct.pack("qq", real // 10**9, real % 10**9))]
    at = arrival(anc, now, 0)
    assert 2_500_000 <= now - at <= 4_000_000
    assert arrival(anc, now, now - 1_000_000) == now - 1_000_000  # never before the floor
    assert arrival([], now, 0) == now  # no stamp: the read's own instant
    future = time_ns() + 10**9
    stamp = [(socket.SOL_SOCKET, _SO_TIMESTAMPNS, struct.pack("qq", future // 10**9, future % 10**9))]
    assert arrival(stamp, now, 0) == now  # never after the read
    assert abs(clock_offset() - (time_ns() - perf_counter_ns())) < 5_000_000


def test_a_keep_alive_connection_the_server_drops_is_replaced_not_counted_as_an_error(loop_thread) -> None:
    # As llama.cpp's HTTP library does: one answer per connection, then it hangs up on the next
    # request without a word (no `Connection: close` to warn the client).
    async def script(reader, writer):
        if await _read_request(reader):
            writer.write(HEAD + chunked(EVENTS))
            await writer.drain()
        await _read_request(reader)
        writer.close()
    host, port = scripted_server(loop_thread, script)

    async def go() -> tuple[list[Result], Pool]:
        pool = Pool(host, port, timeout_s=5.0)
        results = [await pool.request(REQUEST, Result(perf_counter_ns())) for _ in range(3)]
        pool.close()
        return results, pool

    results, pool = asyncio.run(go())
    assert [r.error for r in results] == [None] * 3 and [r.status for r in results] == [200] * 3
    assert all([e for _, e in r.events] == EVENTS for r in results)
    assert pool.stale == 2 and pool.opened == 3 and not any(r.retries for r in results)
