"""Bad command lines end in one line and exit 2; help, version and usage read well."""

from __future__ import annotations

from pathlib import Path

import pytest
from _cli_run import one_line, vex

from vex_llm import __version__
from vex_llm.cli import main

BLOCK = "import sys\nfor name in {names!r}: sys.modules[name] = None"
"""A prelude that makes packages look uninstalled (a core-only install)."""
OPTIONAL = ("starlette", "uvicorn", "rich", "matplotlib", "redis")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config of one mock provider."""
    path = tmp_path / "vex.toml"
    path.write_text("[[provider]]\nname = 'primary'\nkind = 'mock'\n")
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "--deadline", "0", "hi"], "--deadline must be a finite number of seconds > 0"),
        (["ask", "--deadline=-5", "hi"], "got -5"),
        (["ask", "--deadline", "nan", "hi"], "got nan"),
        (["ask", "--deadline", "inf", "hi"], "got inf"),
        (["ask", "--base-url", "127.0.0.1:8000/v1", "hi"], "--base-url has no scheme"),
        (["ask", "--base-url", "ftp://127.0.0.1/v1", "hi"], "--base-url has scheme 'ftp'"),
        (["ask", "--base-url", "", "hi"], "--base-url is empty"),
        (["ask", "--base-url", "http://127.0.0.1:99999/v1", "hi"], "has a port outside 1..65535"),
        (["ask", "--base-url", "http:///v1", "hi"], "--base-url has no host"),
        (["ask", "--base-url", "http://127.0.0.1:8000", "--provider", "mock", "hi"], "mock"),
        (["ask", ""], "the prompt is empty"),
        (["ask", "   "], "the prompt is empty"),
        (["ask", "--model", "", "hi"], "--model is empty"),
        (["ask", "--provider", "mock", "--fallback", "mock:", "hi"], "model in --fallback"),
        (["ask", "--provider", "vllm", "hi"], "vllm has no default model"),
        (["ask", "--provider", "groq", "hi"], "set GROQ_API_KEY"),
        (["ask", "--config", "x.toml", "--provider", "mock", "hi"], "drop --provider"),
        (["circuits", "--config", "{config}", "--redis", "http://127.0.0.1:6379"], "scheme"),
        (["circuits", "--config", "{config}", "--redis", "notaurl"], "--redis has no scheme"),
        (
            ["circuits", "--config", "{config}", "--redis", "redis://h:70000"],
            "has a port outside 1..65535",
        ),
        (["fake-server", "--port", "70000"], "--port must be in 0-65535"),
        (["fake-server", "--fault", "bogus"], "name exactly one fault"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(
    args: list[str], message: str, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each bad value is refused before anything runs, in one line naming it."""
    assert main([arg.format(config=config) for arg in args]) == 2
    captured = capsys.readouterr()
    assert message in one_line(captured.err)
    assert captured.out == ""


@pytest.mark.parametrize("command", [["ask", "hi"], ["circuits"]])
def test_a_provider_setting_refused_by_the_provider_names_the_config(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config value a provider refuses (a base URL it cannot use) is one line naming the file."""
    path = tmp_path / "vex.toml"
    path.write_text("[[provider]]\nkind = 'ollama'\nbase_url = 'ftp://127.0.0.1/v1'\n")
    assert main([command[0], "--config", str(path), *command[1:]]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"vex-llm: {path}: ")
    assert "ftp://127.0.0.1/v1" in line


def test_a_prompt_that_is_not_utf8_is_refused() -> None:
    """Bytes that are not UTF-8 on the command line or on stdin: one line, exit 2."""
    argument = vex("ask", "--provider", "mock", b"caf\xe9")
    assert argument.returncode == 2, argument.stderr
    assert "the prompt is not valid UTF-8" in one_line(argument.stderr)
    piped = vex("ask", "--provider", "mock", "-", stdin=b"caf\xe9 ?")
    assert piped.returncode == 2, piped.stderr
    assert "standard input is not valid UTF-8" in one_line(piped.stderr)


def test_an_empty_prompt_on_stdin_is_refused() -> None:
    """`ask -` with nothing on stdin is refused, not sent."""
    result = vex("ask", "--provider", "mock", "-", stdin=b"\n")
    assert result.returncode == 2
    assert "empty" in one_line(result.stderr)


def test_version() -> None:
    """`--version` prints the package version."""
    result = vex("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"vex-llm {__version__}"


def test_bare_command_prints_the_help() -> None:
    """`vex-llm` alone prints the help (every command named), not an error."""
    result = vex()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: vex-llm")
    for command in ("ask", "chaos", "circuits", "fake-server"):
        assert command in result.stdout
    assert result.stderr == ""


def test_circuits_help_describes_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    """`circuits --help` says what the command shows and what Redis changes."""
    assert main(["circuits", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Show the circuit breaker of every provider" in out
    assert "Redis" in out


def test_a_mistyped_flag_shows_the_command_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown flag after a command shows that command's usage, not the top level's."""
    assert main(["ask", "--strem", "hi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: vex-llm ask")
    assert "--deadline" in err
    assert "unrecognized arguments: --strem" in err


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["chaos", "outage", "--duration", "1"], "pip install 'vex-llm[lab]'"),
        (["fake-server"], "pip install 'vex-llm[lab]'"),
        (["circuits", "--config", "{config}", "--redis", "redis://127.0.0.1:1"], "[redis]"),
    ],
)
def test_core_only_install_names_the_extra(args: list[str], hint: str, config: Path) -> None:
    """Without the optional packages, a command that needs them says which extra to install."""
    result = vex(*(a.format(config=config) for a in args), prelude=BLOCK.format(names=OPTIONAL))
    assert result.returncode == 2
    assert hint in one_line(result.stderr)


def test_circuits_and_ask_work_on_a_core_only_install(config: Path) -> None:
    """`circuits` (no Redis) and `ask` need no optional package."""
    prelude = BLOCK.format(names=OPTIONAL)
    shown = vex("circuits", "--config", str(config), prelude=prelude)
    assert shown.returncode == 0, shown.stderr
    assert "primary" in shown.stdout
    asked = vex("ask", "--provider", "mock", "what is 6 * 7?", prelude=prelude)
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.splitlines()[0] == "42"
