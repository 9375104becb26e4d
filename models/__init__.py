"""Health models: scikit-learn estimators that learn healthy behaviour and score deviations.

Estimators follow scikit-learn's contract (parameters only in ``__init__``, ``fit``
returns ``self``, learned attributes end in ``_``) and do no I/O; feature extraction
from the database and the scoring job are adapters around them.
"""

from models.baseline import RobustBaseline

__all__ = ["RobustBaseline"]
