"""The Anthropic Messages wire: request and answer bodies, stream events <-> the types.

Requests: ``system`` becomes system messages (and back); ``max_tokens`` is required by
this wire, so ``to_anthropic`` sends ``DEFAULT_MAX_TOKENS`` (4096) when the request has
none (plus the thinking budget when reasoning is on: the budget must fit inside it).
Top-level fields the model does not know are kept in ``extra["anthropic"]`` and written
back verbatim; ``stream`` is a transport setting (pass ``stream=True`` to
``to_anthropic``). The request's ``seed`` has no Anthropic field and is not sent.
Answers: thinking blocks go to ``LlmResponse.thinking`` (``to_message`` puts them back in
the next assistant turn, as Anthropic requires after tool use); server-tool blocks are
skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from .._capabilities import UNSUPPORTED_RESPONSE_FORMAT
from .._content import ThinkingPart
from .._errors import InvalidRequest, InvalidResponse
from .._response import LlmResponse
from .._tools import Reasoning, ResponseFormat, Tool, ToolCall, ToolChoice
from .._types import LlmRequest
from ._anthropic_common import (
    FINISH,
    FINISH_OUT,
    tool_call_from_block,
    tool_use_block,
    usage_from_wire,
    usage_to_wire,
)
from ._anthropic_messages import (
    messages_from_wire,
    messages_to_wire,
    part_to_wire,
    system_to_wire,
    thinking_from_block,
)
from ._anthropic_stream import StreamDecoder, StreamEncoder
from ._fields import Fields
from ._shared import budget_of, extras, merge_extra, normalise_finish, wire_finish, with_extra

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "StreamDecoder",
    "StreamEncoder",
    "request_from_body",
    "request_to_body",
    "response_from_body",
    "response_to_body",
    "usage_from_wire",
    "usage_to_wire",
]

DEFAULT_MAX_TOKENS: Final = 4096
"""``max_tokens`` sent when a request has none: the wire requires one; 4096 fits every
current Claude model's output limit and most answers."""

_KNOWN: Final = frozenset(
    {
        "model", "messages", "system", "max_tokens", "temperature", "top_p", "stop_sequences",
        "tools", "tool_choice", "metadata", "thinking", "output_config", "stream",
    }
)  # fmt: skip
_TOOL_KEYS: Final = frozenset({"name", "description", "input_schema", "strict"})
_CHOICES: Final = {"auto": "auto", "any": "required", "none": "none"}


def _tool(entry: Fields) -> Tool:
    if entry.text("type") not in (None, "custom"):
        entry.fail("type", "'custom' (server tools are not supported)")
    return Tool(
        name=entry.need_text("name"),
        description=entry.text("description"),
        parameters=entry.schema("input_schema") or {},
        strict=entry.flag("strict"),
        extra=entry.extras(_TOOL_KEYS, "anthropic"),
    )


def _tool_choice(body: Fields) -> tuple[ToolChoice | None, bool | None]:
    """(tool choice, parallel tool calls) from ``tool_choice``."""
    choice = body.obj("tool_choice")
    if choice is None:
        return None, None
    choice.reject_unknown(frozenset({"type", "name", "disable_parallel_tool_use"}))
    kind = choice.need_text("type")
    disable = choice.flag("disable_parallel_tool_use")
    parallel = None if disable is None else not disable
    if kind == "tool":
        return ToolChoice.tool(choice.need_text("name")), parallel
    if kind not in _CHOICES:
        choice.fail("type", "'auto', 'any', 'tool' or 'none'")
    return ToolChoice(_CHOICES[kind]), parallel  # type: ignore[arg-type]  # _CHOICES values are modes


