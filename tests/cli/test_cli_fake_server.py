"""`vex-llm fake-server`: the FakeLLMServer from the command line, faults from --fault."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx2
import pytest
from _cli_run import clean_env, one_line, vex

from vex_llm.cli import main
from vex_llm.cli._fake_server import FaultSpec, parse_fault
from vex_llm.testing import Fault

pytestmark = pytest.mark.fake_server

BODY = {"model": "m", "messages": [{"role": "user", "content": "ping"}]}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("outage", FaultSpec(fault=Fault.error(503))),
        ("rate=0.3:status=503", FaultSpec(fault=Fault.error(503), rate=0.3)),
        ("status=429:retry-after=2", FaultSpec(fault=Fault.error(429, retry_after=2.0))),
        ("rate-limited:retry_after=1.5", FaultSpec(fault=Fault.rate_limited(retry_after=1.5))),
        ("latency=0.5:times=10", FaultSpec(fault=Fault.latency(0.5), times=10)),
        ("cut:after=3:stream=yes", FaultSpec(fault=Fault.cut(after_chunks=3), stream=True)),
        ("reset", FaultSpec(fault=Fault.reset())),
        ("reset:after=2", FaultSpec(fault=Fault.reset(after_chunks=2))),
        ("hang:wire=anthropic", FaultSpec(fault=Fault.hang(), wire="anthropic")),
        ("stall:after=1:seconds=2", FaultSpec(fault=Fault.stall(after_chunks=1, seconds=2.0))),
        ("overloaded:stream=no", FaultSpec(fault=Fault.overloaded(), stream=False)),
        ("context-length", FaultSpec(fault=Fault.context_length())),
        ("malformed", FaultSpec(fault=Fault.malformed())),
    ],
)
def test_fault_specs_map_onto_the_fault_builders(spec: str, expected: FaultSpec) -> None:
    """Each --fault spelling builds the Fault and rule its builder would."""
    assert parse_fault(spec) == expected


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("", "empty part"),
        ("bogus", "name exactly one fault"),
        ("outage:status=503", "found outage, status"),
        ("latency", "latency needs a value"),
        ("status=abc", "status must be an HTTP status code"),
        ("status=700", "400-599"),
        ("outage:rate=2", "rate must be a probability"),
        ("outage:after=1", "outage does not take after"),
        ("outage:wire=grpc", "wire must be openai or anthropic"),
        ("outage:times=-1", "times must be a whole number"),
        ("outage:stream=maybe", "stream must be yes or no"),
        ("outage::times=1", "empty part"),
        ("outage:times=1:times=2", "given twice"),
    ],
)
def test_bad_fault_specs_say_what_is_wrong(
    spec: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad --fault is one line naming the spec and the part that is wrong."""
    assert main(["fake-server", "--fault", spec]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"--fault {spec!r}" in line
    assert problem in line


def test_a_port_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A port another socket holds: one line naming it, exit 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["fake-server", "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in one_line(capsys.readouterr().err)


@pytest.fixture
def fake_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m vex_llm fake-server` failing its first plain request, and its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vex_llm", "fake-server", "--fault", "status=503:times=1:stream=no"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read() if process.stderr else ""
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_fake_server_serves_faults_until_terminated(
    fake_server: tuple[subprocess.Popen[str], str],
) -> None:
    """The server prints its base URL, injects the fault, answers `ask`, and stops on SIGTERM."""
    process, url = fake_server
    assert url.endswith("/v1")
    with httpx2.Client(timeout=10.0) as client:
        assert client.post(f"{url}/chat/completions", json=BODY).status_code == 503
        answer = client.post(f"{url}/chat/completions", json=BODY)
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == "You said: ping"
    asked = vex("ask", "--base-url", url, "hello")
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.splitlines()[0] == "You said: hello"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "stopped after 3 request(s)" in err
    assert "Traceback" not in err


def test_fake_server_stops_cleanly_on_ctrl_c(
    fake_server: tuple[subprocess.Popen[str], str],
) -> None:
    """Ctrl-C (SIGINT) stops the server with exit 0, not a traceback."""
    process, _ = fake_server
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "stopped after 0 request(s)" in err
