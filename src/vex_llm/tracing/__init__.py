"""OpenTelemetry GenAI traces and metrics of every call (extra ``otel``; API only).

``install()`` starts one ``chat {model}`` span per logical call of a ``stack()``, a child
span per upstream attempt, span events for the policies' decisions, and the GenAI client
metrics, on the providers you configured with the OpenTelemetry SDK (or any other)::

    import vex_llm.tracing

    tracing = vex_llm.tracing.install()      # the global tracer and meter providers

Like ``vex_llm.metrics.install()`` it is scoped to the current context (no process-wide
switch): call it at the start of ``main()``; ``uninstall()`` stops it. Prompts and
completions are recorded only with ``capture_content=True``.
"""

from __future__ import annotations

try:
    from opentelemetry import metrics, trace
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    msg = "vex_llm.tracing needs opentelemetry-api: pip install 'vex-llm[otel]'"
    raise ImportError(msg) from exc

from .._observe import Observing, observe
from ._otel import TracingObserver, metric_names

__all__ = ["Observing", "TracingObserver", "install", "metric_names"]

_SCOPE = "vex_llm"


def install(
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    *,
    capture_content: bool = False,
) -> Observing:
    """Trace every vex-llm call made from this context on with OpenTelemetry.

    Metric names follow ``OTEL_SEMCONV_STABILITY_OPT_IN`` as read now: the stable GenAI
    names by default, ``gen_ai.client.inference.*`` with ``gen_ai_latest_experimental``.

    Args:
        tracer_provider: Where spans go (default: the global tracer provider).
        meter_provider: Where metrics go (default: the global meter provider).
        capture_content: Record prompts and answers on the call spans
            (``gen_ai.input.messages`` / ``gen_ai.output.messages``; default False: they
            may hold personal or secret data).

    Returns:
        The handle: ``uninstall()`` stops tracing. Usable as a context manager.
    """
    tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)
    meter = metrics.get_meter(_SCOPE, meter_provider=meter_provider)
    observer = TracingObserver(tracer, meter, metric_names(), capture_content=capture_content)
    return observe(observer)
