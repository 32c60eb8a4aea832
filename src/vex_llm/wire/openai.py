"""The OpenAI Chat Completions wire: request and answer bodies, stream events <-> the types.

Requests: fields the model knows are read into ``LlmRequest``; every other top-level
field is kept in ``extra["openai"]`` and written back verbatim. ``stream`` and
``stream_options`` are transport settings, not part of the request: read them from the
body yourself and pass ``stream=True`` to ``to_openai``. ``developer`` messages read as
``system``. ``max_completion_tokens`` fills ``max_tokens`` and stays in the extras, so it
is written back under its own name (and ``max_tokens`` is then not sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from .._response import LlmResponse
from .._tools import Reasoning, ResponseFormat, Tool, ToolChoice
from .._types import LlmRequest
from ._fields import Fields
from ._openai_common import FINISH, FINISH_OUT, usage_from_wire, usage_to_wire
from ._openai_messages import (
    message_from_wire,
    message_to_wire,
    tool_call_to_wire,
    tool_calls_from_wire,
)
from ._openai_stream import chunk_from_event, events_from_chunk
from ._shared import effort_of, extras, merge_extra, normalise_finish, wire_finish, with_extra

__all__ = [
    "chunk_from_event",
    "events_from_chunk",
    "request_from_body",
    "request_to_body",
    "response_from_body",
    "response_to_body",
    "usage_from_wire",
    "usage_to_wire",
]

_KNOWN: Final = frozenset(
    {
        "model", "messages", "max_tokens", "temperature", "top_p", "stop", "tools",
        "tool_choice", "response_format", "seed", "user", "parallel_tool_calls",
        "reasoning_effort", "stream", "stream_options",
    }
)  # fmt: skip
_EFFORTS: Final = frozenset({"none", "minimal", "low", "medium", "high"})


def _tool(entry: Fields) -> Tool:
    if entry.need_text("type") != "function":
        entry.fail("type", "'function'")
    function = entry.need_obj("function")
    function.reject_unknown(frozenset({"name", "description", "parameters", "strict"}))
    return Tool(
        name=function.need_text("name"),
        description=function.text("description"),
        parameters=function.schema("parameters"),
        strict=function.flag("strict"),
        extra=entry.extras(frozenset({"type", "function"}), "openai"),
    )


def _tool_choice(body: Fields) -> ToolChoice | None:
    value = body.data.get("tool_choice")
    if value is None:
        return None
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            body.fail("tool_choice", "'auto', 'none', 'required' or a function")
        return ToolChoice(value)  # type: ignore[arg-type]  # checked just above
    choice = body.need_obj("tool_choice")
    choice.reject_unknown(frozenset({"type", "function"}))
    if choice.need_text("type") != "function":
        choice.fail("type", "'function'")
    function = choice.need_obj("function")
    function.reject_unknown(frozenset({"name"}))
    return ToolChoice.tool(function.need_text("name"))


def _response_format(body: Fields) -> ResponseFormat | None:
    found = body.obj("response_format")
    if found is None:
        return None
    found.reject_unknown(frozenset({"type", "json_schema"}))
    kind = found.need_text("type")
    if kind in ("text", "json_object"):
        return ResponseFormat(type=kind)  # type: ignore[arg-type]  # checked just above
    if kind != "json_schema":
        found.fail("type", "'text', 'json_object' or 'json_schema'")
    spec = found.need_obj("json_schema")
    spec.reject_unknown(frozenset({"name", "schema", "strict", "description"}))
    return ResponseFormat(
        type="json_schema",
        name=spec.need_text("name"),
        schema=spec.schema("schema") or {},
        strict=spec.flag("strict"),
        description=spec.text("description"),
    )


def _reasoning(body: Fields) -> Reasoning | None:
    effort = body.text("reasoning_effort")
    if effort is None:
        return None
    if effort not in _EFFORTS:
        body.fail("reasoning_effort", f"one of {sorted(_EFFORTS)}")
    return Reasoning(effort=effort)  # type: ignore[arg-type]  # checked just above


def request_from_body(body: Mapping[str, object]) -> LlmRequest:
    """Read a Chat Completions request body (see the module docstring for the rules).

    Args:
        body: The decoded JSON body.

    Returns:
        The request.

    Raises:
        InvalidRequest: On a malformed body; the message names the field.
    """
    fields = Fields.request(body)
    messages = [message_from_wire(m) for m in fields.objs("messages", required=True)]
    if not messages:
        fields.fail("messages", "at least one message")
    stop = fields.data.get("stop")
    unknown = fields.unknown(_KNOWN)
    max_tokens = fields.integer("max_tokens")
    if "max_completion_tokens" in unknown:
        max_tokens = fields.integer("max_completion_tokens")
    try:
        return LlmRequest(
            messages,
            model=fields.text("model"),
            max_tokens=max_tokens,
            temperature=fields.number("temperature"),
            top_p=fields.number("top_p"),
            stop=(stop,) if isinstance(stop, str) else (fields.texts("stop") or ()),
            tools=[_tool(t) for t in fields.objs("tools")],
            tool_choice=_tool_choice(fields),
            response_format=_response_format(fields),
            seed=fields.integer("seed"),
            user=fields.text("user"),
            parallel_tool_calls=fields.flag("parallel_tool_calls"),
            reasoning=_reasoning(fields),
            extra=extras(unknown, "openai"),
        )
    except ValueError as exc:
        raise fields.error(str(exc), code="invalid_body") from exc


def _tool_to_wire(tool: Tool) -> dict[str, object]:
    function: dict[str, object] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return with_extra({"type": "function", "function": function}, tool.extra, "openai")


def _format_to_wire(response_format: ResponseFormat) -> dict[str, object]:
    if response_format.type != "json_schema":
        return {"type": response_format.type}
    spec: dict[str, object] = {"name": response_format.name or "response"}
    if response_format.description is not None:
        spec["description"] = response_format.description
    spec["schema"] = response_format.schema
    if response_format.strict is not None:
        spec["strict"] = response_format.strict
    return {"type": "json_schema", "json_schema": spec}


def _options_to_wire(request: LlmRequest, body: dict[str, object]) -> None:
    if request.tools:
        body["tools"] = [_tool_to_wire(tool) for tool in request.tools]
    choice = request.tool_choice
    if choice is not None:
        body["tool_choice"] = (
            {"type": "function", "function": {"name": choice.name}}
            if choice.mode == "tool"
            else choice.mode
        )
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.response_format is not None:
        body["response_format"] = _format_to_wire(request.response_format)
    if request.seed is not None:
        body["seed"] = request.seed
    if request.user is not None:
        body["user"] = request.user
    if request.reasoning is not None:
        body["reasoning_effort"] = effort_of(request.reasoning)


def request_to_body(
    request: LlmRequest,
    *,
    model: str | None = None,
    stream: bool = False,
    stream_usage: bool = True,
) -> dict[str, object]:
    """Write a Chat Completions request body.

    Args:
        request: The request.
        model: The model to name when the request names none.
        stream: Ask for an SSE stream.
        stream_usage: With ``stream``, ask for usage on its last chunk
            (``stream_options.include_usage``; default true).

    Returns:
        The JSON-ready body; ``request.extra["openai"]`` is merged in last.

    Raises:
        InvalidRequest: On a document given by URL (this wire takes inline documents only).
    """
    body: dict[str, object] = {}
    if request.model or model:
        body["model"] = request.model or model
    body["messages"] = [message_to_wire(m, i) for i, m in enumerate(request.messages)]
    extra = request.extra_for("openai")
    if request.max_tokens is not None and "max_completion_tokens" not in extra:
        body["max_tokens"] = request.max_tokens
    for key, value in (
        ("temperature", request.temperature),
        ("top_p", request.top_p),
        ("stop", list(request.stop) or None),
    ):
        if value is not None:
            body[key] = value
    _options_to_wire(request, body)
    if stream:
        body["stream"] = True
        if stream_usage:
            body["stream_options"] = {"include_usage": True}
    return merge_extra(body, extra)


def response_from_body(body: Mapping[str, object]) -> LlmResponse:
    """Read a ``chat.completion`` body (its first choice).

    Args:
        body: The decoded JSON body.

    Returns:
        The response (``provider`` and ``latency_s`` are the caller's to set).

    Raises:
        InvalidResponse: On a malformed body; the message names the field.
    """
    fields = Fields.response(body)
    choices = fields.objs("choices", required=True)
    if not choices:
        fields.fail("choices", "at least one choice")
    message = choices[0].need_obj("message")
    usage = usage_from_wire(fields.obj("usage"))
    if not any(key in message.data for key in ("content", "tool_calls", "refusal")):
        message.fail("content", "content, tool_calls or refusal (one is required)")
    raw = choices[0].text("finish_reason")
    return LlmResponse(
        message.text("content") or "",
        model=fields.text("model") or "",
        usage=usage,
        finish_reason=normalise_finish(FINISH, raw),
        tool_calls=tool_calls_from_wire(message),
        refusal=message.text("refusal"),
        provider_finish_reason=raw,
        id=fields.text("id") or "",
    )


def response_to_body(response: LlmResponse, *, created: int = 0) -> dict[str, object]:
    """Write a ``chat.completion`` body with one choice.

    Args:
        response: The answer.
        created: The ``created`` Unix timestamp to write (this module reads no clock).

    Returns:
        The JSON-ready body.
    """
    message: dict[str, object] = {
        "role": "assistant",
        "content": response.content or (None if response.tool_calls else ""),
    }
    if response.refusal is not None:
        message["refusal"] = response.refusal
    if response.tool_calls:
        message["tool_calls"] = [tool_call_to_wire(call) for call in response.tool_calls]
    body: dict[str, object] = {
        "id": response.id,
        "object": "chat.completion",
        "created": created,
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": wire_finish(
                    FINISH, FINISH_OUT, response.finish_reason, response.provider_finish_reason
                ),
            }
        ],
    }
    if response.usage is not None:
        body["usage"] = usage_to_wire(response.usage)
    return body
