"""`vex-llm chaos`: --list from the scenarios, --out checked before the run, Ctrl-C, the PNG."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from vex_llm.cli import main
from vex_llm.lab import (
    SCENARIOS,
    CallRecord,
    ChaosRun,
    StateMark,
    UpstreamHit,
    state_bars,
    write_timeline,
)
from vex_llm.lab._plot import _duration_label

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SHORT = ["--duration", "0.5", "--concurrency", "1", "--no-live"]


def test_list_says_what_each_scenario_does_for_the_duration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--list` prints each scenario's window-derived description for the given --duration."""
    assert main(["chaos", "--list", "--duration", "10"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(SCENARIOS)
    for line, scenario in zip(lines, SCENARIOS.values(), strict=True):
        assert line.startswith(scenario.name)
        assert scenario.describe(10.0) in line
    assert "from 2.5 s to 6.5 s (of a 10 s run)" in lines[0]


def _unwritable_dir(tmp_path: Path) -> Path:
    """A folder that exists but takes no new files (for root: a read-only system folder)."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        return locked
    for candidate in (Path("/sys"), Path("/proc")):
        try:
            with tempfile.NamedTemporaryFile(dir=candidate):
                pass
        except OSError:
            return candidate
    pytest.skip("no unwritable folder available to root here")


@pytest.mark.parametrize("case", ["file", "under-a-file", "unwritable"])
def test_bad_out_is_one_line_and_exit_2_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """A file, a path under a file or an unwritable folder as --out fails at once, exit 2."""
    existing = tmp_path / "report.txt"
    existing.write_text("keep me")
    out = {
        "file": existing,
        "under-a-file": existing / "sub",
        "unwritable": _unwritable_dir(tmp_path) if case == "unwritable" else tmp_path,
    }[case]
    assert main(["chaos", "outage", *SHORT, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"vex-llm: --out {out} ")
    assert ("is a file" if case == "file" else "cannot be written") in lines[0]
    assert existing.read_text() == "keep me"


def test_good_out_is_created_and_left_clean(tmp_path: Path) -> None:
    """A missing --out folder is created by the pre-check, which leaves no probe file behind."""
    from vex_llm.lab import check_out

    out = tmp_path / "a" / "b"
    check_out(out)
    assert out.is_dir()
    assert list(out.iterdir()) == []


def _exe() -> str:
    return shutil.which("vex-llm", path=str(Path(sys.executable).parent)) or "vex-llm"


def test_ctrl_c_writes_a_partial_report_and_says_so(tmp_path: Path) -> None:
    """SIGINT during a run: the partial report and PNG are written, stderr says so, exit 130."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    args = ["chaos", "outage", "--duration", "60", "--concurrency", "2", "--no-live"]
    process = subprocess.Popen(
        [_exe(), *args, "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], 60)
        assert ready, "the run did not start"
        banner = process.stderr.readline()
        assert banner.startswith("vex-llm chaos: outage"), banner
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "partial report written" in err
    assert "interrupted at " in err
    assert err.strip().endswith("vex-llm: interrupted")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["scenario"] == "outage"
    assert 0 < report["interrupted_at_s"] < 60
    assert (tmp_path / "timeline.png").read_bytes().startswith(PNG_MAGIC)
    assert "report:" in out


def _run() -> ChaosRun:
    """A small hand-made run: the bare side stuck through a silent window."""
    run = ChaosRun(
        "silent",
        7,
        6.0,
        2,
        breakers=["primary", "secondary"],
        description="primary accepts every request and never answers, from 1 s to 3 s",
        fault_windows=[(1.0, 3.0)],
    )
    run.calls += [CallRecord("bare", 0.1 * i, 0.01, True, "primary") for i in range(10)]
    run.calls += [CallRecord("bare", 1.0, 5.0, False, None, "Timeout") for _ in range(2)]
    run.calls += [CallRecord("resilient", 0.1 * i, 0.01, True, "primary") for i in range(60)]
    run.upstream += [UpstreamHit("bare", "primary", 0.1 * i, 200) for i in range(12)]
    run.upstream += [UpstreamHit("resilient", "secondary", 0.1 * i, 200) for i in range(60)]
    run.states += [
        StateMark("resilient", "primary", 1.5, "open"),
        StateMark("resilient", "primary", 3.5, "half_open"),
        StateMark("resilient", "primary", 3.501, "closed"),
    ]
    return run


@pytest.mark.parametrize("interrupted_at", [None, 2.5])
def test_timeline_draws_full_and_partial_runs(tmp_path: Path, interrupted_at: float | None) -> None:
    """The PNG is drawn for a full and for an interrupted run, without warnings."""
    run = _run()
    run.interrupted_at = interrupted_at
    path = write_timeline(run, tmp_path / "timeline.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_timeline_of_a_run_interrupted_before_any_answer(tmp_path: Path) -> None:
    """A run stopped before any request finished still gets a (mostly empty) PNG."""
    run = ChaosRun("outage", 7, 20.0, 8, breakers=["primary"], interrupted_at=0.2)
    path = write_timeline(run, tmp_path / "timeline.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("ms", "text"), [(2.0, "2 ms"), (500.0, "500 ms"), (1000.0, "1 s"), (2000.0, "2 s")]
)
def test_latency_axis_reads_in_ms_and_s(ms: float, text: str) -> None:
    """Latency ticks read as milliseconds or seconds, never as powers of ten."""
    assert _duration_label(ms) == text


def test_short_half_open_probes_are_drawn_wide_and_on_top() -> None:
    """A 1 ms probe between two open spans is drawn 1/150 of the run wide, after the opens."""
    run = ChaosRun("outage", 7, 30.0, 8, breakers=["primary"])
    run.states += [
        StateMark("resilient", "primary", 5.0, "open"),
        StateMark("resilient", "primary", 7.0, "half_open"),
        StateMark("resilient", "primary", 7.001, "open"),
        StateMark("resilient", "primary", 9.0, "half_open"),
        StateMark("resilient", "primary", 9.002, "closed"),
    ]
    bars = state_bars(run, "primary")
    assert [state for state, _, _ in bars] == [
        "closed", "closed", "open", "open", "half_open", "half_open",
    ]  # fmt: skip
    assert bars[1] == ("closed", 9.002, pytest.approx(20.998))  # runs to the end
    assert bars[4] == ("half_open", 7.0, pytest.approx(0.2))
    assert bars[2] == ("open", 5.0, pytest.approx(2.0))
