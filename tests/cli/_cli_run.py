"""Running ``vex-llm`` as a user does: ``python -m vex_llm`` in a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

PROVIDER_ENV_SUFFIXES = ("_API_KEY", "_BASE_URL")


def clean_env() -> dict[str, str]:
    """This process's environment without any provider key or endpoint."""
    return {k: v for k, v in os.environ.items() if not k.endswith(PROVIDER_ENV_SUFFIXES)}


def vex(
    *args: str | bytes, stdin: bytes | None = None, prelude: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m vex_llm ARGS`` (after ``prelude`` Python code, if any).

    Arguments may be bytes: the command line of a real shell is bytes, not always UTF-8.
    """
    if prelude:
        code = f"{prelude}\nimport sys\nfrom vex_llm.cli import main\nsys.exit(main())"
        command: Sequence[str | bytes] = [sys.executable, "-c", code, *args]
    else:
        command = [sys.executable, "-m", "vex_llm", *args]
    result = subprocess.run(
        command, capture_output=True, input=stdin, timeout=60, env=clean_env(), check=False
    )
    return subprocess.CompletedProcess(
        result.args,
        result.returncode,
        result.stdout.decode("utf-8", "replace"),
        result.stderr.decode("utf-8", "replace"),
    )


def one_line(stderr: str) -> str:
    """The single line a usage error prints (fails if there is more, or a traceback)."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("vex-llm: "), stderr
    return lines[0]
