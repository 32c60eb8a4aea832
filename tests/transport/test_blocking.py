"""vex_llm.blocking(): providers and stacks from plain threads, over MockProvider and sockets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from _transport_kit import run_script

import vex_llm
from vex_llm import (
    BlockingProvider,
    LlmProvider,
    LlmRequest,
    LlmResponse,
    MockProvider,
    NotAvailable,
    OpenAIProvider,
    StreamChunk,
    blocking,
)
from vex_llm.testing import FakeLLMServer

REQUEST = LlmRequest.from_prompt("What is 2 + 3?")


class Gate(LlmProvider):
    """Answers only once ``width`` calls are in flight together; records what it saw."""

    def __init__(self, width: int = 1) -> None:
        self.width = width
        self.in_flight = 0
        self.threads: set[str] = set()
        self.deadlines: list[float] = []
        self.stream_closed = False
        self.chunks_sent = 0
        self._all_in: asyncio.Event | None = None

    @property
    def name(self) -> str:
        return "gate"

    async def complete(self, request: LlmRequest) -> LlmResponse:
        self.threads.add(threading.current_thread().name)
        self.deadlines.append(vex_llm.time_left())
        if self._all_in is None:
            self._all_in = asyncio.Event()
        self.in_flight += 1
        if self.in_flight >= self.width:
            self._all_in.set()
        await asyncio.wait_for(self._all_in.wait(), 10.0)
        return LlmResponse("ok", provider=self.name, finish_reason="stop")

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        try:
            for i in range(100):
                self.chunks_sent += 1
                yield StreamChunk(f"w{i} ")
            yield StreamChunk("", finish_reason="stop")
        finally:
            self.stream_closed = True


@pytest.fixture
def mock() -> Iterator[BlockingProvider]:
    """A facade over ``MockProvider.smart()``, closed after the test."""
    with blocking(MockProvider.smart()) as llm:
        yield llm


def test_complete_and_ask_block_and_return_the_answer(mock: BlockingProvider) -> None:
    """complete() and ask() return what the provider answers, without an event loop."""
    assert mock.complete(REQUEST).content == "5"
    assert mock.ask("What is 2 * 4?") == "8"
    assert mock.is_available() is True
    assert mock.name == "mock"


def test_errors_reach_the_caller_as_their_own_type() -> None:
    """A provider's LlmError is raised as it is, in the calling thread."""
    with blocking(MockProvider.failing(NotAvailable("down"))) as llm, pytest.raises(NotAvailable):
        llm.ask("hi")


def test_stream_is_a_plain_iterator(mock: BlockingProvider) -> None:
    """stream() yields every chunk in order; the last carries the finish reason."""
    chunks = list(mock.stream(LlmRequest.from_prompt("tell me about a circuit breaker")))
    assert "".join(c.delta for c in chunks).startswith("A circuit breaker stops")
    assert chunks[-1].finish_reason == "stop"


def test_leaving_a_stream_early_closes_the_providers_stream() -> None:
    """A break out of the loop closes the provider's stream at once, not at close()."""
    gate = Gate()
    with blocking(gate) as llm:
        for i, _ in enumerate(llm.stream(REQUEST)):
            if i == 2:
                break
        assert gate.stream_closed
        assert gate.chunks_sent == 3


def test_closing_the_iterator_closes_the_providers_stream() -> None:
    """close() on a half-read iterator closes the provider's stream."""
    gate = Gate()
    with blocking(gate) as llm:
        chunks = llm.stream(REQUEST)
        next(chunks)
        chunks.close()
        assert gate.stream_closed


def test_calls_from_many_threads_run_at_once_on_one_loop() -> None:
    """Sixteen threads block together: their calls overlap on the facade's one loop thread."""
    gate = Gate(width=16)
    with blocking(gate) as llm, ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: llm.complete(REQUEST).content, range(16)))
    assert answers == ["ok"] * 16
    assert len(gate.threads) == 1
    assert gate.threads.pop().startswith("vex-llm blocking(gate)")


