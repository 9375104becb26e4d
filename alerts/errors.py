"""Exceptions of the alerts package.

AlertsError
└── DeliveryError      a webhook endpoint did not accept a delivery
"""


class AlertsError(Exception):
    """Base of every error the alerts package raises."""


class DeliveryError(AlertsError):
    """A webhook delivery failed (network error or a non-2xx answer)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
