"""Test configuration: fixtures live in plugins, one per concern."""

import logging
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.database",
    "tests.fixtures.broker",
    "tests.fixtures.api",
]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Commands run in-process (``prognos.cli.main``) configure logging to the stderr
    of that moment, which pytest closes after the test: put the handlers back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
