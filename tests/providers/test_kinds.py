"""KINDS: the one table of provider kinds that providers, config and the CLI read."""

from __future__ import annotations

import inspect
from typing import get_args

import pytest

from vex_llm.config import LOCAL_KINDS, PROVIDER_KINDS, ProviderSettings, missing_key
from vex_llm.providers import KINDS, PRESETS, AnthropicProvider, OpenAIProvider
from vex_llm.providers.openai import PresetName


def test_presets_are_the_openai_compatible_kinds_with_a_base_url() -> None:
    """PRESETS keeps its meaning: each OpenAI-compatible service's URL and key, from KINDS."""
    assert set(PRESETS) == {
        k.name for k in KINDS.values() if k.wire == "openai" and k.base_url is not None
    }
    for name, preset in PRESETS.items():
        assert (preset.base_url, preset.api_key_env) == (KINDS[name].base_url, KINDS[name].key_env)


def test_config_kinds_are_the_table() -> None:
    """config's PROVIDER_KINDS and LOCAL_KINDS are the table's names and local rows."""
    assert tuple(KINDS) == PROVIDER_KINDS
    assert {k.name for k in KINDS.values() if k.local} == LOCAL_KINDS


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_kind_needs_its_key_unless_local_or_pointed_elsewhere(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hosted kind needs its key variable; a base_url or a local kind needs none."""
    row = KINDS[kind]
    if row.key_env is not None:
        monkeypatch.delenv(row.key_env, raising=False)
    expected = None if row.local else row.key_env
    assert missing_key(ProviderSettings(name="p", kind=kind)) == expected
    assert missing_key(ProviderSettings(name="p", kind=kind, base_url="http://x:1/v1")) is None
    monkeypatch.setenv("MY_KEY", "")
    assert missing_key(ProviderSettings(name="p", kind=kind, api_key_env="MY_KEY")) == "MY_KEY"


def test_the_provider_classes_default_to_their_kinds_key_and_the_preset_names_match() -> None:
    """OpenAIProvider and AnthropicProvider read the table's key variables; PresetName is
    the table's OpenAI-compatible names."""
    for cls, kind in ((OpenAIProvider, "openai"), (AnthropicProvider, "anthropic")):
        default = inspect.signature(cls).parameters["api_key_env"].default
        assert default == KINDS[kind].key_env
    assert set(get_args(PresetName)) == set(PRESETS)
