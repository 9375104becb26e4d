"""Exceptions of the fieldservice package.

FieldServiceError
├── UnknownEquipment     the machine named by a request is not registered
└── NoQualifiedStation   no active station is qualified for the machine and the fault
"""


class FieldServiceError(Exception):
    """Base of every error the fieldservice package raises."""


class UnknownEquipment(FieldServiceError):  # noqa: N818 - reads as the condition
    """No machine with that id is registered."""


class NoQualifiedStation(FieldServiceError):  # noqa: N818 - reads as the condition
    """No active station can take this fault for this machine."""
