"""``vex-llm serve``: the auth rule at start, and the built-in config served end to end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator

import openai
import pytest

from vex_llm.cli import main


def test_refuses_a_public_host_without_keys(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without gateway keys a non-loopback host is refused (exit 2), naming the way out."""
    monkeypatch.delenv("VEX_GATEWAY_KEYS", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "--no-auth" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def _serving(*args: str, keys: str | None = None) -> AsyncIterator[tuple[str, str]]:
    """``python -m vex_llm serve`` on a free port: yields its base URL and its banner's two
    lines; SIGTERM and wait at the end."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("VEX_GATEWAY_KEYS", None)
    if keys is not None:
        env["VEX_GATEWAY_KEYS"] = keys
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vex_llm", "serve", "--port", str(port), *args,
        env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner = [(await process.stdout.readline()).decode() for _ in range(2)]
        yield f"http://127.0.0.1:{port}/v1", "".join(banner)
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()


async def _models(client: openai.AsyncOpenAI) -> list[str]:
    """The served model ids, once the server listens (the banner comes just before it
    binds; about 5 s at most, then the connection error is raised)."""
    for _ in range(499):
        with contextlib.suppress(openai.APIConnectionError):
            return [model.id for model in (await client.models.list()).data]
        await asyncio.sleep(0.01)
    return [model.id for model in (await client.models.list()).data]


async def test_serves_the_built_in_mock_model_with_keys() -> None:
    """With no config it serves ``mock``, says so, and asks for the key from VEX_GATEWAY_KEYS."""
    async with _serving(keys="k1, k2") as (url, banner):
        client = openai.AsyncOpenAI(base_url=url, api_key="k2", max_retries=0)
        models = await _models(client)
        answer = await client.chat.completions.create(
            model="mock", messages=[{"role": "user", "content": "hello"}]
        )
        wrong = openai.AsyncOpenAI(base_url=url, api_key="nope", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await wrong.chat.completions.create(
                model="mock", messages=[{"role": "user", "content": "hello"}]
            )
        await client.close()
        await wrong.close()
    assert "model mock" in banner
    assert models == ["mock"]
    assert answer.choices[0].message.content


def _write_config(path: str) -> str:
    """A config of two mock providers behind one public model name."""
    with open(path, "w", encoding="utf-8") as file:
        file.write(
            '[[provider]]\nname = "down"\nkind = "mock"\n'
            '[[provider]]\nname = "up"\nkind = "mock"\n'
            '[[model]]\nname = "chat"\nproviders = ["down", "up"]\n'
        )
    return path


async def test_serves_the_public_model_names_of_a_config(tmp_path: os.PathLike[str]) -> None:
    """With a config of [[model]] tables it serves each public name over its providers,
    in fallback order, and lists exactly those names."""
    config = _write_config(os.path.join(tmp_path, "vex.toml"))
    async with _serving("--config", config) as (url, banner):
        client = openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0)
        models = await _models(client)
        answer = await client.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": "hello"}]
        )
        await client.close()
    assert "model chat -> down (mock), up (mock)" in banner
    assert models == ["chat"]
    assert answer.headers["x-vex-provider"] == "down"
    assert answer.parse().choices[0].message.content
