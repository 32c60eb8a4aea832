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


_MOCK = "[[provider]]\nkind = 'mock'\n"
_BIG = "9" * 400


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"deadline = {_BIG}\n{_MOCK}",
            "vex.toml: deadline: must be a number of seconds in (0, 10000000], "
            "got an integer of about 401 digits",
        ),
        (
            f"{_MOCK}attempt_timeout = {_BIG}",
            "vex.toml: provider[1].attempt_timeout: must be a number of seconds",
        ),
        (f"{_MOCK}idle_timeout = inf", "vex.toml: provider[1].idle_timeout: must be a number"),
        (
            f"{_MOCK}attempt_timeout = '20'",
            'vex.toml: provider[1].attempt_timeout: must be a number, got "20"',
        ),
        (
            f"{_MOCK}first_token_timeout = true",
            "vex.toml: provider[1].first_token_timeout: must be a number, got true",
        ),
        (
            f"{_MOCK}max_context_tokens = true",
            "vex.toml: provider[1].max_context_tokens: must be an integer, got true",
        ),
        (
            f"{_MOCK}[provider.breaker]\nreset_timeout = nan",
            "vex.toml: provider[1].breaker.reset_timeout: must be a number of seconds",
        ),
        (
            f"{_MOCK}[provider.breaker]\nreset_timeout = 1e8",
            "vex.toml: provider[1].breaker.reset_timeout: must be a number of seconds "
            "in (0, 10000000], got 100000000.0",
        ),
        (
            f"{_MOCK}[provider.breaker]\nbackoff_multiplier = {_BIG}",
            "vex.toml: provider[1].breaker.backoff_multiplier: must be in [1, 1000]",
        ),
        (
            f"{_MOCK}[provider.breaker]\nfailure_threshold = {_BIG}",
            "vex.toml: provider[1].breaker.failure_threshold: must be an integer >= 1",
        ),
        (
            f"{_MOCK}[provider.breaker]\nreset_timeout = 60\nmax_reset_timeout = 10",
            "vex.toml: provider[1].breaker.max_reset_timeout: (10.0) must be >= reset_timeout",
        ),
        (
            f"{_MOCK}[provider.retry]\nretry_timeouts = 1",
            "vex.toml: provider[1].retry.retry_timeouts: must be true or false, got 1",
        ),
        (
            f"{_MOCK}[provider.retry]\nmax_delay = -0.5",
            "vex.toml: provider[1].retry.max_delay: must be a number of seconds in [0,",
        ),
        (f"[breaker]\nreset_timeout = 'x'\n{_MOCK}", "vex.toml: breaker.reset_timeout: must be"),
        (f"[retry]\nbogus = 1\n{_MOCK}", "vex.toml: retry.bogus: unknown key"),
        (f"breaker = 3\n{_MOCK}", "vex.toml: breaker: must be a table, got 3"),
        (
            f'{_MOCK}"a\\nb" = 1',
            'vex.toml: provider[1]."a\\nb": unknown key; expected one of api_key_env,',
        ),
        (f'{_MOCK}name = "a\\nb"', "vex.toml: provider[1].name: must be a non-empty string"),
        ("[[provider]]\nname = 'x'", "vex.toml: provider[1].kind: required; use one of"),
        ("[[provider]]\nkind = 'ollama'", "vex.toml: provider[1].model: required for kind"),
        ("provider = [1]", "vex.toml: provider[1]: must be a table, got 1"),
        (f"x = {'1' * 5000}", "vex.toml: not valid TOML"),
        (f"x = {'[' * 3000}{']' * 3000}", "vex.toml: not valid TOML: arrays or tables nested"),
        (
            f"redis = 'http://h:6379'\n{_MOCK}",
            "vex.toml: redis: must be a URL with scheme redis, rediss or unix",
        ),
    ],
)
def test_every_bad_value_is_one_line_naming_file_and_key(text: str, expected: str) -> None:
    """Overflowing, mistyped, boolean and multi-line values are one ConfigError line each."""
    with pytest.raises(ConfigError) as info:
        parse(text, source="vex.toml")
    message = str(info.value)
    assert message.startswith(expected), message
    assert len(message.splitlines()) == 1, message


@pytest.mark.parametrize(
    "url",
    ["ftp://x", "not a url", "http://", "http://h:0/v1", "http://h:99999/v1", "https://h:x/v1"],
)
def test_a_bad_base_url_is_refused_at_load(url: str) -> None:
    """base_url must be http(s) with a host and a port in 1-65535, checked when loading."""
    with pytest.raises(ConfigError) as info:
        parse(f"{_MOCK}base_url = '{url}'", source="vex.toml")
    assert str(info.value).startswith(
        "vex.toml: provider[1].base_url: must be a URL with scheme http or https, a host and "
        "a port in 1-65535, got"
    ), str(info.value)


def test_credentials_in_a_bad_url_are_masked() -> None:
    """A user, password or query value in a refused URL never reaches the message."""
    text = f"{_MOCK}base_url = 'ftp://bob:s3cret@h/v1?key=sk-live-123'"
    with pytest.raises(ConfigError) as info:
        parse(text, source="vex.toml")
    message = str(info.value)
    assert "s3cret" not in message
    assert "bob" not in message
    assert "sk-live" not in message
    assert message.endswith('got "ftp://***:***@h/v1?key=***"'), message


def test_good_urls_and_bounds_load() -> None:
    """The inclusive ends of every range and the accepted URL forms load."""
    settings = parse(
        "deadline = 10000000\nredis = 'rediss://:pw@cache:6380/1'\n"
        "[[provider]]\nkind = 'openai'\nmodel = 'm'\nbase_url = 'http://127.0.0.1:65535/v1'\n"
        "max_context_tokens = 1000000000\n"
        "[provider.retry]\nbase_delay = 0\n[provider.breaker]\nbackoff_multiplier = 1000",
        source="vex.toml",
    )
    assert settings.deadline == 1e7
    assert settings.providers[0].max_context_tokens == 10**9
    assert settings.providers[0].breaker.backoff_multiplier == 1000.0


def test_a_file_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    """Non-UTF-8 bytes are a ConfigError naming the file, not a UnicodeDecodeError."""
    path = tmp_path / "vex.toml"
    path.write_bytes(b"deadline = 1\n\xff\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == f"{path}: not UTF-8 text (byte 0xff at offset 13)"


def test_a_byte_order_mark_is_allowed(tmp_path: Path) -> None:
    """Editors that write a UTF-8 BOM produce a loadable file."""
    path = tmp_path / "vex.toml"
    path.write_bytes(b"\xef\xbb\xbf" + _MOCK.encode())
    assert load(path).providers[0].kind == "mock"


def test_the_schema_covers_every_setting() -> None:
    """Each [breaker], [retry] and timeout key maps to a dataclass field, and back."""
    from dataclasses import fields

    from vex_llm.config import _schema
    from vex_llm.policies import RetryConfig, TimeoutConfig

    def init_fields(cls: type) -> set[str]:
        return {f.name for f in fields(cls) if f.init}

    assert set(_schema.CIRCUIT) == init_fields(CircuitConfig) - {"classify"}
    assert set(_schema.RETRY) == init_fields(RetryConfig)
    assert set(_schema.TIMEOUTS) == init_fields(TimeoutConfig)