def test_the_callers_deadline_travels_with_the_call() -> None:
    """vex_llm.deadline() around a blocking call bounds it on the loop thread too."""
    gate = Gate()
    with blocking(gate) as llm:
        with vex_llm.deadline(5.0):
            llm.complete(REQUEST)
        llm.complete(REQUEST)
    inside, outside = gate.deadlines
    assert 0 < inside <= 5.0
    assert outside == float("inf")


def test_close_closes_the_provider_and_refuses_later_calls() -> None:
    """close() closes the provider, ends the loop thread; later calls raise RuntimeError."""
    provider = MockProvider.smart()
    llm = blocking(provider)
    llm.ask("hi")
    llm.close()
    llm.close()
    assert provider.closed
    assert llm.closed
    with pytest.raises(RuntimeError, match="closed"):
        llm.ask("hi")
    with pytest.raises(RuntimeError, match="closed"):
        llm.stream(REQUEST)


def test_a_facade_that_is_collected_closes_its_provider() -> None:
    """An unclosed facade that goes out of scope closes its provider and stops its thread."""
    provider = MockProvider.smart()
    llm = blocking(provider)
    llm.ask("hi")
    thread_names = {t.name for t in threading.enumerate()}
    assert "vex-llm blocking(mock)" in thread_names
    del llm
    assert provider.closed
    assert "vex-llm blocking(mock)" not in {t.name for t in threading.enumerate()}


def test_a_non_provider_is_refused() -> None:
    """blocking() takes an LlmProvider; anything else is a TypeError."""
    with pytest.raises(TypeError, match="LlmProvider"):
        blocking("openai")  # type: ignore[arg-type]  # the misuse under test
    with pytest.raises(ValueError, match="close_timeout"):
        blocking(MockProvider.smart(), close_timeout=-1.0)


@pytest.mark.fake_server
def test_a_stack_over_a_real_socket_from_threads(fake_llm_server: FakeLLMServer) -> None:
    """A stack() around an OpenAIProvider answers and streams over loopback from 8 threads."""
    provider = OpenAIProvider("fake-1", base_url=fake_llm_server.base_url, api_key="sk-test")
    with blocking(vex_llm.stack([provider])) as llm, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: llm.ask(f"n{i}"), range(16)))
        chunks = list(llm.stream(LlmRequest.from_prompt("one two three")))
    assert answers == [f"You said: n{i}" for i in range(16)]
    assert "".join(c.delta for c in chunks) == "You said: one two three"
    assert chunks[-1].finish_reason == "stop"


_NEVER_CLOSED = """
    import vex_llm
    from vex_llm import LlmRequest, OpenAIProvider
    from vex_llm.testing import FakeLLMServer

    class Loud(vex_llm.ProviderWrapper):
        async def complete(self, request):
            return await self.inner.complete(request)

        def stream(self, request):
            return self.inner.stream(request)

        async def aclose(self):
            await super().aclose()
            print("provider closed", flush=True)

    with FakeLLMServer() as server:
        provider = OpenAIProvider("fake-1", base_url=server.base_url, api_key="sk-test")
        llm = vex_llm.blocking(vex_llm.stack([Loud(provider)]))
        print(llm.ask("hi"), flush=True)
        half_read = llm.stream(LlmRequest.from_prompt("a b c d e f"))
        print(next(half_read).delta, flush=True)
    # Neither the facade nor its stream is closed, and the server is gone.
"""


@pytest.mark.fake_server
def test_a_facade_never_closed_lets_the_interpreter_exit_cleanly() -> None:
    """An unclosed facade with a half-read stream: the process exits 0, closes the provider,
    and prints no warning or 'Exception ignored'."""
    done = run_script(_NEVER_CLOSED)
    assert done.stderr == ""
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["You said: hi", "You ", "provider closed"]
