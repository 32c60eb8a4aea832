"""What ``FallbackProvider`` and ``HedgeProvider`` share: a checked chain of providers,
availability, closing, the caller errors that stop a chain, and the final error group."""

from __future__ import annotations

from collections.abc import Sequence

from .._capabilities import is_unsupported
from .._errors import AllProvidersFailed, AuthenticationFailed, InvalidRequest, LlmError
from .._provider import LlmProvider
from ._trace import base_name, emit


def stops_chain(exc: BaseException) -> bool:
    """A caller error: another provider would refuse the same request the same way.

    A request this provider cannot take (an image without vision, ...: ``is_unsupported``)
    is not one: it fails before sending, and a provider that can take it is tried next.
    """
    return isinstance(exc, InvalidRequest | AuthenticationFailed) and not is_unsupported(exc)


class Chain(LlmProvider):
    """Providers tried in order, primary first.

    Args:
        providers: The chain.
        owner: The class name used in error messages.
        minimum: How many providers the chain needs.

    Raises:
        ValueError: On fewer than ``minimum`` providers.
        TypeError: If an element of ``providers`` is not an ``LlmProvider``.
    """

    def __init__(self, providers: Sequence[LlmProvider], *, owner: str, minimum: int) -> None:
        chain = tuple(providers)
        if len(chain) < minimum:
            if minimum == 1:
                msg = f"{owner}.providers must hold at least one provider"
            else:
                msg = f"{owner}.providers must hold at least two providers, got {len(chain)}"
            raise ValueError(msg)
        for provider in chain:
            value: object = provider
            if not isinstance(value, LlmProvider):
                msg = f"{owner}.providers must hold LlmProviders, got {type(value).__name__}"
                raise TypeError(msg)
        self._providers = chain
        self._names = tuple(base_name(p) for p in chain)

    @property
    def providers(self) -> tuple[LlmProvider, ...]:
        """The chain, primary first."""
        return self._providers

    async def is_available(self) -> bool:
        """True while at least one provider of the chain is available."""
        for provider in self._providers:
            if await provider.is_available():
                return True
        return False

    def _group(self, errors: list[LlmError]) -> AllProvidersFailed:
        """The error raised when every provider failed (traced as ``give_up``)."""
        tried = ", ".join(f"{e.provider or '?'}: {type(e).__name__}" for e in errors)
        group = AllProvidersFailed(f"all providers failed ({tried})", errors)
        emit("give_up", self.name, detail="all_failed")
        return group

    async def aclose(self) -> None:
        for provider in self._providers:
            await provider.aclose()
