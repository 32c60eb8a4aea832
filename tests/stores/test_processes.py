"""Four worker processes, each with its own RedisStore, in front of one loopback upstream:
the shared circuit holds its trip point and probe budget cluster-wide, and survives Redis
going away and coming back."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from _circuits import unique_prefix

from _redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]

WORKER = Path(__file__).with_name("_worker.py")
WORKERS = 4


class Upstream:
    """A loopback HTTP upstream that counts requests: "down" (503), or "up" (200)."""

    def __init__(self) -> None:
        self.hits = 0
        self.mode = "down"
        self.delay = 0.0
        self._lock = threading.Lock()
        self._hit = threading.Condition(self._lock)
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real upstream

            def do_GET(self) -> None:
                with upstream._lock:
                    upstream.hits += 1
                    upstream._hit.notify_all()
                    mode, delay = upstream.mode, upstream.delay
                if delay:
                    time.sleep(delay)
                body = b"{}"
                self.send_response(503 if mode == "down" else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128  # the default backlog of 5 drops SYNs under a burst

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/models"

    def wait_for_hits(self, count: int, timeout: float = 10.0) -> None:
        """Block until ``count`` requests have arrived (they may still be in flight)."""
        with self._hit:
            assert self._hit.wait_for(lambda: self.hits >= count, timeout), self.hits

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Workers:
    """N worker processes driven over their stdin and stdout."""

    def __init__(self, count: int, settings: dict[str, Any]) -> None:
        self.processes = [
            subprocess.Popen(
                [sys.executable, str(WORKER), json.dumps(settings)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
            for _ in range(count)
        ]
        for answer in self._read_all():
            assert answer == {"ready": True}

    def _read_all(self) -> list[dict[str, Any]]:
        answers = []
        for process in self.processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line, f"worker {process.pid} died"
            answers.append(json.loads(line))
        return answers

    def all(self, **command: Any) -> list[dict[str, Any]]:
        """Send one command to every worker at once; their answers, in worker order."""
        self.send_all(**command)
        return self._read_all()

    def send_all(self, **command: Any) -> None:
        """Send one command to every worker at once; read the answers with ``answers()``."""
        line = json.dumps(command) + "\n"
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(line)
            process.stdin.flush()

    def answers(self) -> list[dict[str, Any]]:
        """The answers to the last ``send_all``, in worker order."""
        return self._read_all()

    def one(self, index: int, **command: Any) -> dict[str, Any]:
        process = self.processes[index]
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps(command) + "\n")
        process.stdin.flush()
        answer: dict[str, Any] = json.loads(process.stdout.readline())
        return answer

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None and process.stdin is not None:
                process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                process.stdin.close()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def total(answers: list[dict[str, Any]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for answer in answers:
        counts.update(answer["counts"])
    return counts


def transitions(answers: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted(tuple(t) for answer in answers for t in answer["transitions"])


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A counting loopback upstream, down until told otherwise."""
    server = Upstream()
    yield server
    server.close()


def start_workers(
    redis: RedisServer,
    upstream: Upstream,
    *,
    timeout: float,
    prefix: str | None = None,
    record_timeout: float = 1.0,
    **config: Any,
) -> Workers:
    settings = {
        "redis": redis.url,
        "upstream": upstream.url,
        "prefix": prefix or unique_prefix(),
        "timeout": timeout,
        "reconnect_after": 0.2,
        "record_timeout": record_timeout,
        "config": config,
    }
    return Workers(WORKERS, settings)