def _reasoning(body: Fields) -> Reasoning | None:
    thinking = body.obj("thinking")
    if thinking is None:
        return None
    thinking.reject_unknown(frozenset({"type", "budget_tokens"}))
    kind = thinking.need_text("type")
    if kind == "disabled":
        return Reasoning(effort="none")
    if kind != "enabled":
        thinking.fail("type", "'enabled' or 'disabled'")
    budget = thinking.integer("budget_tokens")
    if budget is None:
        thinking.fail("budget_tokens", "an integer (required)")
    return Reasoning(budget_tokens=budget)


def _output_config(body: Fields, unknown: dict[str, object]) -> ResponseFormat | None:
    """The response format from ``output_config.format``; its other keys stay extras."""
    config = body.obj("output_config")
    if config is None:
        return None
    rest = config.unknown(frozenset({"format"}))
    if rest:
        unknown["output_config"] = rest
    spec = config.obj("format")
    if spec is None:
        return None
    spec.reject_unknown(frozenset({"type", "schema"}))
    if spec.need_text("type") != "json_schema":
        spec.fail("type", "'json_schema'")
    return ResponseFormat(type="json_schema", schema=spec.schema("schema") or {})


def _user(body: Fields) -> str | None:
    metadata = body.obj("metadata")
    if metadata is None:
        return None
    metadata.reject_unknown(frozenset({"user_id"}))
    return metadata.text("user_id")


def request_from_body(body: Mapping[str, object]) -> LlmRequest:
    """Read a Messages request body (see the module docstring for the rules).

    Args:
        body: The decoded JSON body.

    Returns:
        The request.

    Raises:
        InvalidRequest: On a malformed body; the message names the field.
    """
    fields = Fields.request(body)
    messages = messages_from_wire(fields)
    if fields.integer("max_tokens") is None:
        fields.fail("max_tokens", "an integer (required)")
    unknown = fields.unknown(_KNOWN)
    choice, parallel = _tool_choice(fields)
    try:
        return LlmRequest(
            messages,
            model=fields.text("model"),
            max_tokens=fields.integer("max_tokens"),
            temperature=fields.number("temperature"),
            top_p=fields.number("top_p"),
            stop=fields.texts("stop_sequences") or (),
            tools=[_tool(t) for t in fields.objs("tools")],
            tool_choice=choice,
            response_format=_output_config(fields, unknown),
            user=_user(fields),
            parallel_tool_calls=parallel,
            reasoning=_reasoning(fields),
            extra=extras(unknown, "anthropic"),
        )
    except ValueError as exc:
        raise fields.error(str(exc), code="invalid_body") from exc


def _tool_to_wire(tool: Tool) -> dict[str, object]:
    out: dict[str, object] = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    out["input_schema"] = tool.parameters if tool.parameters is not None else {"type": "object"}
    if tool.strict is not None:
        out["strict"] = tool.strict
    return with_extra(out, tool.extra, "anthropic")


def _choice_to_wire(request: LlmRequest) -> dict[str, object] | None:
    choice = request.tool_choice
    if choice is None and request.parallel_tool_calls is None:
        return None
    out: dict[str, object] = {"type": "auto"}
    if choice is not None:
        out["type"] = {"required": "any"}.get(choice.mode, choice.mode)
        if choice.name is not None:
            out["name"] = choice.name
    if request.parallel_tool_calls is not None:
        out["disable_parallel_tool_use"] = not request.parallel_tool_calls
    return out


def _options_to_wire(request: LlmRequest, body: dict[str, object]) -> None:
    if request.tools:
        body["tools"] = [_tool_to_wire(tool) for tool in request.tools]
    choice = _choice_to_wire(request)
    if choice is not None:
        body["tool_choice"] = choice
    if request.user is not None:
        body["metadata"] = {"user_id": request.user}
    if request.reasoning is not None:
        budget = budget_of(request.reasoning)
        body["thinking"] = (
            {"type": "disabled"} if budget is None else {"type": "enabled", "budget_tokens": budget}
        )
    response_format = request.response_format
    if response_format is None or response_format.type == "text":
        return
    if response_format.type == "json_object":
        msg = "response_format: the Anthropic wire has no plain JSON mode; use a JSON Schema"
        raise InvalidRequest(msg, code=UNSUPPORTED_RESPONSE_FORMAT)
    body["output_config"] = {"format": {"type": "json_schema", "schema": response_format.schema}}


