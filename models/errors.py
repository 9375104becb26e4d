"""Exceptions of the models package.

ModelsError
└── (scikit-learn's own ValueError / NotFittedError are raised for bad input, as its
    contract asks)
"""


class ModelsError(Exception):
    """Base of the errors the models package raises itself."""
