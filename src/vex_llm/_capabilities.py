"""What a provider can accept, and the check that fails a request before it is sent.

A fallback moves on from a provider that cannot take a request (an image for a model
without vision) the way it moves on from a context-length error: the check raises
``InvalidRequest`` whose ``.code`` names what is missing, before any byte is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Self

from ._content import DocumentPart, ImagePart
from ._errors import InvalidRequest
from ._types import LlmRequest

UNSUPPORTED_VISION: Final = "unsupported_vision"
UNSUPPORTED_DOCUMENTS: Final = "unsupported_documents"
UNSUPPORTED_JSON_SCHEMA: Final = "unsupported_json_schema"
UNSUPPORTED_TOOLS: Final = "unsupported_tools"
UNSUPPORTED_PREFILL: Final = "unsupported_prefill"
UNSUPPORTED_RESPONSE_FORMAT: Final = "unsupported_response_format"

UNSUPPORTED_CODES: Final = frozenset(
    {
        UNSUPPORTED_VISION,
        UNSUPPORTED_DOCUMENTS,
        UNSUPPORTED_JSON_SCHEMA,
        UNSUPPORTED_TOOLS,
        UNSUPPORTED_PREFILL,
        UNSUPPORTED_RESPONSE_FORMAT,
    }
)
"""The ``InvalidRequest.code`` values that mean "this provider cannot take the request",
not "the request is wrong": raised before sending (by ``check_capabilities``, or by a wire
that cannot express a part, such as a plain JSON response format on the Anthropic wire),
so a fallback moves on to a provider that can take it."""


def is_unsupported(error: BaseException) -> bool:
    """Whether ``error`` says the provider cannot take the request (another one may).

    Args:
        error: What a provider raised.

    Returns:
        True for an ``InvalidRequest`` whose ``.code`` is one of ``UNSUPPORTED_CODES``.
    """
    return isinstance(error, InvalidRequest) and error.code in UNSUPPORTED_CODES


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """What a provider (a model behind a wire) can accept.

    Every field defaults to ``True``: the OpenAI and Anthropic APIs take all of it.
    ``Capabilities.for_kind`` gives the defaults per provider kind; users override them
    with ``capabilities=`` when building a provider.

    Args:
        vision: Image parts.
        documents: Document parts (PDF or text files).
        json_schema: A JSON Schema response format the provider enforces.
        tools: Tool definitions, tool calls and tool results.
        prefill: A conversation that ends with an assistant message, which the model
            continues (Anthropic; OpenAI answers it as a new turn instead).
    """

    vision: bool = True
    documents: bool = True
    json_schema: bool = True
    tools: bool = True
    prefill: bool = True

    @classmethod
    def for_kind(cls, kind: str) -> Self:
        """The defaults for a provider kind.

        ``"openai"`` and ``"anthropic"`` (and ``"mock"``) take everything except that
        OpenAI has no prefill; any other kind (an OpenAI-compatible server such as
        ``"ollama"`` or ``"vllm"``, whose model is unknown) is assumed to take tools only,
        so a fallback routes images, documents and schemas to a provider known to take them.

        Args:
            kind: The provider kind (``"openai"``, ``"anthropic"``, a preset name, ...).

        Returns:
            The capabilities.
        """
        known = _KINDS.get(kind)
        return (
            cls(**known)
            if known is not None
            else cls(vision=False, documents=False, json_schema=False, tools=True, prefill=False)
        )


_KINDS: Final = MappingProxyType(
    {
        "openai": {"prefill": False},
        "anthropic": {},
        "mock": {},
    }
)


def _missing(request: LlmRequest, capabilities: Capabilities) -> tuple[str, str] | None:
    """The first thing ``request`` needs that ``capabilities`` lack: (code, what)."""
    parts = [part for message in request.messages for part in message.parts]
    if not capabilities.vision and any(isinstance(p, ImagePart) for p in parts):
        return UNSUPPORTED_VISION, "an image"
    if not capabilities.documents and any(isinstance(p, DocumentPart) for p in parts):
        return UNSUPPORTED_DOCUMENTS, "a document"
    schema = request.response_format
    if not capabilities.json_schema and schema is not None and schema.type == "json_schema":
        return UNSUPPORTED_JSON_SCHEMA, "a JSON Schema response format"
    uses_tools = bool(request.tools) or any(
        m.tool_calls or m.role == "tool" for m in request.messages
    )
    if not capabilities.tools and uses_tools:
        return UNSUPPORTED_TOOLS, "tools"
    if not capabilities.prefill and request.messages[-1].role == "assistant":
        return UNSUPPORTED_PREFILL, "a prefilled assistant turn"
    return None


def check_capabilities(
    request: LlmRequest, capabilities: Capabilities, *, provider: str | None = None
) -> None:
    """Fail before sending when ``request`` needs something the provider cannot take.

    Args:
        request: The request about to be sent.
        capabilities: What the provider can take.
        provider: The provider's name, for the error.

    Raises:
        InvalidRequest: With ``.code`` ``"unsupported_vision"``,
            ``"unsupported_documents"``, ``"unsupported_json_schema"``,
            ``"unsupported_tools"`` or ``"unsupported_prefill"`` (not retryable).
    """
    missing = _missing(request, capabilities)
    if missing is not None:
        code, what = missing
        msg = f"{provider or 'this provider'} cannot take {what} ({code}); use a provider that can"
        raise InvalidRequest(msg, provider=provider, code=code, model=request.model)