def test_four_processes_share_the_trip_point_and_the_probe_budget(
    redis_server: RedisServer, upstream: Upstream
) -> None:
    """B49-B51 across processes: one trip, <= threshold + in-flight hits, exactly K probes."""
    concurrency = 4
    # A generous Redis timeout: this test is about atomicity, and four processes starting
    # on a small machine can make a first round trip slow enough to fall back.
    workers = start_workers(
        redis_server,
        upstream,
        timeout=1.0,
        failure_threshold=3,
        success_threshold=2,
        half_open_max_calls=2,
        reset_timeout=1.0,
    )
    try:
        tripped = workers.all(op="burst", calls=10, concurrency=concurrency)
        assert not any(answer["degraded"] for answer in tripped)
        assert upstream.hits <= 3 + WORKERS * concurrency
        assert transitions(tripped) == [("closed", "open")]  # one process saw it happen

        hits = upstream.hits
        rejecting = workers.all(op="burst", calls=3, concurrency=1)
        assert total(rejecting) == Counter({"rejected:open": WORKERS * 3})
        assert upstream.hits == hits

        # The upstream stays down and answers slowly, so every probe is in flight at once.
        upstream.delay = 0.3
        time.sleep(1.1)
        hits = upstream.hits
        probing = workers.all(op="burst", calls=10, concurrency=concurrency)
        assert upstream.hits - hits == 2
        counts = total(probing)
        assert counts["failed"] == 2
        assert counts["rejected:half_open_full"] == WORKERS * 10 - 2
        assert transitions(probing) == [("half_open", "open"), ("open", "half_open")]
    finally:
        workers.close()


def test_killing_redis_keeps_calls_flowing_and_a_restart_rejoins(
    own_redis_server: RedisServer, upstream: Upstream
) -> None:
    """B52: Redis killed mid-run: calls go on locally, fast; restarted: shared state again."""
    upstream.mode = "up"
    workers = start_workers(
        own_redis_server, upstream, timeout=0.05, failure_threshold=3, reset_timeout=1.0
    )
    try:
        before = workers.all(op="run_for", seconds=0.3, concurrency=2)
        assert set(total(before)) == {"ok"}
        assert not any(answer["degraded"] for answer in before)

        own_redis_server.stop()
        during = workers.all(op="run_for", seconds=0.5, concurrency=2)
        assert set(total(during)) == {"ok"}
        assert all(answer["degraded"] for answer in during)
        assert max(answer["max_latency"] for answer in during) < 0.05 + 0.05

        own_redis_server.start()
        time.sleep(0.3)
        after = workers.all(op="run_for", seconds=0.3, concurrency=2)
        assert set(total(after)) == {"ok"}
        assert not any(answer["degraded"] for answer in after)

        assert workers.one(0, op="apply", action="isolate") == {"state": "open"}
        shared = workers.all(op="burst", calls=3, concurrency=1)
        assert total(shared) == Counter({"rejected:isolated": WORKERS * 3})
    finally:
        workers.close()


def test_failures_recorded_while_redis_is_paused_still_trip_the_shared_circuit(
    redis_server: RedisServer, upstream: Upstream
) -> None:
    """4 processes x 10 concurrent failures, threshold 40: the outcomes arrive while Redis
    is paused (as under CPU load, but deterministic) for longer than the timeout. None is
    decided locally; once Redis answers the circuit opens, once, at the 40th."""
    prefix = unique_prefix()
    # Admissions happen before the pause; a timeout well above a loaded machine's
    # hiccups keeps them all on Redis, and the pause still outlasts it.
    workers = start_workers(
        redis_server,
        upstream,
        timeout=0.25,
        prefix=prefix,
        record_timeout=5.0,
        failure_threshold=40,
    )
    control = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        upstream.mode = "up"
        workers.all(op="burst", calls=1, concurrency=1)  # connected, scripts loaded
        upstream.mode, upstream.delay = "down", 0.3
        workers.send_all(op="burst", calls=10, concurrency=10)
        upstream.wait_for_hits(4 + 40)  # every call admitted by Redis, all in flight
        control.execute_command("CLIENT", "PAUSE", "1000", "ALL")
        during = workers.answers()
        assert total(during) == Counter({"failed": 40})
        assert not any(answer["degraded"] for answer in during)
    finally:
        workers.close()  # each worker's store sends what it still holds
    state = control.hgetall(f"{{{prefix}:upstream}}:s")
    control.close()
    assert (state["st"], state["fail"], state["opens"]) == ("1", "40", "1")
