"""Generated config documents: the loader returns settings or raises one-line ConfigError."""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
from dataclasses import fields
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vex_llm import CircuitConfig
from vex_llm.config import PROVIDER_KINDS, ConfigError, build, build_models, load, parse
from vex_llm.policies import RetryConfig, TimeoutConfig

_FUZZ = settings(
    max_examples=300,
    deadline=None,
    # The autouse fixture only clears provider keys from the environment: safe to share.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _settings_of(cls: type) -> list[str]:
    return sorted(f.name for f in fields(cls) if f.init and f.name != "classify")


_CIRCUIT_KEYS = _settings_of(CircuitConfig)
_RETRY_KEYS = _settings_of(RetryConfig)
_KNOWN_KEYS = sorted(
    {
        *_CIRCUIT_KEYS,
        *_RETRY_KEYS,
        *_settings_of(TimeoutConfig),
        *("deadline", "redis", "name", "kind", "model", "base_url", "api_key_env"),
        "max_context_tokens",
    }
)

scalars = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**12),
    st.sampled_from([0, 1, -1, 10**400, 2**63, True, False, 1e7, 1e8, 9e12]),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(
        [
            "http://127.0.0.1:8000/v1",
            "https://u:p@h/v1?key=s",
            "ftp://x",
            "not a url",
            "http://h:0",
            "redis://127.0.0.1:1/0",
            "unix:///tmp/r.sock",
            "OPENAI_API_KEY",
            "count",
            "ratio",
            "time",
            "trip",
        ]
    ),
    st.sampled_from(PROVIDER_KINDS),
)
keys = st.one_of(st.sampled_from(_KNOWN_KEYS), st.text(min_size=1, max_size=6))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def providers(draw: st.DrawFn) -> dict[str, object]:
    """A provider table: mostly known keys with values of any type, sometimes junk."""
    table: dict[str, object] = draw(st.dictionaries(keys, values, max_size=5))
    if draw(st.booleans()):
        table["kind"] = draw(st.sampled_from(PROVIDER_KINDS))
    if draw(st.booleans()):
        table["model"] = "m"
    for section, names in (("breaker", _CIRCUIT_KEYS), ("retry", _RETRY_KEYS)):
        if draw(st.booleans()):
            table[section] = draw(st.dictionaries(st.sampled_from(names), scalars, max_size=4))
    return table


@st.composite
def models(draw: st.DrawFn) -> dict[str, object]:
    """A model table: known keys with names that may or may not be providers, sometimes junk."""
    table: dict[str, object] = draw(st.dictionaries(keys, values, max_size=2))
    if draw(st.booleans()):
        table["name"] = draw(st.sampled_from(["chat", "m", ""]))
    if draw(st.booleans()):
        table["providers"] = draw(st.lists(st.sampled_from([*PROVIDER_KINDS[:3], "x"]), max_size=3))
    for name, strategy in (
        ("deadline", scalars),
        ("stream_break", st.sampled_from(["raise", "restart", "continue", "x"])),
        ("hedge", st.dictionaries(st.sampled_from(["delay", "quantile", "window"]), scalars)),
    ):
        if draw(st.booleans()):
            table[name] = draw(strategy)
    return table


documents = st.fixed_dictionaries(
    {},
    optional={
        "deadline": scalars,
        "redis": scalars,
        "breaker": st.dictionaries(st.sampled_from(_CIRCUIT_KEYS), scalars, max_size=3),
        "retry": st.dictionaries(st.sampled_from(_RETRY_KEYS), scalars, max_size=3),
        "provider": st.one_of(st.lists(providers(), max_size=3), values),
        "model": st.one_of(st.lists(models(), max_size=2), values),
        "junk": values,
    },
)


def toml(value: object) -> str:
    """A value as TOML (inline tables and arrays; any string escaped JSON-style)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(item) for item in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + "}"


def _assert_one_line(error: ConfigError, source: str) -> None:
    message = str(error)
    assert message.startswith(f"{source}: ") or source == "<memory>", message
    assert len(message.splitlines()) == 1, message


@_FUZZ
@given(documents)
def test_generated_documents_load_and_build_or_raise_config_error(
    document: dict[str, object],
) -> None:
    """Any document parses and builds, or fails with one ConfigError line naming the file."""
    text = "\n".join(f"{json.dumps(key)} = {toml(value)}" for key, value in document.items())
    try:
        loaded = parse(text, source="gen.toml")
    except ConfigError as exc:
        _assert_one_line(exc, "gen.toml")
        return
    try:
        stack = build(loaded)
    except ConfigError as exc:
        _assert_one_line(exc, "gen.toml")
        return
    asyncio.run(stack.aclose())
    try:
        stacks = build_models(loaded)
    except ConfigError as exc:
        _assert_one_line(exc, "gen.toml")
        return
    asyncio.run(stacks.aclose())


@_FUZZ
@given(st.text())
def test_any_text_parses_or_raises_config_error(text: str) -> None:
    """Arbitrary text is a config or one ConfigError line: never another exception."""
    try:
        parse(text, source="gen.toml")
    except ConfigError as exc:
        _assert_one_line(exc, "gen.toml")


@_FUZZ
@given(st.binary(max_size=64))
def test_any_bytes_load_or_raise_config_error(data: bytes) -> None:
    """Any file content, UTF-8 or not, loads or fails with one ConfigError line."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vex.toml"
        path.write_bytes(data)
        try:
            load(path)
        except ConfigError as exc:
            _assert_one_line(exc, str(path))
