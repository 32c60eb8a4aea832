"""The inner transport: any httpx2 transport, such as httpx2.MockTransport answering from bytes."""

from __future__ import annotations

import json

import httpx2

from vex_llm.transport import AsyncResilientTransport, ResilientTransport

URL = "http://llm.invalid/v1/chat/completions"
ANSWER = {"choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}]}
EVENTS = (
    b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n'
    b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


def answer(request: httpx2.Request) -> httpx2.Response:
    """A completion, or a whole SSE body, given as content= (read already, as httpx2 sees it)."""
    if request.method == "POST" and json.loads(request.content).get("stream"):
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=EVENTS)
    return httpx2.Response(200, json=ANSWER)


async def test_an_inner_mock_transport_answers_through_the_async_transport() -> None:
    """Answers built from bytes pass through whole, plain and streamed."""
    transport = AsyncResilientTransport(transport=httpx2.MockTransport(answer))
    async with httpx2.AsyncClient(transport=transport) as client:
        plain = await client.post(URL, json={"model": "m", "messages": []})
        streamed = await client.post(URL, json={"model": "m", "messages": [], "stream": True})
    assert plain.json() == ANSWER
    assert plain.headers["x-vex-attempts"] == "1"
    assert streamed.content == EVENTS


def test_an_inner_mock_transport_answers_through_the_sync_transport() -> None:
    """The same through the sync transport, whose loop reads the bodies."""
    transport = ResilientTransport(transport=httpx2.MockTransport(answer))
    with httpx2.Client(transport=transport) as client:
        plain = client.post(URL, json={"model": "m", "messages": []})
        streamed = client.post(URL, json={"model": "m", "messages": [], "stream": True})
        models = client.get("http://llm.invalid/v1/models")
    assert plain.json() == ANSWER
    assert streamed.content == EVENTS
    assert models.json() == ANSWER  # passed through untouched (the mock answers anything)
    assert "x-vex-attempts" not in models.headers


def test_a_sync_upload_from_a_generator_passes_through() -> None:
    """A non-LLM request whose body is a sync generator reaches the inner transport whole."""
    seen: list[bytes] = []

    def record(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.content)
        return httpx2.Response(200, json={"ok": True})

    transport = ResilientTransport(transport=httpx2.MockTransport(record))
    with httpx2.Client(transport=transport) as client:
        done = client.post("http://llm.invalid/v1/files", content=iter([b"part one, ", b"two"]))
    assert done.json() == {"ok": True}
    assert seen == [b"part one, two"]
