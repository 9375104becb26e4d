"""Exceptions of the alerts package.

AlertsError
└── DeliveryError      a webhook endpoint did not accept a delivery
"""


class AlertsError(Exception):
    """Base of every error the alerts package raises."""


class DeliveryError(AlertsError):
    """A webhook delivery failed (network error or a non-2xx answer)."""
