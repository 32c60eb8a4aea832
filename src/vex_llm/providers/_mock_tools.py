"""How the mock calls a tool, and answers in JSON: values made from a JSON Schema.

The mock has no model: it picks the tool the request's ``tool_choice`` names (else the
first) and fills every property of the tool's parameters with a value of the property's
type, strings with the prompt, so a demo shows a plausible call with no network.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from .._tools import ToolCall
from .._types import LlmRequest


def wants_a_call(request: LlmRequest) -> bool:
    """Whether the smart mock answers ``request`` with a tool call.

    It does when the request offers tools, ``tool_choice`` is not ``"none"`` and the
    conversation does not end with a tool result (that one gets a text answer).
    """
    if not request.tools or request.messages[-1].role == "tool":
        return False
    return request.tool_choice is None or request.tool_choice.mode != "none"


def smart_call(request: LlmRequest) -> ToolCall:
    """The call the smart mock makes: the chosen tool, arguments from its schema."""
    choice = request.tool_choice
    named = choice.name if choice is not None and choice.mode == "tool" else None
    tool = next((t for t in request.tools if t.name == named), request.tools[0])
    prompt = request.prompt
    arguments = _example(tool.parameters or {"type": "object"}, prompt)
    digest = hashlib.sha256(f"{tool.name}\n{prompt}".encode()).hexdigest()[:12]
    return ToolCall(f"call_{digest}", tool.name, json.dumps(arguments, ensure_ascii=False))


def schema_answer(request: LlmRequest) -> str:
    """JSON text shaped by the request's JSON Schema response format (strings: the prompt)."""
    schema = request.response_format.schema if request.response_format is not None else None
    return json.dumps(_example(schema or {"type": "object"}, request.prompt), ensure_ascii=False)


def tool_result_answer(request: LlmRequest) -> str:
    """The text answer to a conversation that ends with tool results."""
    results = []
    for message in reversed(request.messages):
        if message.role != "tool":
            break
        results.append(message.content)
    return "The tool answered: " + "; ".join(reversed(results))


def _example(schema: Mapping[str, object], prompt: str) -> object:
    """A value that fits ``schema`` well enough for a demo (not a validator)."""
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first type that is not null
        kind = next((k for k in kind if k != "null"), "null")
    match kind:
        case "object":
            properties = schema.get("properties")
            if not isinstance(properties, Mapping):
                return {}
            return {
                str(name): _example(sub if isinstance(sub, Mapping) else {}, prompt)
                for name, sub in properties.items()
            }
        case "array":
            return []
        case "integer" | "number":
            return 0
        case "boolean":
            return False
        case "null":
            return None
        case _:
            return prompt
