"""README.md's Python examples run as written, pasted into a file.

Each ```python block runs in a fresh interpreter: plain examples as scripts, a block that
starts with ``# test_*.py`` through pytest beside the block that starts with
``# conftest.py``. The real-provider examples reach a ``FakeLLMServer`` through the
environment variables an application would set (``OPENAI_BASE_URL`` and friends), and the
Redis example reaches the tests' own redis-server in place of the default port.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from _redis_server import RedisServer
from vex_llm.testing import FakeLLMServer

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"

pytestmark = [pytest.mark.fake_server, pytest.mark.redis]


def _blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def _first_line(block: str) -> str:
    return block.splitlines()[0] if block else ""


SCRIPTS = [b for b in _blocks() if not _first_line(b).startswith("# ")]
TESTS = [b for b in _blocks() if re.match(r"# test_\w+\.py$", _first_line(b))]
CONFTEST = next(b for b in _blocks() if _first_line(b) == "# conftest.py")


@pytest.fixture(scope="module")
def environment() -> Iterator[tuple[dict[str, str], str]]:
    """A clean environment whose provider URLs point at one running FakeLLMServer."""
    redis = RedisServer()
    redis.start()
    with FakeLLMServer(seed=0) as server:
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
        env |= {
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "sk-readme-test",
            "ANTHROPIC_BASE_URL": server.anthropic_base_url,
            "ANTHROPIC_API_KEY": "sk-ant-readme-test",
        }
        yield env, redis.url
    redis.close()


def test_readme_has_examples() -> None:
    """The README keeps its Python examples (the parametrized runs below are not empty)."""
    assert len(SCRIPTS) >= 7
    assert TESTS


@pytest.mark.parametrize("block", SCRIPTS, ids=[f"block{i}" for i in range(len(SCRIPTS))])
def test_readme_example_runs(
    block: str, environment: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    """A README example runs to the end in a fresh interpreter and exits 0."""
    env, redis_url = environment
    script = tmp_path / "example.py"
    script.write_text(block.replace(DEFAULT_REDIS, redis_url), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"{block}\n--- stderr ---\n{done.stderr}"
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("block", TESTS, ids=[f"test{i}" for i in range(len(TESTS))])
def test_readme_pytest_example_passes(
    block: str, environment: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    """The README's pytest example passes with the README's conftest.py beside it."""
    env, _ = environment
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / _first_line(block)[2:]).write_text(block, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout
