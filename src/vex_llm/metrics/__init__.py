"""Prometheus metrics of every call, attempt, decision and circuit (extra ``metrics``).

``install()`` registers vex-llm's metrics in a prometheus-client registry and starts
reporting every stack, breaker and policy used in the current context::

    import vex_llm.metrics

    metrics = vex_llm.metrics.install()       # the default REGISTRY
    prometheus_client.start_http_server(9464)

There is no process-wide switch: the observer lives in a context variable (as
``vex_llm.trace()`` and ``deadline()`` do), so tasks started after ``install()`` report
and tests stay isolated. Call it once at the start of ``main()``; ``uninstall()`` stops
the reporting and removes the metrics from the registry.
"""

from __future__ import annotations

from types import TracebackType

try:
    from prometheus_client import REGISTRY, CollectorRegistry
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    msg = "vex_llm.metrics needs prometheus-client: pip install 'vex-llm[metrics]'"
    raise ImportError(msg) from exc

from .._observe import Observing, observe
from ._prometheus import STATES, PrometheusObserver, state_name

__all__ = ["STATES", "Metrics", "PrometheusObserver", "install", "state_name"]


class Metrics:
    """What ``install()`` returns: the observer, its registry, and ``uninstall()``.

    Args:
        observer: The installed observer.
        handle: Its place in the current context.
    """

    __slots__ = ("_handle", "observer")

    def __init__(self, observer: PrometheusObserver, handle: Observing) -> None:
        self.observer = observer
        self._handle = handle

    @property
    def registry(self) -> CollectorRegistry:
        """The registry the metrics are in."""
        return self.observer.registry

    def uninstall(self) -> None:
        """Stop reporting and unregister the metrics (a no-op the second time)."""
        self._handle.uninstall()
        self.observer.unregister()

    def __enter__(self) -> Metrics:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()


def install(registry: CollectorRegistry | None = None) -> Metrics:
    """Report every vex-llm call made from this context on to Prometheus.

    Args:
        registry: Where to register the metrics (default: prometheus-client's global
            ``REGISTRY``, which ``start_http_server`` and ``make_asgi_app`` serve).

    Returns:
        The ``Metrics`` handle (``uninstall()``; usable as a context manager).

    Raises:
        ValueError: If vex-llm's metrics are already registered there (uninstall first).
    """
    observer = PrometheusObserver(REGISTRY if registry is None else registry)
    return Metrics(observer, observe(observer))
