"""The settings of a ``RateLimitedProvider``: budgets, tiers, waiting and estimating."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, TypeVar

from .._limits import check_count, check_seconds, checked_as
from ..stores import Cell
from ._estimate import Estimator, estimate_tokens

_V = TypeVar("_V")
_MINUTE: Final = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RateBudget:
    """Requests per window and tokens per minute: the limits of one bucket pair.

    Args:
        requests: Requests allowed per ``window`` (default ``None``: not limited). Up to
            this many may go at once (the burst); then one every ``window / requests``.
        window: The requests' window, seconds (default 60: providers count per minute).
        tokens_per_minute: Tokens (prompt and completion) per minute (default ``None``:
            not limited). A call reserves its estimate up front and settles with the real
            usage.

    Raises:
        ValueError: On a count < 1, a bad window, or neither limit set.
    """

    requests: int | None = None
    window: float = _MINUTE
    tokens_per_minute: int | None = None

    def __post_init__(self) -> None:
        if self.requests is not None:
            checked_as("RateBudget.requests", check_count, self.requests)
        if self.tokens_per_minute is not None:
            checked_as("RateBudget.tokens_per_minute", check_count, self.tokens_per_minute)
        checked_as("RateBudget.window", check_seconds, self.window)
        if self.requests is None and self.tokens_per_minute is None:
            msg = "RateBudget needs requests or tokens_per_minute (or both)"
            raise ValueError(msg)

    @property
    def request_cell(self) -> Cell | None:
        """The requests bucket (cost 1), if limited."""
        if self.requests is None:
            return None
        return Cell(self.window / self.requests, float(self.requests), 1.0)

    def token_cell(self, cost: float) -> Cell | None:
        """The tokens bucket charged ``cost`` tokens, if limited."""
        if self.tokens_per_minute is None:
            return None
        return Cell(_MINUTE / self.tokens_per_minute, float(self.tokens_per_minute), cost)


def _delay(value: object) -> float:
    return check_seconds(value, zero=True)


def _frozen(value: Mapping[str, _V]) -> Mapping[str, _V]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitConfig:
    """What a ``RateLimitedProvider`` allows, and how long a call may wait for it.

    A call is charged in up to two budgets at once: the provider's (``budget``, or the
    model's own from ``models`` when the request names one listed there) and its
    tenant's (the tier of ``current_tenant()``, see ``tenant()``), each a bucket of its
    own per tenant. A tenant not in ``tenants`` (and a call made outside ``tenant()``)
    gets ``default_tier``; without one it has no tenant budget.

    Args:
        budget: The provider's budget for every call (default ``None``: none).
        models: Budgets of single models, by the name a request gives (used instead of
            ``budget`` for those requests).
        tiers: Tenant budgets by tier name.
        tenants: Each tenant's tier name.
        default_tier: The tier of unknown tenants and of calls without one (``None``: no
            tenant budget for them).
        max_wait: The longest a call waits for its budget, seconds (default 30, further
            cut to the time left on the call's deadline); a call that would wait longer
            fails at once with ``RateLimited`` (``code="local_rate_limit"``).
        completion_tokens: Tokens reserved for the answer of a request without
            ``max_tokens`` (default 1024), refunded or debited when the usage comes.
        estimator: The prompt's token estimate (default ``estimate_tokens``:
            characters / 4; ``tiktoken_estimator()`` counts exactly).
        use_headers: Read the provider's rate-limit headers and slow down before it
            answers 429 (default ``True``).

    Raises:
        ValueError: On no budget at all, a tenant or default tier naming an unknown tier,
            or a bad number.
    """

    budget: RateBudget | None = None
    models: Mapping[str, RateBudget] = field(default_factory=dict)
    tiers: Mapping[str, RateBudget] = field(default_factory=dict)
    tenants: Mapping[str, str] = field(default_factory=dict)
    default_tier: str | None = None
    max_wait: float = 30.0
    completion_tokens: int = 1024
    estimator: Estimator = estimate_tokens
    use_headers: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", _frozen(self.models))
        object.__setattr__(self, "tiers", _frozen(self.tiers))
        object.__setattr__(self, "tenants", _frozen(self.tenants))
        budgets: list[object] = [self.budget, *self.models.values(), *self.tiers.values()]
        for value in budgets:
            if value is not None and not isinstance(value, RateBudget):
                msg = f"RateLimitConfig budgets must be RateBudget, got {type(value).__name__}"
                raise TypeError(msg)
        if all(value is None for value in budgets):
            msg = "RateLimitConfig needs a budget, a model budget or a tier"
            raise ValueError(msg)
        unknown = sorted({t for t in self.tenants.values() if t not in self.tiers})
        if unknown:
            msg = f"RateLimitConfig.tenants name tiers not in tiers: {unknown}"
            raise ValueError(msg)
        if self.default_tier is not None and self.default_tier not in self.tiers:
            msg = f"RateLimitConfig.default_tier {self.default_tier!r} is not in tiers"
            raise ValueError(msg)
        checked_as("RateLimitConfig.max_wait", _delay, self.max_wait)
        checked_as("RateLimitConfig.completion_tokens", check_count, self.completion_tokens)
        estimator: object = self.estimator
        if not callable(estimator):
            msg = f"RateLimitConfig.estimator must be callable, got {self.estimator!r}"
            raise TypeError(msg)

    def provider_budget(self, model: str | None) -> tuple[str, RateBudget | None]:
        """The provider-side budget of a request and its bucket's scope name."""
        if model is not None:
            own = self.models.get(model)
            if own is not None:
                return f"model:{model}", own
        return "provider", self.budget

    def tenant_budget(self, tenant: str | None) -> tuple[str, RateBudget | None]:
        """The tenant-side budget of a call and its bucket's scope name."""
        tier = self.tenants.get(tenant) if tenant is not None else None
        if tier is None:
            tier = self.default_tier
        if tier is None:
            return "", None
        return f"tenant:{tenant or ''}", self.tiers[tier]
