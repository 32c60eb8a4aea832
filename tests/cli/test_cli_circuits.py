"""`vex-llm circuits`: never reports a change it did not make."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _cli_run import one_line, vex

from _redis_server import RedisServer, free_port
from vex_llm.cli import main

CONFIG = (
    "[[provider]]\nname = 'primary'\nkind = 'mock'\n[[provider]]\nname = 'backup'\nkind = 'mock'\n"
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config of two mock providers, without Redis."""
    path = tmp_path / "vex.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A real redis-server on loopback, for this test only."""
    server = RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.close()


def test_an_unreachable_redis_is_an_error_and_nothing_is_shown(config: Path) -> None:
    """`--redis` to a port nobody listens on: one line, exit 1, no table, no 'held open'."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = vex("circuits", "--config", str(config), "--redis", url, "--open", "primary")
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "cannot reach Redis at" in line
    assert "nothing was shown or changed" in line
    assert result.stdout == ""


def test_an_unreachable_redis_from_the_config_is_an_error(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The config's own `redis` is checked the same way as `--redis`."""
    config.write_text(f"redis = 'redis://127.0.0.1:{free_port()}'\n{CONFIG}")
    assert main(["circuits", "--config", str(config), "--reset", "primary"]) == 1
    captured = capsys.readouterr()
    assert "cannot reach Redis" in one_line(captured.err)
    assert captured.out == ""


def test_a_bad_redis_url_in_the_config_names_the_file(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config whose `redis` is not a Redis URL: one line naming the file and key, exit 2."""
    config.write_text(f"redis = 'http://127.0.0.1:6379'\n{CONFIG}")
    assert main(["circuits", "--config", str(config)]) == 2
    assert f"{config}: redis: must be a URL with scheme redis" in one_line(capsys.readouterr().err)


def test_the_password_of_a_redis_url_is_never_printed(config: Path) -> None:
    """The error for an unreachable Redis shows where it is, never the password in its URL."""
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    result = vex("circuits", "--config", str(config), "--redis", url)
    assert result.returncode == 1
    assert "hunter2" not in result.stderr + result.stdout
    assert f"redis://***:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in result.stderr


@pytest.mark.parametrize(("flag", "done"), [("--open", "held open"), ("--reset", "reset")])
def test_without_redis_a_change_says_it_lives_in_this_process_only(
    flag: str, done: str, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--open / --reset without Redis say plainly that no other process sees the change."""
    assert main(["circuits", "--config", str(config), flag, "primary"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "circuits of this process only (no Redis)"
    assert f"'primary' was {done} in this process's memory only" in one_line(captured.err)


def test_showing_without_redis_prints_no_warning(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only a change gets the note: a plain listing is quiet on stderr."""
    assert main(["circuits", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    rows = [line.split() for line in captured.out.splitlines()[2:]]
    assert [row[:2] for row in rows] == [["primary", "closed"], ["backup", "closed"]]


def test_listing_hosted_providers_needs_no_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """circuits calls no provider, so a config of hosted providers lists without their keys."""
    path = tmp_path / "vex.toml"
    path.write_text(
        "[[provider]]\nname = 'fast'\nkind = 'groq'\nmodel = 'llama-3.1-8b-instant'\n"
        "[[provider]]\nname = 'claude'\nkind = 'anthropic'\nmodel = 'claude-3-5-haiku-latest'\n"
    )
    assert main(["circuits", "--config", str(path)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [row[:2] for row in rows] == [["fast", "closed"], ["claude", "closed"]]


@pytest.mark.redis
def test_a_change_through_the_config_redis_is_seen_by_the_next_invocation(
    config: Path, redis_url: str
) -> None:
    """The config's `redis` shares circuits: an --open is seen by a later --redis listing."""
    config.write_text(f"redis = '{redis_url}'\n{CONFIG}")
    opened = vex("circuits", "--config", str(config), "--open", "backup")
    assert opened.returncode == 0, opened.stderr
    assert opened.stderr == ""
    assert opened.stdout.startswith("circuits shared through Redis at 'redis://127.0.0.1:")
    plain = config.with_name("plain.toml")
    plain.write_text(CONFIG)
    seen = vex("circuits", "--config", str(plain), "--redis", redis_url)
    states = {row.split()[0]: row.split()[1:3] for row in seen.stdout.splitlines()[2:]}
    assert states == {"primary": ["closed", "0"], "backup": ["forced_open", "(held"]}


@pytest.mark.redis
def test_a_redis_that_answers_ping_but_refuses_the_change_is_an_error(
    config: Path, redis_url: str
) -> None:
    """Redis answers PING but refuses the circuit scripts: exit 1, the change not claimed."""
    import redis

    with redis.Redis.from_url(redis_url) as client:
        client.execute_command("ACL", "SETUSER", "default", "-@scripting")
    result = vex("circuits", "--config", str(config), "--redis", redis_url, "--open", "primary")
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "failed during the command" in line
    assert "whether 'primary' changed for every process is unknown" in line
    assert "held open" not in result.stdout


def test_a_circuit_held_open_shows_the_gauge_state_name(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--open shows the state as vex_llm_circuit_state names it: forced_open."""
    assert main(["circuits", "--config", str(config), "--open", "primary"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [row[:2] for row in rows] == [["primary", "forced_open"], ["backup", "closed"]]
