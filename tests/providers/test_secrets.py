"""API keys never show: not in reprs, error messages, tracebacks or any log record."""

from __future__ import annotations

import logging
import traceback

import pytest
from _provider_kit import Wire, make_provider

from vex_llm import LlmError, LlmRequest
from vex_llm.providers._base import HttpProvider
from vex_llm.testing import FakeLLMServer, Fault

pytestmark = pytest.mark.fake_server

KEY = "sk-test-7f3a9c1e5b2d4f6a8c0e"


def texts_of(error: BaseException) -> list[str]:
    """Every way an error can be printed, its causes included."""
    out = [str(error), repr(error), "".join(traceback.format_exception(error))]
    cause = error.__cause__
    while cause is not None:
        out += [str(cause), repr(cause)]
        cause = cause.__cause__
    return out


async def run(provider: HttpProvider, request: LlmRequest, *, streamed: bool) -> None:
    """Call the provider one way or the other."""
    if streamed:
        [chunk async for chunk in provider.stream(request)]
    else:
        await provider.complete(request)


@pytest.mark.parametrize(
    "fault",
    [
        Fault.error(401, message=f"Incorrect API key provided: {KEY}."),
        Fault.error(500),
        Fault.rate_limited(retry_after=1),
        Fault.reset(),
        Fault.stream_error("overloaded_error", after_chunks=1),
        Fault.malformed(),
    ],
    ids=["401-echo", "500", "429", "reset", "stream-error", "malformed"],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
async def test_key_never_leaks(
    server: FakeLLMServer,
    wire: Wire,
    fault: Fault,
    streamed: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whatever fails, the key is in no message, repr, traceback or log record (DEBUG on)."""
    caplog.set_level(logging.DEBUG)
    server.inject(fault)
    request = LlmRequest.from_prompt("hello")
    async with make_provider(wire, server, api_key=KEY) as provider:
        assert KEY not in repr(provider)
        with pytest.raises(LlmError) as info:
            await run(provider, request, streamed=streamed)
    for text in texts_of(info.value):
        assert KEY not in text
    assert caplog.records, "DEBUG logging captured nothing: the test would prove nothing"
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in str(record.__dict__)


async def test_key_is_sent(server: FakeLLMServer, wire: Wire) -> None:
    """The key does reach the server (the leak test is not passing by sending nothing)."""
    server.inject(Fault.error(401), times=1)
    async with make_provider(wire, server, api_key=KEY) as provider:
        with pytest.raises(LlmError) as info:
            await provider.complete(LlmRequest.from_prompt("x"))
    assert "was refused" in str(info.value)
