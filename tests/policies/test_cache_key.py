"""The cache key: equal requests get one key in every process; any change is another."""

from __future__ import annotations

import os
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from vex_llm import ImagePart, LlmRequest, Message, TextPart, Tool
from vex_llm.policies._cache_key import request_key

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


def key(extra: dict[str, object]) -> str:
    """The key of a request whose OpenAI extra is ``extra``."""
    return request_key(LlmRequest.from_prompt("hi", extra={"openai": extra}), "ns", None)


def test_containers_never_share_a_form() -> None:
    """An empty dict, an empty list and a list holding the dict tag are three keys."""
    assert len({key({"x": {}}), key({"x": []}), key({"x": ["{}"]}), key({"x": ["["]})}) == 4


@given(st.dictionaries(st.text(), JSON, max_size=5))
def test_dict_order_never_changes_the_key(extra: dict[str, object]) -> None:
    """The same extra built in reverse key order has the same key."""
    reverse = dict(reversed(list(extra.items())))
    assert key(extra) == key(reverse)


@given(st.dictionaries(st.text(), JSON, max_size=5), st.text(), JSON)
def test_a_changed_value_changes_the_key(
    extra: dict[str, object], name: str, value: object
) -> None:
    """Setting a field to a different value gives a different key."""
    changed = {**extra, name: value}
    if changed == extra and type(extra.get(name)) is type(value):
        return
    assert key(extra) != key(changed)


def test_namespace_and_tenant_are_part_of_the_key() -> None:
    """The same request in another namespace or for another tenant is another key."""
    request = LlmRequest.from_prompt("hi")
    keys = {
        request_key(request, "a", None),
        request_key(request, "b", None),
        request_key(request, "a", "acme"),
        request_key(request, "a", "globex"),
    }
    assert len(keys) == 4


def test_key_is_the_same_in_another_process() -> None:
    """A fresh interpreter with another hash seed computes the same key (shared stores
    depend on it)."""
    request = LlmRequest(
        [Message("user", [TextPart("look"), ImagePart(data=b"\x89PNG", media_type="image/png")])],
        model="m",
        temperature=0.0,
        tools=[Tool(name="t", parameters={"type": "object", "properties": {"b": {}, "a": {}}})],
        extra={"openai": {"z": 1, "a": [1.5, True, None]}},
    )
    here = request_key(request, "ns", "acme")
    code = (
        "from vex_llm import *\n"
        "from vex_llm.policies._cache_key import request_key\n"
        "r = LlmRequest([Message('user', [TextPart('look'), "
        "ImagePart(data=b'\\x89PNG', media_type='image/png')])], model='m', temperature=0.0, "
        "tools=[Tool(name='t', parameters={'type': 'object', 'properties': {'a': {}, 'b': {}}})], "
        "extra={'openai': {'a': [1.5, True, None], 'z': 1}})\n"
        "print(request_key(r, 'ns', 'acme'))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.strip()
    assert there == here
