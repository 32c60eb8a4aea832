"""The pytest plugin: a user's test suite loads it and gets a running fake server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fake_server

CONFTEST = 'pytest_plugins = ["vex_llm.testing.pytest_plugin"]\n'

USER_TESTS = """
import asyncio

import httpx2
import pytest

from vex_llm import LlmRequest, OpenAIProvider, ServerError
from vex_llm.testing import Fault


@pytest.mark.fake_server
def test_sync(fake_llm_server):
    fake_llm_server.inject(Fault.error(503), times=1)
    with httpx2.Client(base_url=fake_llm_server.base_url) as client:
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        assert client.post("/chat/completions", json=body).status_code == 503
        assert client.post("/chat/completions", json=body).status_code == 200


def test_in_own_loop(fake_llm_server):
    fake_llm_server.inject(Fault.error(500), times=1)

    async def go():
        async with OpenAIProvider("m", base_url=fake_llm_server.base_url) as llm:
            with pytest.raises(ServerError):
                await llm.ask("x")
            return await llm.ask("x")

    assert asyncio.run(go()) == "You said: x"
"""


def test_plugin_fixture_in_a_user_suite(tmp_path: Path) -> None:
    """A suite with only the plugin line in conftest.py gets `fake_llm_server` and the marker."""
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:asyncio",
            "--strict-markers",
            "-W",
            "error",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
