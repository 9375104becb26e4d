"""Exceptions of the ingest package.

IngestError
├── Rejected            a message or reading cannot be stored; carries the quarantine reason
└── StorageError        the database refused or lost a batch (it will be retried)
"""

from __future__ import annotations


class IngestError(Exception):
    """Base of every error the ingest package raises."""


class Rejected(IngestError):  # noqa: N818 - a verdict, not a failure of the code
    """A message (or one of its readings) must be quarantined, for ``reason``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class StorageError(IngestError):
    """Writing a batch to the database failed."""
