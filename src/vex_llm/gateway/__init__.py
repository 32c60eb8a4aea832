"""An OpenAI- and Anthropic-compatible HTTP gateway over any provider (extra ``gateway``).

``create_app(models)`` builds a Starlette ASGI app serving ``POST /v1/chat/completions``,
``POST /v1/messages``, ``GET /v1/models``, ``GET /v1/circuits``, ``GET /healthz`` and
``GET /readyz``; ``vex-llm serve`` runs it on uvicorn.
"""

from __future__ import annotations

from ._app import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENT, create_app

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_CONCURRENT", "create_app"]
