"""Numeric flags share the library's duration and count checks, in one line naming the flag."""

from __future__ import annotations

import pytest
from _cli_run import one_line

from vex_llm.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["ask", "--deadline", "1e9", "hi"],
            "--deadline must be a finite number of seconds > 0 and <= 10000000, got 1000000000.0",
        ),
        (
            ["chaos", "--duration", "601"],
            "--duration must be a finite number of seconds > 0 and <= 600, got 601.0",
        ),
        (["chaos", "--concurrency", "0"], "--concurrency must be in 1-256, got 0"),
        (
            ["fake-server", "--chunk-delay", "inf"],
            "--chunk-delay must be a finite number of seconds >= 0 and <= 10000000, got inf",
        ),
        (
            ["fake-server", "--fault", "latency=1e9"],
            "latency must be a number of seconds in [0, 10000000], got 1000000000.0",
        ),
        (
            ["fake-server", "--fault", "status=503:retry-after=nan"],
            "retry-after must be a number of seconds in [0, 10000000], got nan",
        ),
        (
            ["fake-server", "--fault", "outage:times=99999999999"],
            "times must be an integer >= 0 and <= 1000000000, got 99999999999",
        ),
    ],
)
def test_numeric_flags_are_bounded(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Durations and counts out of the shared bounds exit 2 with one line naming the flag."""
    assert main(args) == 2
    assert message in one_line(capsys.readouterr().err)


def test_the_bound_itself_is_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    """A value at the bound stays valid: the check refuses only out-of-range values."""
    assert main(["chaos", "--list", "--duration", "600"]) == 0
    assert "outage" in capsys.readouterr().out
