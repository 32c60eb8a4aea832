"""Hypothesis strategies: request bodies of both wires, in the form each converter writes."""

from __future__ import annotations

import base64
import json

from hypothesis import strategies as st

Body = dict[str, object]

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
nonempty = text.filter(bool)
name = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
ident = st.from_regex(r"(call|toolu)_[A-Za-z0-9]{4,10}", fullmatch=True)
schema = st.fixed_dictionaries(
    {"type": st.just("object")},
    optional={"properties": st.dictionaries(name, st.just({"type": "string"}), max_size=2)},
)
json_args = st.dictionaries(name, st.integers(-5, 5) | text, max_size=3)
blob = st.binary(min_size=1, max_size=16)
b64 = blob.map(lambda data: base64.b64encode(data).decode())
url = name.map(lambda n: f"https://example.com/{n}.png")


def _drop_none(body: dict[str, object]) -> Body:
    return {key: value for key, value in body.items() if value is not None}


@st.composite
def _optional(draw: st.DrawFn, **fields: st.SearchStrategy[object]) -> Body:
    """A dict holding each field or not."""
    return _drop_none({key: draw(st.none() | value) for key, value in fields.items()})


# OpenAI ---------------------------------------------------------------------------------

openai_image = st.builds(
    lambda u, detail: {"type": "image_url", "image_url": _drop_none({"url": u, "detail": detail})},
    url | b64.map(lambda d: f"data:image/png;base64,{d}"),
    st.none() | st.sampled_from(["auto", "low", "high"]),
)
openai_file = st.builds(
    lambda d, filename: {
        "type": "file",
        "file": _drop_none({"file_data": f"data:application/pdf;base64,{d}", "filename": filename}),
    },
    b64,
    st.none() | name,
)
openai_text_part = text.map(lambda t: {"type": "text", "text": t})
openai_parts = st.lists(openai_text_part | openai_image | openai_file, min_size=1, max_size=3)


@st.composite
def openai_tool_call(draw: st.DrawFn) -> Body:
    arguments = json.dumps(draw(json_args))
    return {
        "id": draw(ident),
        "type": "function",
        "function": {"name": draw(name), "arguments": arguments},
    }


@st.composite
def openai_messages(draw: st.DrawFn) -> list[Body]:
    """A conversation: system first, then user/assistant/tool turns."""
    messages: list[Body] = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(text)})
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["user", "assistant", "tools"]))
        if kind == "user":
            content: object = draw(text | openai_parts)
            messages.append(
                _drop_none({"role": "user", "content": content, "name": draw(st.none() | name)})
            )
        elif kind == "assistant":
            extra = draw(_optional(annotations=st.just([]), refusal=st.none()))
            messages.append({"role": "assistant", "content": draw(text), **extra})
        else:
            calls = draw(
                st.lists(openai_tool_call(), min_size=1, max_size=2, unique_by=lambda c: c["id"])
            )
            messages.append(
                {"role": "assistant", "content": draw(st.none() | nonempty), "tool_calls": calls}
            )
            messages += [
                {"role": "tool", "tool_call_id": call["id"], "content": draw(text)}
                for call in calls
            ]
    return messages


openai_tool = st.builds(
    lambda n, f: {"type": "function", "function": {"name": n, **f}},
    name,
    _optional(description=text, parameters=schema, strict=st.booleans()),
)
openai_format = st.sampled_from([{"type": "text"}, {"type": "json_object"}]) | st.builds(
    lambda n, s, extra: {"type": "json_schema", "json_schema": {"name": n, "schema": s, **extra}},
    name,
    schema,
    _optional(strict=st.booleans(), description=text),
)


@st.composite
def openai_bodies(draw: st.DrawFn, *, portable: bool = False) -> Body:
    """An OpenAI request body; ``portable`` keeps to what the Anthropic wire can say too."""
    tools = draw(st.lists(openai_tool, max_size=3, unique_by=lambda t: t["function"]["name"]))
    choices = ["auto", "none", "required"]
    choice = draw(
        st.none()
        | st.sampled_from(choices)
        | st.builds(lambda n: {"type": "function", "function": {"name": n}}, name)
    )
    body = {
        "model": draw(st.none() | name),
        "messages": draw(openai_messages()),
        **draw(
            _optional(
                max_tokens=st.integers(1, 10_000),
                temperature=st.floats(0, 2),
                top_p=st.floats(0.01, 1),
                stop=st.lists(nonempty, min_size=1, max_size=3),
                seed=st.integers(0, 2**31),
                user=name,
                parallel_tool_calls=st.booleans(),
                reasoning_effort=st.sampled_from(["low", "medium", "high"]),
            )
        ),
        "tools": tools or None,
        "tool_choice": choice,
        "response_format": draw(st.none() | openai_format),
    }
    if portable:
        body.pop("seed", None)
        if body["response_format"] is not None and body["response_format"]["type"] != "json_schema":
            body["response_format"] = None
    else:
        body.update(draw(_optional(logprobs=st.booleans(), service_tier=name, n=st.just(1))))
    return _drop_none(body)


