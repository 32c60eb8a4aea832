"""The wire side of an ``HttpProvider``: its three hooks, and the one place their results
and errors are checked and given the provider's name (the capability check before a body
is built, a wire's ``InvalidRequest`` / ``InvalidResponse`` raised again as this
provider's, an error object in a 2xx answer raised as its kind)."""

from __future__ import annotations

import dataclasses
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping

from .._capabilities import Capabilities, check_capabilities
from .._errors import InvalidRequest, LlmError
from .._types import LlmRequest, LlmResponse
from ._events import EventReader
from ._http import Boundary

_log = logging.getLogger("vex_llm")


class WireHooks(ABC):
    """The hooks a wire format gives ``HttpProvider``, and their checked use."""

    _name: str
    _boundary: Boundary
    _capabilities: Capabilities

    @abstractmethod
    def build_body(self, request: LlmRequest, model: str, *, stream: bool) -> dict[str, object]:
        """The JSON body to POST for ``request`` (the hook for the request side of a wire).

        Runs after the capability check, before anything is sent.

        Args:
            request: The request.
            model: The model to name (``request.model``, else the provider's).
            stream: Whether the body asks for a stream.

        Returns:
            The JSON-ready body.

        Raises:
            InvalidRequest: When the wire cannot express the request (it is raised with
                this provider's name; a ``.code`` in ``UNSUPPORTED_CODES`` lets a fallback
                move on).
        """

    @abstractmethod
    def read_answer(self, data: Mapping[str, object]) -> LlmResponse:
        """Read a finished answer from a 2xx JSON body (the hook for the answer side).

        An error object in the body (``{"error": ...}``) never reaches this hook: it is
        raised as its kind. ``provider`` and ``latency_s`` are filled in afterwards, and
        ``model`` when the answer names none.

        Args:
            data: The decoded body.

        Returns:
            The answer.

        Raises:
            InvalidResponse: When ``data`` breaks the wire format (raised again with this
                provider's name).
        """

    @abstractmethod
    def stream_reader(self, model: str) -> EventReader:
        """A reader for one stream's Server-Sent Events (the hook for the stream side).

        Args:
            model: The model asked for.

        Returns:
            A new ``EventReader`` (one per stream), built as ``Reader(model, self)``.
        """

    def _body(self, request: LlmRequest, model: str, *, stream: bool) -> bytes:
        """The request's JSON body, once the request is known to fit this provider.

        Raises:
            InvalidRequest: The request needs something this provider cannot take (its
                ``capabilities``, or what its wire can express); nothing is sent.
        """
        try:
            check_capabilities(request, self._capabilities, provider=self._name)
            payload = self.build_body(request, model, stream=stream)
        except InvalidRequest as exc:
            error = InvalidRequest(exc.message, provider=self._name, code=exc.code, model=model)
            raise self._fail(error) from exc
        return json.dumps(payload).encode()

    def _read(self, data: object, model: str, latency: float) -> LlmResponse:
        """The answer in a 2xx body (an error object in it is raised as its kind)."""
        boundary = self._boundary
        if not isinstance(data, dict):
            raise self._fail(boundary.invalid("an answer that is not a JSON object", model=model))
        if data.get("error"):
            raise self._fail(boundary.event_error(data, model=model, partial=""))
        try:
            answer = self.read_answer(data)
        except (LlmError, ValueError) as exc:
            # ValueError: a value the types refuse that the hook let through.
            what = f"an answer that breaks the wire format: {exc}"
            raise self._fail(boundary.invalid(what, model=model)) from boundary.cause(exc)
        return dataclasses.replace(
            answer, model=answer.model or model, provider=self._name, latency_s=latency
        )

    def _fail(self, error: LlmError) -> LlmError:
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "provider.failed",
                extra={
                    "provider": self._name,
                    "error": type(error).__name__,
                    "status": error.status,
                    "code": error.code,
                },
            )
        return error
