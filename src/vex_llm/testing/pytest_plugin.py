"""A pytest plugin with a ``fake_llm_server`` fixture for your own tests.

Load it from your ``conftest.py``::

    pytest_plugins = ["vex_llm.testing.pytest_plugin"]

    def test_my_app_survives_an_outage(fake_llm_server):
        fake_llm_server.inject(Fault.error(503), times=3)
        app = MyApp(base_url=fake_llm_server.base_url)
        ...

The server runs in a thread of its own, so the fixture serves sync and async tests alike
(any event loop, any async plugin). Needs the ``lab`` extra.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fake_server import FakeLLMServer


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``fake_server`` marker so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers", "fake_server: talks to FakeLLMServer over real loopback sockets"
    )


@pytest.fixture
def fake_llm_server() -> Iterator[FakeLLMServer]:
    """A running ``FakeLLMServer`` (seed 0) on 127.0.0.1, stopped after the test.

    Yields:
        The server: ``base_url`` for OpenAI-style clients, ``anthropic_base_url`` for
        Anthropic-style ones, ``inject()`` / ``script()`` for faults, ``journal``.
    """
    with FakeLLMServer(seed=0) as server:
        yield server
