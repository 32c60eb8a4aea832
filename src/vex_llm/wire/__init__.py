"""The OpenAI Chat Completions and Anthropic Messages wire formats <-> vex-llm's types.

Pure functions over decoded JSON (dicts): no I/O, no clock. ``vex_llm.wire.openai`` and
``vex_llm.wire.anthropic`` each read and write request bodies, answer bodies and stream
events; the ``from_*`` / ``to_*`` methods on ``LlmRequest`` and ``LlmResponse`` call them.
Malformed request bodies raise ``InvalidRequest`` and malformed answers or events
``InvalidResponse``, each naming the field (``messages[2].content[0].image_url.url``).
"""

from __future__ import annotations

from . import anthropic, openai
from ._shared import EFFORT_BUDGETS, FINISH_REASONS

__all__ = ["EFFORT_BUDGETS", "FINISH_REASONS", "anthropic", "openai"]
