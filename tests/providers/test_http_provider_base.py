"""HttpProvider is a public base: a subclass gives three hooks, the base owns the rest."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from _raw_server import head, raw_server, sending

from vex_llm import InvalidRequest, InvalidResponse, LlmRequest, LlmResponse, StreamChunk
from vex_llm.providers import EventReader, HttpProvider, SseEvent


class Echo(HttpProvider):
    """A JSON dialect: ``{"say": ...}`` out, ``{"text": ...}`` back, one SSE event per text."""

    def build_body(self, request: LlmRequest, model: str, *, stream: bool) -> dict[str, object]:
        if request.stop:
            msg = "this dialect has no stop sequences"
            raise InvalidRequest(msg, code="unsupported_stop")
        return {"say": request.messages[-1].content, "stream": stream}

    def read_answer(self, data: Mapping[str, object]) -> LlmResponse:
        text = data.get("text")
        if not isinstance(text, str):
            msg = "text: expected a string"
            raise InvalidResponse(msg)
        return LlmResponse(text, finish_reason="stop")

    def stream_reader(self, model: str) -> EventReader:
        return EchoEvents(model, self)


class EchoEvents(EventReader):
    def feed(self, event: SseEvent) -> str | StreamChunk:
        if event.event == "end":
            self.terminate()
            return ""
        return self.note(StreamChunk(str(self.parse(event.data)["text"])))


def echo(root: str) -> Echo:
    """An Echo provider at ``root`` with every other setting left at its default."""
    return Echo("m", base_url=root, path="/say", name="echo")


async def test_a_subclass_needs_only_its_hooks() -> None:
    """Defaults for every limit; the body, answer and stream go through the hooks."""
    seen: list[bytes] = []
    answer = sending(head(), b'{"text": "hi"}')
    async with raw_server(answer, seen=seen) as root, echo(root) as llm:
        response = await llm.complete(LlmRequest.from_prompt("hello"))
    assert (response.content, response.provider, response.model) == ("hi", "echo", "m")
    assert json.loads(seen[0]) == {"say": "hello", "stream": False}
    events = b'data: {"text": "a"}\n\ndata: {"text": "b"}\n\nevent: end\ndata: {}\n\n'
    serve = sending(head(content_type="text/event-stream"), events)
    async with raw_server(serve) as root, echo(root) as llm:
        chunks = [c async for c in llm.stream(LlmRequest.from_prompt("x"))]
    assert [c.delta for c in chunks] == ["a", "b", ""]
    assert (chunks[-1].finish_reason, chunks[0].provider) == ("stop", "echo")


async def test_hook_errors_carry_the_providers_name() -> None:
    """A hook's InvalidRequest (unsent) and InvalidResponse come back with .provider set."""
    seen: list[bytes] = []
    async with raw_server(sending(head(), b'{"txt": 1}'), seen=seen) as root, echo(root) as llm:
        with pytest.raises(InvalidRequest) as refused:
            await llm.complete(LlmRequest.from_prompt("x", stop=["."]))
        assert seen == []
        with pytest.raises(InvalidResponse, match="text: expected a string") as broken:
            await llm.complete(LlmRequest.from_prompt("x"))
    assert (refused.value.provider, refused.value.code) == ("echo", "unsupported_stop")
    assert broken.value.provider == "echo"
