"""Exceptions of the core package.

PrognosError
├── ConfigurationError      settings are invalid or a prerequisite is missing
├── ServiceError            a local service (PostgreSQL, Mosquitto) failed to start or stop
└── MigrationError          a schema migration failed or the recorded history disagrees
"""


class PrognosError(Exception):
    """Base of every error the core package raises."""


class ConfigurationError(PrognosError):
    """Settings are invalid, or a prerequisite of the platform is missing."""


class ServiceError(PrognosError):
    """A local service could not be started, reached or stopped."""


class MigrationError(PrognosError):
    """A migration failed, or the applied history does not match the files."""
