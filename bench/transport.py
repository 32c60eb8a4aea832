"""Benchmark: what AsyncResilientTransport adds under the openai SDK, against the same server.

One run, one FakeLLMServer on 127.0.0.1 (in a child process, so the server does not compete
with the client for the interpreter), sequential calls over keep-alive connections. Two
``openai.AsyncOpenAI`` clients, interleaved round by round:

  httpx2 default     ``http_client=httpx2.AsyncClient()`` (httpx2's own transport; the baseline)
  vex transport      ``http_client=httpx2.AsyncClient(transport=AsyncResilientTransport())``

Both with ``max_retries=0`` (nothing fails here; it only keeps the rows alike). Each row makes
plain calls and streamed calls of ``--words`` chunks. Printed: p50 and p99 per plain call and
per stream, the p50 the transport adds per call, and per streamed chunk: the p50 it adds
per stream, less the per-call addition, divided by the chunks.

``--in-process``: no server and no socket; both rows' innermost transport answers from
memory (a completion, or an SSE body of one event per read), so only the client side's CPU
is compared: steadier on a busy machine, where the socket rows' differences drown in noise.

Run: .venv/bin/python bench/transport.py [--calls N] [--rounds R] [--words W] [--in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx2
import openai

from providers import measure, p99, serve  # bench/ is the script's folder: on sys.path
from vex_llm.transport import AsyncResilientTransport

MODEL = "bench-model"
Call = Callable[[], Awaitable[object]]


def calls_of(client: openai.AsyncOpenAI, words: int) -> tuple[Call, Call]:
    """A plain call and a streamed call (``words`` chunks) through ``client``."""
    short = [{"role": "user", "content": "Summarise circuit breakers."}]
    long = [{"role": "user", "content": " ".join(f"w{i}" for i in range(words))}]

    async def plain() -> object:
        done = await client.chat.completions.create(model=MODEL, messages=short)  # type: ignore[arg-type]
        return done.choices[0].message.content

    async def streamed() -> object:
        stream = await client.chat.completions.create(model=MODEL, messages=long, stream=True)  # type: ignore[arg-type]
        count = 0
        async for _ in stream:
            count += 1
        return count

    return plain, streamed


class InMemory(httpx2.AsyncBaseTransport):
    """Answers a completion or a stream of ``words`` chunks from memory, one event per read."""

    def __init__(self, words: int) -> None:
        head = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
        self._events = [
            b"data: " + json.dumps(head | {"choices": [{"index": 0, "delta": delta}]}).encode()
            for delta in [{"role": "assistant", "content": ""}]
            + [{"content": f"w{i} "} for i in range(words)]
        ]
        finish = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        self._events += [b"data: " + json.dumps(head | finish).encode(), b"data: [DONE]"]
        self._events = [event + b"\n\n" for event in self._events]
        message = {"role": "assistant", "content": "Circuit breakers stop calls to a sick service."}
        self._completion = json.dumps(
            {
                "id": "c1",
                "object": "chat.completion",
                "created": 1,
                "model": MODEL,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
        ).encode()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if b'"stream":true' not in (await request.aread()).replace(b" ", b""):
            return httpx2.Response(
                200, headers={"content-type": "application/json"}, content=self._completion
            )
        return httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, stream=_Events(self._events)
        )


class _Events(httpx2.AsyncByteStream):
    def __init__(self, events: list[bytes]) -> None:
        self._events = events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for event in self._events:
            yield event


async def run(base_url: str, calls: int, rounds: int, words: int, in_process: bool) -> None:
    def inner() -> httpx2.AsyncBaseTransport:
        return InMemory(words) if in_process else httpx2.AsyncHTTPTransport()

    clients = {
        "httpx2 default": openai.AsyncOpenAI(
            base_url=base_url,
            api_key="bench",
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=inner()),
        ),
        "vex transport": openai.AsyncOpenAI(
            base_url=base_url,
            api_key="bench",
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=AsyncResilientTransport(transport=inner())),
        ),
    }
    rows = {name: calls_of(client, words) for name, client in clients.items()}
    plain: dict[str, list[float]] = {name: [] for name in rows}
    streams: dict[str, list[float]] = {name: [] for name in rows}
    try:
        for one, many in rows.values():  # warm up: connections, caches, first-call imports
            await measure(one, 100)
            await measure(many, 10)
        per_round = max(1, calls // rounds)
        for _ in range(rounds):
            for name, (one, many) in rows.items():
                plain[name] += await measure(one, per_round)
                streams[name] += await measure(many, max(1, per_round // 10))
    finally:
        for client in clients.values():
            await client.close()
    print(f"{per_round * rounds} plain calls and {len(streams['vex transport'])} streams of")
    where = "in process, no socket" if in_process else "server in a child"
    print(f"{words} chunks per row, {rounds} interleaved rounds, {where}")
    header = f"{'row':<16} {'call p50 µs':>12} {'call p99 µs':>12} {'stream p50 µs':>14}"
    print(header)
    print("-" * len(header))
    for name in rows:
        print(
            f"{name:<16} {statistics.median(plain[name]) * 1e6:>12.0f} "
            f"{p99(plain[name]) * 1e6:>12.0f} {statistics.median(streams[name]) * 1e6:>14.0f}"
        )
    call_added = statistics.median(plain["vex transport"]) - statistics.median(
        plain["httpx2 default"]
    )
    stream_added = statistics.median(streams["vex transport"]) - statistics.median(
        streams["httpx2 default"]
    )
    per_chunk = (stream_added - call_added) / words
    print(f"added p50 per call: {call_added * 1e6:+.0f} µs")
    print(f"added p50 per streamed chunk: {per_chunk * 1e6:+.2f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="plain calls per row")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--words", type=int, default=200, help="chunks per stream")
    parser.add_argument("--in-process", action="store_true", help="no server: answers from memory")
    args = parser.parse_args()
    if args.in_process:
        asyncio.run(run("http://bench.invalid/v1", args.calls, args.rounds, args.words, True))
        return
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(child,), daemon=True)
    server.start()
    try:
        base_url = parent.recv()
        asyncio.run(run(base_url, args.calls, args.rounds, args.words, False))
    finally:
        parent.send("stop")
        server.join(10)


if __name__ == "__main__":
    main()