def request_to_body(
    request: LlmRequest,
    *,
    model: str | None = None,
    stream: bool = False,
    max_tokens: int | None = None,
) -> dict[str, object]:
    """Write a Messages request body.

    Args:
        request: The request.
        model: The model to name when the request names none.
        stream: Ask for an SSE stream.
        max_tokens: The limit when the request has none (default ``DEFAULT_MAX_TOKENS``,
            raised by the thinking budget when that does not fit under it).

    Returns:
        The JSON-ready body; ``request.extra["anthropic"]`` is merged in last.

    Raises:
        InvalidRequest: On something this wire cannot express (a plain JSON response
            format, tool-call arguments that are not a JSON object, non-text system parts).
    """
    body: dict[str, object] = {}
    if request.model or model:
        body["model"] = request.model or model
    system = system_to_wire(request.messages)
    if system is not None:
        body["system"] = system
    body["messages"] = messages_to_wire(request.messages)
    limit = request.max_tokens
    if limit is None:
        limit = max_tokens or DEFAULT_MAX_TOKENS
        budget = budget_of(request.reasoning) if request.reasoning else None
        if budget is not None and budget >= limit:
            limit += budget
    body["max_tokens"] = limit
    for key, value in (
        ("temperature", request.temperature),
        ("top_p", request.top_p),
        ("stop_sequences", list(request.stop) or None),
    ):
        if value is not None:
            body[key] = value
    _options_to_wire(request, body)
    if stream:
        body["stream"] = True
    return merge_extra(body, request.extra_for("anthropic"))


def response_from_body(body: Mapping[str, object]) -> LlmResponse:
    """Read a ``message`` body.

    Args:
        body: The decoded JSON body.

    Returns:
        The response (``provider`` and ``latency_s`` are the caller's to set).

    Raises:
        InvalidResponse: On a malformed body; the message names the field.
    """
    fields = Fields.response(body)
    texts: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[ThinkingPart] = []
    for block in fields.objs("content", required=True):
        kind = block.need_text("type")
        if kind == "text":
            texts.append(block.need_text("text"))
        elif kind == "tool_use":
            calls.append(tool_call_from_block(block))
        elif kind in ("thinking", "redacted_thinking"):
            thinking.append(thinking_from_block(block))
    raw = fields.text("stop_reason")
    return LlmResponse(
        "".join(texts),
        model=fields.text("model") or "",
        usage=usage_from_wire(fields.obj("usage")),
        finish_reason=normalise_finish(FINISH, raw),
        tool_calls=calls,
        provider_finish_reason=raw,
        id=fields.text("id") or "",
        thinking=thinking,
    )


def response_to_body(response: LlmResponse) -> dict[str, object]:
    """Write a ``message`` body (a refusal with no text is sent as the text).

    Args:
        response: The answer.

    Returns:
        The JSON-ready body.

    Raises:
        InvalidResponse: On tool-call arguments that are not a JSON object.
    """
    blocks = [part_to_wire(part, f"thinking[{i}]") for i, part in enumerate(response.thinking)]
    text = response.content or response.refusal or ""
    if text:
        blocks.append({"type": "text", "text": text})
    blocks += [
        tool_use_block(call, f"tool_calls[{i}]", InvalidResponse)
        for i, call in enumerate(response.tool_calls)
    ]
    body: dict[str, object] = {
        "id": response.id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": blocks,
        "stop_reason": wire_finish(
            FINISH, FINISH_OUT, response.finish_reason, response.provider_finish_reason
        ),
        "stop_sequence": None,
    }
    if response.usage is not None:
        body["usage"] = usage_to_wire(response.usage)
    return body
