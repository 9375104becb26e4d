"""Exceptions of the device_sim package.

SimError
└── FleetFileError     the fleet file is missing, not TOML, or inconsistent
"""


class SimError(Exception):
    """Base of every error the device_sim package raises."""


class FleetFileError(SimError):
    """The fleet file cannot be used; the message says where and why."""