# Anthropic ------------------------------------------------------------------------------

cache = st.none() | st.just({"type": "ephemeral"})
anthropic_text = st.builds(
    lambda t, c: _drop_none({"type": "text", "text": t, "cache_control": c}), text, cache
)
anthropic_image = st.builds(
    lambda source: {"type": "image", "source": source},
    st.builds(lambda d: {"type": "base64", "media_type": "image/png", "data": d}, b64)
    | url.map(lambda u: {"type": "url", "url": u}),
)


anthropic_thinking = st.builds(
    lambda t, sig: _drop_none({"type": "thinking", "thinking": t, "signature": sig}),
    text,
    st.none() | name,
) | name.map(lambda d: {"type": "redacted_thinking", "data": d})


@st.composite
def anthropic_document(draw: st.DrawFn, *, portable: bool = False) -> Body:
    sources = st.builds(
        lambda d: {"type": "base64", "media_type": "application/pdf", "data": d}, b64
    )
    sources |= st.builds(lambda t: {"type": "text", "media_type": "text/plain", "data": t}, text)
    if not portable:
        sources |= url.map(lambda u: {"type": "url", "url": u})
    return _drop_none(
        {"type": "document", "source": draw(sources), "title": draw(st.none() | name)}
    )


def anthropic_blocks(*, portable: bool = False) -> st.SearchStrategy[list[Body]]:
    return st.lists(
        anthropic_text | anthropic_image | anthropic_document(portable=portable),
        min_size=1,
        max_size=3,
    )


@st.composite
def anthropic_tool_result(draw: st.DrawFn, tool_use_id: str) -> Body:
    content = draw(st.none() | nonempty | st.lists(anthropic_text, min_size=1, max_size=2))
    flags = draw(_optional(is_error=st.booleans(), cache_control=cache))
    return _drop_none(
        {"type": "tool_result", "tool_use_id": tool_use_id, "content": content, **flags}
    )


@st.composite
def anthropic_turns(draw: st.DrawFn, *, portable: bool = False) -> list[Body]:
    """Alternating user/assistant turns, tool results answering the previous tool uses."""
    turns: list[Body] = []
    pending: list[str] = []
    for i in range(draw(st.integers(1, 5))):
        if i % 2 == 0:
            results = [draw(anthropic_tool_result(tool_id)) for tool_id in pending]
            blocks = anthropic_blocks(portable=portable)
            content: object = (
                results + draw(st.just([]) | blocks) if results else draw(text | blocks)
            )
            turns.append({"role": "user", "content": content})
            pending = []
            continue
        uses = draw(st.lists(ident, max_size=2, unique=True))
        blocks: list[Body] = draw(st.lists(anthropic_thinking, max_size=2))
        blocks += draw(st.lists(anthropic_text, max_size=2))
        blocks += [
            {"type": "tool_use", "id": use, "name": draw(name), "input": draw(json_args)}
            for use in uses
        ]
        turns.append({"role": "assistant", "content": blocks or draw(text)})
        pending = uses
    return turns


anthropic_tool = st.builds(
    lambda n, s, f: {"name": n, "input_schema": s, **f},
    name,
    schema,
    _optional(description=text, strict=st.booleans(), cache_control=cache),
)


@st.composite
def anthropic_bodies(draw: st.DrawFn, *, portable: bool = False) -> Body:
    """An Anthropic request body; ``portable`` keeps to what the OpenAI wire can say too."""
    tools = draw(st.lists(anthropic_tool, max_size=3, unique_by=lambda t: t["name"]))
    choice = draw(
        st.none()
        | st.builds(
            lambda kind, n, flag: _drop_none(
                {
                    "type": kind,
                    "name": n if kind == "tool" else None,
                    "disable_parallel_tool_use": flag,
                }
            ),
            st.sampled_from(["auto", "any", "none", "tool"]),
            name,
            st.none() | st.booleans(),
        )
    )
    system = draw(st.none() | text | st.lists(anthropic_text, min_size=1, max_size=2))
    body = {
        "model": draw(name),
        "max_tokens": draw(st.integers(1, 10_000)),
        "system": system,
        "messages": draw(anthropic_turns(portable=portable)),
        **draw(
            _optional(
                temperature=st.floats(0, 1),
                top_p=st.floats(0.01, 1),
                stop_sequences=st.lists(nonempty, min_size=1, max_size=3),
                metadata=name.map(lambda u: {"user_id": u}),
                thinking=st.sampled_from([{"type": "disabled"}])
                | st.integers(1024, 20_000).map(lambda b: {"type": "enabled", "budget_tokens": b}),
                output_config=st.builds(
                    lambda s: {"format": {"type": "json_schema", "schema": s}}, schema
                ),
            )
        ),
        "tools": tools or None,
        "tool_choice": choice,
    }
    if not portable:
        body.update(draw(_optional(top_k=st.integers(1, 50), service_tier=name)))
    return _drop_none(body)
