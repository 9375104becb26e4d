"""Exceptions of the models package.

ModelsError                    base of every error the models package raises itself
├── DataError                  a benchmark or training data set is missing or malformed
│   └── DataNotFoundError      the directory or file named does not exist (names the path)
├── NotEnoughDataError         too little history to fit or score (names what is missing)
├── SamplingMismatchError      telemetry sampled far faster or slower than the history a
│                              model learned from (its scores would mean nothing)
└── RegistryError              the model registry cannot give what was asked
    ├── NoActiveModelError     no version of a family's model is marked active
    └── ModelVersionError      an artefact was saved under other library versions, or is
                               not a Prognos artefact at all

scikit-learn's own ``ValueError`` and ``NotFittedError`` are raised for bad parameters and
bad input to the estimators, as its contract asks.
"""

from __future__ import annotations


class ModelsError(Exception):
    """Base of the errors the models package raises itself."""


class DataError(ModelsError):
    """A data set is missing or not in the format expected."""


class DataNotFoundError(DataError):
    """The data directory or file does not exist."""


class NotEnoughDataError(ModelsError):
    """Too little history to fit or to score."""


class SamplingMismatchError(ModelsError):
    """The telemetry's readings a bucket are far from those the model was trained on."""


class RegistryError(ModelsError):
    """The model registry cannot give what was asked."""


class NoActiveModelError(RegistryError):
    """No version of the family's model is marked active."""


class ModelVersionError(RegistryError):
    """The artefact was written by other library versions (or is not an artefact)."""
