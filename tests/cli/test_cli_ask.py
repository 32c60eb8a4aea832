"""`vex-llm ask` against a FakeLLMServer on loopback: models, hints, streams, -v."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _cli_run import one_line, vex

from vex_llm.cli import main
from vex_llm.testing import FakeLLMServer, Fault

pytestmark = pytest.mark.fake_server


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    """A fake provider on 127.0.0.1, in a thread of its own (main() runs its own loop)."""
    with FakeLLMServer(seed=1) as running:
        yield running


@pytest.mark.parametrize(
    ("kind", "key_env", "model"),
    [
        ("ollama", None, "llama3.2"),
        ("groq", "GROQ_API_KEY", "llama-3.1-8b-instant"),
        ("deepseek", "DEEPSEEK_API_KEY", "deepseek-chat"),
        ("anthropic", "ANTHROPIC_API_KEY", "claude-3-5-haiku-latest"),
    ],
)
def test_a_preset_without_model_uses_its_default_model(
    kind: str,
    key_env: str | None,
    model: str,
    server: FakeLLMServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--provider PRESET` without `--model` asks the preset's default model."""
    if key_env:
        monkeypatch.setenv(key_env, "sk-test-not-a-real-key")
    url = server.anthropic_base_url if kind == "anthropic" else server.base_url
    assert main(["ask", "--provider", kind, "--base-url", url, "hello"]) == 0
    assert capsys.readouterr().out.startswith("You said: hello")
    assert [entry.model for entry in server.journal] == [model]


def test_prompt_from_stdin() -> None:
    """`ask -` reads the prompt from standard input."""
    result = vex("ask", "--provider", "mock", "-", stdin=b"what is 6 * 7?\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "42"


def test_a_broken_stream_puts_the_error_on_its_own_line(
    server: FakeLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stream cut after some text ends its output line before the error is printed."""
    server.inject(Fault.cut(after_chunks=2), stream=True)
    code = main(["ask", "--base-url", server.base_url, "--stream", "one two three four"])
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("You said:")
    assert captured.out.endswith("\n")
    assert "answered by" not in captured.out
    assert captured.err.startswith("vex-llm: StreamInterrupted")


def test_verbose_prints_each_decision_once(
    server: FakeLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """-v shows every decision of the call once, in order, with no second trace dump."""
    server.inject(Fault.error(503), times=1)
    assert main(["ask", "-v", "--base-url", server.base_url, "hello"]) == 0
    lines = capsys.readouterr().err.splitlines()
    failures = [line for line in lines if "failure" in line and "attempt=1" in line]
    assert len(failures) == 1, lines
    attempts = [line.split()[1:] for line in lines if " attempt " in f" {line} "]
    assert [words[:2] for words in attempts] == [["attempt", "openai"]] * 2, lines


def test_verbose_shows_circuit_transitions_with_name_and_reason(
    server: FakeLLMServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A circuit that opens during the call is one -v line naming the circuit and reason."""
    server.inject(Fault.error(503))
    config = tmp_path / "vex.toml"
    config.write_text(
        f"[[provider]]\nname = 'primary'\nkind = 'openai'\nmodel = 'm'\n"
        f"base_url = '{server.base_url}'\n[provider.breaker]\nfailure_threshold = 1\n"
        "[[provider]]\nname = 'backup'\nkind = 'mock'\n"
    )
    assert main(["ask", "-v", "--config", str(config), "hello"]) == 0
    lines = capsys.readouterr().err.splitlines()
    opened = [line for line in lines if "circuit_opened" in line]
    assert len(opened) == 1, lines
    assert "circuit_opened circuit=primary reason=failure_threshold" in opened[0]


def test_a_fallback_missing_its_key_does_not_suggest_base_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--base-url is the first provider's: a fallback's missing key names only its variable."""
    assert main(["ask", "--provider", "mock", "--fallback", "anthropic", "hi"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "set ANTHROPIC_API_KEY" in line
    assert "--base-url" not in line
    assert main(["ask", "--provider", "anthropic", "hi"]) == 2
    assert "--base-url" in one_line(capsys.readouterr().err)


def test_a_refused_key_hint_fits_the_command_line(
    server: FakeLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 401 names the environment variable to set, not a keyword argument of the library."""
    server.inject(Fault.error(401))
    assert main(["ask", "--base-url", server.base_url, "hi"]) == 1
    err = capsys.readouterr().err
    assert "OPENAI_API_KEY" in err
    assert "api_key=" not in err
    assert "Traceback" not in err


def test_every_provider_tried_is_named_when_all_fail(
    server: FakeLLMServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """When the fallback chain fails, each provider's error is on a line of its own."""
    server.inject(Fault.error(503))
    config = tmp_path / "vex.toml"
    config.write_text(
        "[retry]\nattempts = 1\n"
        + "".join(
            f"[[provider]]\nname = '{name}'\nkind = 'openai'\nmodel = 'm'\n"
            f"base_url = '{server.base_url}'\n"
            for name in ("a", "b")
        )
    )
    assert main(["ask", "--config", str(config), "hi"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert (
        lines[0]
        == "vex-llm: AllProvidersFailed: all providers failed (a: NotAvailable, b: NotAvailable)"
    )
    assert lines[1].startswith("  NotAvailable: a answered HTTP 503")
    assert lines[2].startswith("  NotAvailable: b answered HTTP 503")
    assert len(lines) == 3
