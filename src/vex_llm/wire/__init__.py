"""The OpenAI Chat Completions and Anthropic Messages wire formats <-> vex-llm's types.

Pure functions over decoded JSON (dicts): no I/O, no clock. ``vex_llm.wire.openai`` and
``vex_llm.wire.anthropic`` each read and write request bodies, answer bodies and stream
events; the ``from_*`` / ``to_*`` methods on ``LlmRequest`` and ``LlmResponse`` call them.
Malformed request bodies raise ``InvalidRequest`` and malformed answers or events
``InvalidResponse``, each naming the field (``messages[2].content[0].image_url.url``).

Nothing is dropped silently: unknown top-level fields go to ``LlmRequest.extra``, unknown
fields of a message, a content part or a tool (Anthropic ``cache_control``, ``is_error``
on a tool result, OpenAI ``annotations``, ...) to that object's ``extra``, each for the
wire it came from and written back verbatim on that wire only. An unknown field deeper
down (inside an ``image_url``, a ``source``, a tool call) raises ``InvalidRequest``.
"""

from __future__ import annotations

from . import anthropic, openai
from ._shared import EFFORT_BUDGETS, FINISH_REASONS

__all__ = ["EFFORT_BUDGETS", "FINISH_REASONS", "anthropic", "openai"]
