"""Config files: valid ones load, bad ones name the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from vex_llm import CircuitConfig
from vex_llm.config import ConfigError, load, parse

GOOD = """
deadline = 20.0
[breaker]
failure_threshold = 4
[retry]
attempts = 2

[[provider]]
name = "primary"
kind = "openai"
model = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"
attempt_timeout = 5.0

[[provider]]
name = "backup"
kind = "mock"
[provider.breaker]
failure_threshold = 2
reset_timeout = 10.0
"""


def test_a_valid_file_loads(tmp_path: Path) -> None:
    """Defaults apply to every provider; per-provider tables override them."""
    path = tmp_path / "vex.toml"
    path.write_text(GOOD)
    settings = load(path)
    assert settings.deadline == 20.0
    assert [p.name for p in settings.providers] == ["primary", "backup"]
    primary, backup = settings.providers
    assert primary.breaker == CircuitConfig(failure_threshold=4)
    assert backup.breaker == CircuitConfig(failure_threshold=2, reset_timeout=10.0)
    assert primary.retry.attempts == backup.retry.attempts == 2
    assert primary.timeouts.attempt_timeout == 5.0
    assert primary.api_key_env == "OPENAI_API_KEY"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deadline = -1\n[[provider]]\nkind='mock'", "vex.toml: deadline: must be a number"),
        ("x = 1", "vex.toml: x: unknown key"),
        ("deadline = 3", "vex.toml: provider: add at least one"),
        ("[[provider]]\nkind = 'nope'", "vex.toml: provider[1].kind: unknown kind 'nope'"),
        ("[[provider]]\nkind = 'openai'", "vex.toml: provider[1].model: required"),
        (
            "[[provider]]\nkind='mock'\n[provider.breaker]\nfailure_threshold = 0",
            "vex.toml: provider[1].breaker.failure_threshold: must be an integer >= 1",
        ),
        (
            "[[provider]]\nkind='mock'\n[provider.breaker]\nfailure_rate_threshold = 2.0",
            "vex.toml: provider[1].breaker.failure_rate_threshold: must be in (0, 1]",
        ),
        (
            "[[provider]]\nkind='mock'\n[provider.breaker]\nbogus = 1",
            "vex.toml: provider[1].breaker.bogus: unknown key",
        ),
        (
            "[[provider]]\nkind='mock'\n[provider.retry]\nattempts = 0",
            "vex.toml: provider[1].retry.attempts: must be an integer >= 1",
        ),
        (
            "[[provider]]\nkind='mock'\napi_key_env = 'sk-abc 123'",
            "vex.toml: provider[1].api_key_env: give the NAME",
        ),
        (
            "[[provider]]\nkind='mock'\n[[provider]]\nkind='mock'",
            "vex.toml: provider[2].name: 'mock' is used twice",
        ),
        ("[[provider]\nkind='mock'", "vex.toml: not valid TOML"),
    ],
)
def test_bad_files_name_file_key_and_problem(text: str, expected: str) -> None:
    """Each problem is one ConfigError whose message starts with file and key."""
    with pytest.raises(ConfigError) as info:
        parse(text, source="vex.toml")
    assert str(info.value).startswith(expected), str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="no such config file"):
        load(tmp_path / "absent.toml")
