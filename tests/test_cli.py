"""The vex-llm command through its real entry point (subprocess), and the chaos lab's numbers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vex_llm.cli import main
from vex_llm.lab import SCENARIOS, run_chaos

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _vex(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("vex-llm", path=str(Path(sys.executable).parent)) or "vex-llm"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )


def test_ask_answers_with_the_mock_and_says_so() -> None:
    """`vex-llm ask` without a key answers from the mock, says so, and shows the circuits."""
    result = _vex("ask", "what is 6 * 7?")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "42"
    assert "circuits mock: closed" in result.stdout
    assert "answering with the mock model" in result.stderr


def test_ask_streams() -> None:
    """`--stream` prints the streamed answer."""
    result = _vex("ask", "--provider", "mock", "--stream", "what is 2 + 2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "4"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("ask", "hi", "--provider", "nope"), 2, "invalid choice"),
        (("ask", "hi", "--provider", "openai"), 2, "set OPENAI_API_KEY"),
        (("ask", "hi", "--provider", "mock", "--fallback", "zzz"), 2, "unknown provider 'zzz'"),
        (("chaos", "nope"), 2, "unknown scenario 'nope'"),
        (("chaos", "--duration", "0"), 2, "--duration"),
        (("circuits", "--config", "/nonexistent/vex.toml"), 2, "no such config file"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(
    args: tuple[str, ...], code: int, message: str
) -> None:
    """Bad flags, unknown names and missing keys: a clear stderr line, no traceback."""
    result = _vex(*args)
    assert result.returncode == code, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_base_url_fails_cleanly() -> None:
    """A base URL nothing listens on is exit 1 with the error class, no traceback."""
    result = _vex("ask", "hi", "--base-url", "http://127.0.0.1:9/v1", "--deadline", "5")
    assert result.returncode == 1
    assert "ConnectionFailed" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_names_file_and_key(tmp_path: Path) -> None:
    """A malformed config is one line naming the file and the key."""
    config = tmp_path / "vex.toml"
    config.write_text("[[provider]]\nkind = 'mock'\n[provider.breaker]\nfailure_threshold = 0\n")
    result = _vex("ask", "hi", "--config", str(config))
    assert result.returncode == 2
    assert f"{config}: provider[1].breaker.failure_threshold: must be" in result.stderr
    assert "Traceback" not in result.stderr


def test_circuits_shows_and_changes_the_config_circuits(tmp_path: Path) -> None:
    """`circuits` lists every circuit of a config; `--open` holds one open."""
    config = tmp_path / "vex.toml"
    config.write_text(
        "[[provider]]\nname = 'a'\nkind = 'mock'\n[[provider]]\nname = 'b'\nkind = 'mock'\n"
    )
    result = _vex("circuits", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "a" in result.stdout
    assert "closed" in result.stdout
    held = _vex("circuits", "--config", str(config), "--open", "b")
    assert held.returncode == 0, held.stderr
    assert "held open" in held.stdout
    missing = _vex("circuits", "--config", str(config), "--reset", "zzz")
    assert missing.returncode == 2
    assert "no circuit named 'zzz'" in missing.stderr


def test_chaos_writes_a_report_and_a_png(tmp_path: Path) -> None:
    """`vex-llm chaos` runs a short scenario and writes report.json and a valid PNG."""
    result = _vex(
        "chaos", "outage", "--duration", "3", "--concurrency", "2", "--no-live",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["scenario"] == "outage"
    assert set(report["summary"]) == {"bare", "resilient"}
    image = (tmp_path / "timeline.png").read_bytes()
    assert image.startswith(PNG_MAGIC)
    assert "vex-llm stack" in result.stdout


def test_chaos_list() -> None:
    """`--list` names every scenario."""
    result = _vex("chaos", "--list")
    assert result.returncode == 0
    for name in SCENARIOS:
        assert name in result.stdout


@pytest.mark.fake_server
async def test_chaos_numbers_agree_with_the_upstream_journals() -> None:
    """Both sides of a run count the same requests: the lab's records match the journals."""
    run = await run_chaos(SCENARIOS["outage"], duration=2.0, concurrency=2, pause=0.05)
    bare = run.summary("bare")
    resilient = run.summary("resilient")
    assert bare.requests > 10
    # A bare client makes exactly one upstream call per request, all to the primary.
    assert bare.upstream_calls == bare.requests
    assert {hit.server for hit in run.upstream if hit.arm == "bare"} == {"primary"}
    # Every failed bare request is one the primary answered with an error status.
    failed_upstream = sum(1 for h in run.upstream if h.arm == "bare" and h.status >= 500)
    assert failed_upstream == bare.requests - bare.succeeded
    # The stack answers everything and sends at most a few extra calls (retries, probes).
    assert resilient.success_rate == 1.0
    assert resilient.requests <= resilient.upstream_calls <= 2 * resilient.requests
    assert any(mark.state == "open" for mark in run.states)


def test_main_returns_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """main() returns the exit code instead of exiting."""
    assert main(["ask", "--provider", "mock", "hello"]) == 0
    assert "mock" in capsys.readouterr().out


@pytest.mark.redis
def test_circuits_through_redis_are_shared_between_invocations(tmp_path: Path) -> None:
    """`circuits --redis` opens a circuit in Redis; a later invocation sees it, then resets it."""
    from _redis_server import RedisServer

    server = RedisServer()
    server.start()
    try:
        config = tmp_path / "vex.toml"
        config.write_text("[[provider]]\nname = 'shared'\nkind = 'mock'\n")
        opened = _vex(
            "circuits", "--config", str(config), "--redis", server.url, "--open", "shared"
        )
        assert opened.returncode == 0, opened.stderr
        seen = _vex("circuits", "--config", str(config), "--redis", server.url)
        assert "held open" in seen.stdout
        assert "shared through Redis" in seen.stdout
        reset = _vex(
            "circuits", "--config", str(config), "--redis", server.url, "--reset", "shared"
        )
        assert "closed" in reset.stdout
        assert "held open" not in reset.stdout
    finally:
        server.close()
