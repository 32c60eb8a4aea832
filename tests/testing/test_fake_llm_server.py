"""FakeLLMServer over raw httpx2: both wire formats, faults, journal, admin API, lifecycle."""

from __future__ import annotations

import ast
import asyncio
import json
import time
from pathlib import Path

import httpx2
import pytest

import vex_llm.testing
from vex_llm.testing import FakeLLMServer, Fault, ManualClock

pytestmark = pytest.mark.fake_server

CHAT = {"model": "m-1", "messages": [{"role": "user", "content": "hi there"}]}
MESSAGES = {**CHAT, "max_tokens": 10, "system": "be brief"}


def events(body: str) -> list[str]:
    """The data lines of an SSE body."""
    return [line[6:] for line in body.splitlines() if line.startswith("data: ")]


async def test_openai_wire(server: FakeLLMServer) -> None:
    """Chat Completions: a JSON answer, and a stream of chunks with usage and [DONE]."""
    async with httpx2.AsyncClient(base_url=server.base_url) as client:
        answer = (await client.post("/chat/completions", json=CHAT)).json()
        assert answer["choices"][0]["message"]["content"] == "You said: hi there"
        assert answer["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}
        streamed = await client.post(
            "/chat/completions",
            json={**CHAT, "stream": True, "stream_options": {"include_usage": True}},
        )
    assert streamed.headers["content-type"].startswith("text/event-stream")
    data = events(streamed.text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "You said: hi there"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 4


async def test_anthropic_wire(server: FakeLLMServer) -> None:
    """Messages: a JSON answer, and the typed event sequence ending in message_stop."""
    async with httpx2.AsyncClient(base_url=server.anthropic_base_url) as client:
        answer = (await client.post("/v1/messages", json=MESSAGES)).json()
        assert answer["content"] == [{"type": "text", "text": "You said: hi there"}]
        assert answer["usage"] == {"input_tokens": 4, "output_tokens": 4}
        streamed = await client.post("/v1/messages", json={**MESSAGES, "stream": True})
    kinds = [json.loads(d)["type"] for d in events(streamed.text)]
    assert kinds[:3] == ["message_start", "content_block_start", "ping"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert kinds.count("content_block_delta") == 4


async def test_bad_request_body_is_400(server: FakeLLMServer) -> None:
    """A body that is not a valid request gets the API's 400 error body."""
    async with httpx2.AsyncClient(base_url=server.anthropic_base_url) as client:
        no_max = await client.post("/v1/messages", json=CHAT)
        broken = await client.post("/v1/chat/completions", content=b"{")
    assert no_max.status_code == 400
    assert no_max.json()["error"]["type"] == "invalid_request_error"
    assert broken.status_code == 400
    assert [e.model for e in server.journal] == [None, None]


async def test_error_headers(server: FakeLLMServer) -> None:
    """Error faults send Retry-After (seconds or as given) and retry-after-ms."""
    server.inject(Fault.rate_limited(retry_after=2.5, retry_after_ms=2500), times=1)
    server.inject(Fault.rate_limited(retry_after="Wed, 21 Oct 2015 07:28:00 GMT"), times=1)
    async with httpx2.AsyncClient(base_url=server.base_url) as client:
        first = await client.post("/chat/completions", json=CHAT)
        second = await client.post("/chat/completions", json=CHAT)
    assert first.status_code == 429
    assert (first.headers["retry-after"], first.headers["retry-after-ms"]) == ("2.5", "2500")
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    assert second.headers["retry-after"] == "Wed, 21 Oct 2015 07:28:00 GMT"


async def test_journal_records_requests(server: FakeLLMServer) -> None:
    """The journal has time, path, wire, model, stream flag, fault and status per request."""
    server.inject(Fault.error(503), times=1, wire="openai")
    async with httpx2.AsyncClient(base_url=server.url) as client:
        await client.post("/v1/chat/completions", json=CHAT)
        await client.post("/v1/messages", json={**MESSAGES, "stream": True})
    first, second = server.journal
    assert (first.path, first.wire, first.model, first.stream) == (
        "/v1/chat/completions",
        "openai",
        "m-1",
        False,
    )
    assert (first.fault, first.status) == ("status", 503)
    assert (second.wire, second.stream, second.fault, second.status) == (
        "anthropic",
        True,
        None,
        200,
    )
    assert 0 <= first.at <= second.at
    server.reset()
    assert server.journal == []


async def test_outage_window_follows_the_injected_clock() -> None:
    """An outage window is read from the server's clock: a ManualClock moves through it."""
    clock = ManualClock(100.0)
    async with (
        FakeLLMServer(clock=clock) as server,
        httpx2.AsyncClient(base_url=server.base_url) as client,
    ):
        server.inject(Fault.error(503), between=(10.0, 20.0))
        statuses = []
        for now in (105.0, 110.0, 119.9, 120.0):
            clock.set(now)
            statuses.append((await client.post("/chat/completions", json=CHAT)).status_code)
    assert statuses == [200, 503, 503, 200]


async def test_seeded_error_rate_is_reproducible() -> None:
    """Two servers with the same seed fail the same requests."""

    async def statuses(seed: int) -> list[int]:
        async with (
            FakeLLMServer(seed=seed) as server,
            httpx2.AsyncClient(base_url=server.base_url) as client,
        ):
            server.inject(Fault.error(500), rate=0.5)
            return [
                (await client.post("/chat/completions", json=CHAT)).status_code for _ in range(20)
            ]

    first = await statuses(4)
    assert first == await statuses(4)
    assert set(first) == {200, 500}


@pytest.mark.parametrize(
    ("fault", "field"),
    [
        ({"kind": "status", "status": 101}, "status"),
        ({"kind": "status", "status": 429, "retry_after": "1\r\nSet-Cookie: a=b"}, "retry_after"),
        ({"kind": "cut", "after_chunks": 1.5}, "after_chunks"),
        ({"kind": "latency", "seconds": "NaN"}, "seconds"),
    ],
)
async def test_admin_refuses_faults_it_cannot_play(
    server: FakeLLMServer, fault: dict[str, object], field: str
) -> None:
    """A bad fault is a 400 naming the field, no rule is added, and requests still work."""
    async with httpx2.AsyncClient(base_url=server.admin_url) as admin:
        bad = await admin.post("/faults", json={"fault": fault})
        assert bad.status_code == 400
        assert field in bad.json()["error"]
        assert (await admin.get("/faults")).json() == []
        broken = await admin.post("/faults", content=b"{not json")
        assert broken.status_code == 400
    async with httpx2.AsyncClient(base_url=server.base_url) as client:
        assert (await client.post("/chat/completions", json=CHAT)).status_code == 200


async def test_admin_endpoints(server: FakeLLMServer) -> None:
    """Faults can be added, listed and removed over HTTP; the journal and reset too."""
    async with httpx2.AsyncClient(base_url=server.admin_url) as admin:
        created = await admin.post(
            "/faults",
            json={"fault": {"kind": "status", "status": 502}, "times": 1, "wire": "openai"},
        )
        assert created.status_code == 201
        rule_id = created.json()["id"]
        script = await admin.post(
            "/faults", json={"script": [{"kind": "reset"}, None], "wire": "anthropic"}
        )
        assert script.status_code == 201
        assert [r["id"] for r in (await admin.get("/faults")).json()] == [
            rule_id,
            script.json()["id"],
        ]
        bad = await admin.post("/faults", json={"fault": {"kind": "explode"}})
        assert bad.status_code == 400
        assert "kind" in bad.json()["error"]
        async with httpx2.AsyncClient(base_url=server.base_url) as client:
            assert (await client.post("/chat/completions", json=CHAT)).status_code == 502
        journal = (await admin.get("/journal")).json()
        assert journal[0]["status"] == 502
        assert (await admin.delete(f"/faults/{script.json()['id']}")).status_code == 200
        assert (await admin.delete("/faults/999")).status_code == 404
        assert (await admin.delete("/faults")).json() == {"cleared": True}
        assert (await admin.post("/reset")).status_code == 200
        assert (await admin.get("/journal")).json() == []


async def test_stop_ends_hangs_and_stalls_quickly() -> None:
    """Hanging requests and stalled streams end when the server stops, within a bound."""
    server = FakeLLMServer(shutdown_timeout=5.0)
    await server.start()
    server.inject(Fault.hang(), stream=False)
    server.inject(Fault.stall(after_chunks=1), stream=True)
    client = httpx2.AsyncClient(base_url=server.base_url, timeout=10.0)

    async def hang() -> BaseException | None:
        try:
            await client.post("/chat/completions", json=CHAT)
        except httpx2.HTTPError as exc:
            return exc
        return None

    async def stall() -> BaseException | None:
        try:
            async with client.stream(
                "POST", "/chat/completions", json={**CHAT, "stream": True}
            ) as r:
                async for _ in r.aiter_bytes():
                    pass
        except httpx2.HTTPError as exc:
            return exc
        return None

    try:
        waiting = [asyncio.ensure_future(hang()), asyncio.ensure_future(stall())]
        while len(server.journal) < 2:  # noqa: ASYNC110 - the journal has no event to await
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await server.stop()
        assert time.monotonic() - started < 0.5
        results = await asyncio.wait_for(asyncio.gather(*waiting), timeout=2.0)
        assert all(isinstance(r, httpx2.HTTPError) for r in results)
    finally:
        await client.aclose()
        await server.stop()


async def test_client_leaving_ends_a_hang(server: FakeLLMServer) -> None:
    """A hang ends when its client disconnects, so a stop afterwards has nothing to wait for."""
    server.inject(Fault.hang())
    async with httpx2.AsyncClient(base_url=server.base_url, timeout=0.1) as client:
        with pytest.raises(httpx2.ReadTimeout):
            await client.post("/chat/completions", json=CHAT)
    started = time.monotonic()
    await server.stop()
    assert time.monotonic() - started < 0.5


def test_sync_context_manager_runs_in_a_thread() -> None:
    """`with FakeLLMServer()` serves from its own thread; faults set from the test apply."""
    with FakeLLMServer() as server, httpx2.Client(base_url=server.base_url) as client:
        server.script([Fault.error(500), None])
        assert client.post("/chat/completions", json=CHAT).status_code == 500
        assert client.post("/chat/completions", json=CHAT).status_code == 200
        url = server.url
    with pytest.raises(RuntimeError):
        _ = server.url
    with pytest.raises(httpx2.ConnectError), httpx2.Client() as client:
        client.post(url + "/v1/chat/completions", json=CHAT)


async def test_urls_and_double_start() -> None:
    """URLs exist only while running; starting twice is refused; stop is idempotent."""
    server = FakeLLMServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    async with server:
        assert server.base_url == server.url + "/v1"
        assert server.anthropic_base_url == server.url
        assert server.url.startswith("http://127.0.0.1:")
        with pytest.raises(RuntimeError, match="already"):
            await server.start()
    await server.stop()


def test_bad_settings() -> None:
    """Negative chunk delays and shutdown timeouts are refused at construction."""
    with pytest.raises(ValueError, match="chunk_delay"):
        FakeLLMServer(chunk_delay=-1)
    with pytest.raises(ValueError, match="shutdown_timeout"):
        FakeLLMServer(shutdown_timeout=-1)


def test_server_does_not_import_providers() -> None:
    """The fake server's own encoders stand alone: no module of it imports vex_llm.providers
    or vex_llm.wire."""
    package = Path(vex_llm.testing.__file__).parent
    names = sorted(p.name for p in package.glob("*.py"))
    assert {"fake_server.py", "_wire.py", "_faults.py", "_encode.py", "_validate.py"} <= set(names)
    for name in names:
        tree = ast.parse((package / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = ("." * node.level) + (node.module or "")
                assert "providers" not in module, (name, module)
                assert module not in ("..wire", "vex_llm.wire"), (name, module)
                assert not module.startswith(("..wire.", "vex_llm.wire.")), (name, module)
            elif isinstance(node, ast.Import):
                assert all("providers" not in alias.name for alias in node.names), name
                assert all(not alias.name.startswith("vex_llm.wire") for alias in node.names)
