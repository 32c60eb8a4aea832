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

try:
    from prometheus_client import REGISTRY, CollectorRegistry
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    msg = "vex_llm.metrics needs prometheus-client: pip install 'vex-llm[metrics]'"
    raise ImportError(msg) from exc

from .._observe import Observing, observe
from ._prometheus import STATES, PrometheusObserver, state_name

__all__ = ["STATES", "Observing", "PrometheusObserver", "install", "state_name"]


def install(registry: CollectorRegistry | None = None) -> Observing:
    """Report every vex-llm call made from this context on to Prometheus.

    Args:
        registry: Where to register the metrics (default: prometheus-client's global
            ``REGISTRY``, which ``start_http_server`` and ``make_asgi_app`` serve).

    Returns:
        The handle: ``uninstall()`` stops the reporting and unregisters the metrics;
        ``.observer.registry`` is the registry. Usable as a context manager.

    Raises:
        ValueError: If vex-llm's metrics are already registered there (uninstall first).
    """
    observer = PrometheusObserver(REGISTRY if registry is None else registry)
    return observe(observer, observer.unregister)
