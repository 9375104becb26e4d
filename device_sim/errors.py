"""Exceptions of the device_sim package.

SimError
├── FleetFileError      the fleet file is missing, not TOML, or inconsistent
├── BrokerUnavailableError  no simulated machine could connect to the MQTT broker
└── BackfillError       a backfill cannot run (no database, machines not seeded, ...)
"""


class SimError(Exception):
    """Base of every error the device_sim package raises."""


class FleetFileError(SimError):
    """The fleet file cannot be used; the message says where and why."""


class BrokerUnavailableError(SimError):
    """The broker refused or did not answer every machine of the fleet."""


class BackfillError(SimError):
    """A backfill cannot run; the message says what is missing."""
