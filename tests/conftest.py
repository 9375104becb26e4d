"""Test configuration: fixtures live in plugins, one per concern."""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.database",
    "tests.fixtures.broker",
]
