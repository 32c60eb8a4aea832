"""ResilientTransport under the real sync openai and anthropic clients, from many threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import anthropic
import httpx2
import openai
import pytest
from _transport_kit import run_script

import vex_llm
from vex_llm import CircuitConfig, CircuitState, RetryConfig, TimeoutConfig
from vex_llm.testing import FakeLLMServer, Fault
from vex_llm.transport import ResilientTransport, Upstream

pytestmark = pytest.mark.fake_server

HI = [{"role": "user", "content": "hi"}]
MODEL = "fake-1"


def client_for(server: FakeLLMServer, transport: ResilientTransport) -> openai.OpenAI:
    """A sync SDK client over ``transport`` (SDK retries left at their default)."""
    return openai.OpenAI(
        base_url=server.base_url,
        api_key="sk-test",
        http_client=httpx2.Client(transport=transport),
    )


def ask(client: openai.OpenAI, prompt: str = "hi") -> str | None:
    """One non-streamed question; the answer's text."""
    done = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
    )
    return done.choices[0].message.content


def test_sync_client_answers_and_streams(fake_llm_server: FakeLLMServer) -> None:
    """A sync client answers and streams through the transport, marked with its upstream."""
    with client_for(fake_llm_server, ResilientTransport()) as client:
        raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=HI)  # type: ignore[arg-type]
        assert raw.parse().choices[0].message.content == "You said: hi"
        assert raw.headers["x-vex-upstream"] == fake_llm_server.base_url
        stream = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "one two three"}],
            stream=True,  # type: ignore[arg-type]
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "You said: one two three"


def test_many_threads_share_one_circuit_exactly(fake_llm_server: FakeLLMServer) -> None:
    """16 threads over one sync client: every failure counts once, the circuit opens at its
    threshold, and the upstream sees exactly the threshold's requests."""
    fake_llm_server.inject(Fault.error(503))
    transport = ResilientTransport(
        circuit=CircuitConfig(failure_threshold=8, reset_timeout=60.0),
        retry=RetryConfig(attempts=1),
    )

    def call(_: int) -> int:
        try:
            ask(client)
        except openai.InternalServerError as exc:
            return exc.status_code
        return 200

    with client_for(fake_llm_server, transport) as client, ThreadPoolExecutor(16) as pool:
        for _ in range(8):  # one by one until the circuit opens
            call(0)
        statuses = list(pool.map(call, range(32)))
    assert statuses == [503] * 32
    assert len(fake_llm_server.journal) == 8
    circuit = transport.circuits[f"{fake_llm_server.base_url} {MODEL}"]
    assert circuit.circuit_state is CircuitState.OPEN
    assert circuit.stats().total_failures == 8


def test_answers_from_many_threads(fake_llm_server: FakeLLMServer) -> None:
    """Concurrent calls from 8 threads all get their own answers."""
    with client_for(fake_llm_server, ResilientTransport()) as client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: ask(client, f"n{i}"), range(24)))
    assert answers == [f"You said: n{i}" for i in range(24)]


def test_sync_retries_are_not_multiplied(fake_llm_server: FakeLLMServer) -> None:
    """Always 503: 3 upstream requests (the transport's), not 3 x the SDK's 3."""
    fake_llm_server.inject(Fault.error(503))
    transport = ResilientTransport()
    with (
        client_for(fake_llm_server, transport) as client,
        pytest.raises(openai.InternalServerError),
    ):
        ask(client)
    assert len(fake_llm_server.journal) == 3


def test_sync_fallback_and_deadline(fake_llm_server: FakeLLMServer) -> None:
    """A hanging primary, a deadline: 504 deadline_exceeded; with an upstream it answers."""
    fake_llm_server.inject(Fault.hang())
    with (
        client_for(fake_llm_server, ResilientTransport()) as client,
        pytest.raises(openai.InternalServerError) as caught,
        vex_llm.deadline(0.3),
    ):
        ask(client)
    assert caught.value.response.headers["x-vex-reason"] == "deadline_exceeded"
    with FakeLLMServer() as backup:
        transport = ResilientTransport(
            [Upstream(backup.base_url)], timeouts=TimeoutConfig(attempt_timeout=0.3)
        )
        with client_for(fake_llm_server, transport) as client:
            raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=HI)  # type: ignore[arg-type]
        assert raw.headers["x-vex-upstream"] == backup.base_url


def test_sync_stream_stall_raises_the_sdks_timeout_error(fake_llm_server: FakeLLMServer) -> None:
    """A stalled stream read from a sync client raises APITimeoutError."""
    fake_llm_server.inject(Fault.stall(after_chunks=2))
    transport = ResilientTransport(timeouts=TimeoutConfig(idle_timeout=0.3))
    with client_for(fake_llm_server, transport) as client:
        stream = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "a b c d"}],
            stream=True,  # type: ignore[arg-type]
        )
        with pytest.raises(openai.APITimeoutError):
            list(stream)


def test_sync_anthropic_client(fake_llm_server: FakeLLMServer) -> None:
    """The sync anthropic client, overloaded twice: answered after 3 upstream requests."""
    fake_llm_server.inject(Fault.overloaded(), times=2)
    client = anthropic.Anthropic(
        base_url=fake_llm_server.anthropic_base_url,
        api_key="sk-ant",
        http_client=httpx2.Client(transport=ResilientTransport()),
    )
    with client:
        message = client.messages.create(
            model="claude-fake",
            max_tokens=20,
            messages=HI,  # type: ignore[arg-type]
        )
    assert message.content[0].text == "You said: hi"  # type: ignore[union-attr]
    assert len(fake_llm_server.journal) == 3


_NEVER_CLOSED = """
    import httpx2, openai
    from vex_llm.testing import FakeLLMServer
    from vex_llm.transport import ResilientTransport

    with FakeLLMServer() as server:
        client = openai.OpenAI(
            base_url=server.base_url, api_key="sk-test",
            http_client=httpx2.Client(transport=ResilientTransport()),
        )
        done = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        print(done.choices[0].message.content, flush=True)
    # The client and its transport are never closed.
"""


def test_a_transport_never_closed_lets_the_interpreter_exit_cleanly() -> None:
    """A sync client never closed: the process exits 0 without a warning on stderr."""
    done = run_script(_NEVER_CLOSED)
    assert done.stderr == ""
    assert done.returncode == 0
    assert done.stdout == "You said: hi\n"
