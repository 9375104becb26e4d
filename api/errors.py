"""Exceptions of the api package (mapped to HTTP answers at the edge).

ApiError
└── BadQuery     a query parameter cannot be used (HTTP 422)
"""


class ApiError(Exception):
    """Base of every error the api package raises."""


class BadQuery(ApiError):  # noqa: N818 - reads as the condition
    """A query parameter cannot be used; the message says which and why."""
