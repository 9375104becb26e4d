"""A robust per-channel baseline of healthy behaviour.

Fitted on readings of a healthy period, it keeps each channel's median and its scale
(1.4826 x the median absolute deviation, the standard deviation of a normal sample
that ignores outliers). A new sample's robust z-score per channel tells how far it
is from healthy; the worst channel decides the anomaly score, and each channel's share
of the squared z-scores explains it ("coolant_temp 81 %").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

MAD_TO_SIGMA = 1.4826


class RobustBaseline(OutlierMixin, BaseEstimator):  # type: ignore[misc]
    """Robust z-score detector over all channels.

    Parameters
    ----------
    threshold : float
        Robust z-score beyond which a sample is an outlier (``predict`` returns -1); 3.5
        is the usual cut-off for modified z-scores (Iglewicz and Hoaglin).
    min_scale : float
        Floor of a channel's scale, so a channel that never moved while healthy does
        not turn every later wobble into an infinite score.
    """

    def __init__(self, threshold: float = 3.5, min_scale: float = 1e-6) -> None:
        self.threshold = threshold
        self.min_scale = min_scale

    def fit(self, X: Any, y: Any = None) -> RobustBaseline:  # noqa: N803 - scikit-learn's naming
        if self.threshold <= 0:
            raise ValueError(f"threshold must be positive, got {self.threshold}")
        if self.min_scale <= 0:
            raise ValueError(f"min_scale must be positive, got {self.min_scale}")
        data = validate_data(self, X, reset=True, dtype=np.float64)
        self.center_ = np.median(data, axis=0)
        mad = np.median(np.abs(data - self.center_), axis=0)
        self.scale_ = np.maximum(MAD_TO_SIGMA * mad, self.min_scale)
        self.offset_ = -float(self.threshold)
        return self

    def z_scores(self, X: Any) -> NDArray[np.float64]:  # noqa: N803
        """Signed robust z-score of every channel of every sample."""
        check_is_fitted(self)
        data = validate_data(self, X, reset=False, dtype=np.float64)
        return np.asarray((data - self.center_) / self.scale_, dtype=np.float64)

    def score_samples(self, X: Any) -> NDArray[np.float64]:  # noqa: N803
        """Higher is more normal: minus the worst channel's absolute z-score."""
        return np.asarray(-np.max(np.abs(self.z_scores(X)), axis=1), dtype=np.float64)

    def decision_function(self, X: Any) -> NDArray[np.float64]:  # noqa: N803
        """Negative for outliers, positive for inliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> NDArray[np.int64]:  # noqa: N803
        """-1 for an outlier, 1 for an inlier."""
        return np.where(self.decision_function(X) < 0, -1, 1).astype(np.int64)

    def contributions(self, X: Any) -> NDArray[np.float64]:  # noqa: N803
        """Each channel's share (0-1, summing to 1 per sample) of the squared z-scores."""
        squared = self.z_scores(X) ** 2
        total = squared.sum(axis=1, keepdims=True)
        n = squared.shape[1]
        safe = np.where(total > 0, total, 1.0)
        return np.where(total > 0, squared / safe, 1.0 / n)
