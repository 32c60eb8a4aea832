"""The request rules the fake server enforces as an oracle: each breaks a real API's rule
that a translator between the wires can get wrong, and gets the API's 400.

Anthropic Messages (``/v1/messages``):

1. ``max_tokens`` is required (an integer).
2. Every message's role is ``user`` or ``assistant``; a ``system`` message is refused
   (the system prompt is the top-level ``system`` field).
3. Roles alternate: no two ``user`` (or two ``assistant``) messages in a row. (Today's
   API merges such turns; the fake server is stricter on purpose, so a translator that
   forgets to merge consecutive tool results into one user turn is caught.)
4. In a user message, ``tool_result`` blocks come before every other block.
5. Every ``tool_result``'s ``tool_use_id`` names a ``tool_use`` block of the message
   right before it (an assistant message).
6. Every ``tool_use`` of an assistant message that is not the last message is answered
   by a ``tool_result`` in the next message.
7. Each tool (``tools[]``) has a ``name``; a custom tool (no ``type``, or ``"custom"``)
   has an ``input_schema`` object.

OpenAI Chat Completions (``/v1/chat/completions``):

1. Each tool (``tools[]``) has ``"type": "function"`` and a ``function`` with a ``name``.
2. A ``tool`` message answers a tool call of the assistant message before it (only
   ``tool`` messages in between): its ``tool_call_id`` is one of that message's
   ``tool_calls[].id``.
3. An assistant message with ``tool_calls`` that is not the last message is followed by
   one ``tool`` message per call.

Each returns the API's message (or ``None`` when the body keeps the rules). The bodies'
other fields are not checked beyond what ``read_call`` needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

_ANTHROPIC_ROLES: Final = ("user", "assistant")


def _blocks(message: dict[str, object]) -> list[dict[str, object]]:
    content = message.get("content")
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _ids(blocks: list[dict[str, object]], kind: str, key: str) -> list[object]:
    return [b.get(key) for b in blocks if b.get("type") == kind]


def check_anthropic(data: dict[str, object]) -> str | None:
    """The first Anthropic rule the body breaks (see the module docstring), or ``None``."""
    max_tokens = data.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        return "max_tokens: Field required"
    messages = list(_objects(data.get("messages")))
    return _anthropic_roles(messages) or _anthropic_tools(messages) or _anthropic_tool_defs(data)


def _anthropic_roles(messages: list[dict[str, object]]) -> str | None:
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "system":
            return (
                f'messages.{i}: Unexpected role "system". The Messages API accepts a '
                'top-level `system` parameter, not "system" as an input message role.'
            )
        if role not in _ANTHROPIC_ROLES:
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if i and messages[i - 1].get("role") == role:
            return (
                'messages: roles must alternate between "user" and "assistant", '
                f'but found multiple "{role}" roles in a row'
            )
    return None


def _anthropic_tools(messages: list[dict[str, object]]) -> str | None:
    # Stray or misplaced results first: they say more than the unanswered uses they leave.
    for i, message in enumerate(messages):
        blocks = _blocks(message)
        asked = _ids(_blocks(messages[i - 1]), "tool_use", "id") if i else []
        complaint = _results_first(i, blocks) or _results_match(i, blocks, asked)
        if complaint is not None:
            return complaint
    for i in range(len(messages) - 1):
        complaint = _uses_answered(i, _blocks(messages[i]), _blocks(messages[i + 1]))
        if complaint is not None:
            return complaint
    return None


def _results_first(i: int, blocks: list[dict[str, object]]) -> str | None:
    kinds = [b.get("type") for b in blocks]
    first_other = next((j for j, k in enumerate(kinds) if k != "tool_result"), len(kinds))
    if "tool_result" in kinds[first_other:]:
        return (
            f"messages.{i}.content: `tool_result` blocks must come first in the user "
            "message content, before any other block."
        )
    return None


def _results_match(i: int, blocks: list[dict[str, object]], asked: list[object]) -> str | None:
    for j, block in enumerate(blocks):
        if block.get("type") == "tool_result" and block.get("tool_use_id") not in asked:
            return (
                f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                f"blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a "
                "corresponding `tool_use` block in the previous message."
            )
    return None


def _uses_answered(
    i: int, blocks: list[dict[str, object]], after: list[dict[str, object]]
) -> str | None:
    answered = _ids(after, "tool_result", "tool_use_id")
    missing = [str(x) for x in _ids(blocks, "tool_use", "id") if x not in answered]
    if missing:
        return (
            f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks "
            f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
            "corresponding `tool_result` block in the next message."
        )
    return None


def _anthropic_tool_defs(data: dict[str, object]) -> str | None:
    for k, tool in enumerate(_objects(data.get("tools"))):
        if not isinstance(tool.get("name"), str):
            return f"tools.{k}.name: Field required"
        custom = tool.get("type") in (None, "custom")
        if custom and not isinstance(tool.get("input_schema"), dict):
            return f"tools.{k}.custom.input_schema: Field required"
    return None


def check_openai(data: dict[str, object]) -> str | None:
    """The first OpenAI rule the body breaks (see the module docstring), or ``None``."""
    for k, tool in enumerate(_objects(data.get("tools"))):
        if tool.get("type") != "function":
            return f"Missing required parameter: 'tools[{k}].type' (expected 'function')."
        function = tool.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return f"Missing required parameter: 'tools[{k}].function.name'."
    return _openai_tool_messages(list(_objects(data.get("messages"))))


def _openai_tool_messages(messages: list[dict[str, object]]) -> str | None:
    # Stray tool messages first: they say more than the unanswered calls they leave.
    calls: list[object] | None = None  # the ids of the last assistant message's calls
    for i, message in enumerate(messages):
        if message.get("role") != "tool":
            is_caller = message.get("role") == "assistant"
            calls = [c.get("id") for c in _objects(message.get("tool_calls"))] if is_caller else []
            continue
        if not calls:
            return (
                "Invalid parameter: messages with role 'tool' must be a response to a "
                "preceeding message with 'tool_calls'."
            )
        if message.get("tool_call_id") not in calls:
            return (
                f"Invalid parameter: 'tool_call_id' of '{message.get('tool_call_id')}' "
                f"not found in 'tool_calls' of previous message (messages[{i}])."
            )
    for i, message in enumerate(messages[:-1]):
        if message.get("role") != "assistant":
            continue
        ids = [c.get("id") for c in _objects(message.get("tool_calls"))]
        missing = _unanswered(ids, messages[i + 1 :])
        if missing:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not "
                f"have response messages: {', '.join(missing)}"
            )
    return None


def _unanswered(ids: list[object], after: list[dict[str, object]]) -> list[str]:
    """The call ids no ``tool`` message right after answers."""
    answered: set[object] = set()
    for message in after:
        if message.get("role") != "tool":
            break
        answered.add(message.get("tool_call_id"))
    return [str(x) for x in ids if x not in answered]


def _objects(value: object) -> Iterator[dict[str, object]]:
    """The JSON objects in a list (nothing when ``value`` is not a list)."""
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))
