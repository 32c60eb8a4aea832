"""`vex-llm chaos --metrics-port`: the stack's metrics are scraped live and kept in the report."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from _redis_server import free_port
from vex_llm.cli import main


def _exe() -> str:
    return shutil.which("vex-llm", path=str(Path(sys.executable).parent)) or "vex-llm"


def test_the_circuit_gauge_is_served_during_the_run_and_the_counters_land_in_the_report(
    tmp_path: Path,
) -> None:
    """A scrape mid-run shows the one-hot circuit gauge; report.json keeps the final counts."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    args = ["chaos", "outage", "--duration", "2", "--concurrency", "2", "--no-live"]
    process = subprocess.Popen(
        [_exe(), *args, "--out", str(tmp_path), "--metrics-port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], 60)
        assert ready, "the run did not start"
        line = process.stderr.readline()
        assert line.strip() == f"vex-llm chaos: metrics on http://127.0.0.1:{port}/metrics"
        process.stderr.readline()  # the run's banner: traffic has started
        scraped = httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    families = {family.name: family for family in text_string_to_metric_families(scraped)}
    states = [
        s for s in families["vex_llm_circuit_state"].samples if s.labels["circuit"] == "primary"
    ]
    assert sorted(s.labels["state"] for s in states) == [
        "closed",
        "forced_open",
        "half_open",
        "open",
    ]
    assert sum(sample.value for sample in states) == 1.0
    report = json.loads((tmp_path / "report.json").read_text())
    counters = report["metrics"]
    requests = {k: v for k, v in counters.items() if k.startswith("vex_llm_requests_total{")}
    assert sum(requests.values()) == report["summary"]["resilient"]["requests"]


def test_a_bad_metrics_port_is_refused_before_any_traffic(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Port 0 is a usage error (exit 2), said before the run starts."""
    assert main(["chaos", "outage", "--duration", "1", "--metrics-port", "0"]) == 2
    assert "--metrics-port" in capsys.readouterr().err
