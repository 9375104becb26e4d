"""A multivariate detector over all channels: PCA with Hotelling's T-squared and Q.

Fitted on healthy rows, it standardizes every channel, keeps the principal components
that explain ``n_components`` of the variance, and scores a row twice:

* T-squared: the Mahalanobis distance inside the principal subspace (the row is
  extreme in a way healthy machines vary: everything hotter at once);
* Q (squared prediction error): the distance from that subspace (the channels no
  longer move together: pressure falls while the load stays).

Each is divided by its control limit, the ``limit_quantile`` of the training rows, so
1.0 is the edge of healthy; the statistic is the larger of the two. Per-channel
contributions (Westerhuis et al.) split both sums among the channels, so an alert
says which channels moved.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

Floats = NDArray[np.float64]


class PCADetector(OutlierMixin, BaseEstimator):  # type: ignore[misc]
    """PCA T-squared and Q statistics with empirical control limits.

    Parameters
    ----------
    n_components : float or int
        Below 1: the share of variance the kept components explain; 1 or more: their
        number (at most the number of channels).
    limit_quantile : float
        Quantile of the training statistics taken as each control limit.
    threshold : float
        A row is an outlier when its statistic (in units of the control limit)
        exceeds this.
    min_scale : float
        Floor of a channel's standard deviation.
    """

    def __init__(
        self,
        *,
        n_components: float = 0.9,
        limit_quantile: float = 0.995,
        threshold: float = 1.0,
        min_scale: float = 1e-6,
    ) -> None:
        self.n_components = n_components
        self.limit_quantile = limit_quantile
        self.threshold = threshold
        self.min_scale = min_scale

    def _check_params(self) -> None:
        if self.n_components <= 0:
            raise ValueError(f"n_components must be positive, got {self.n_components}")
        if not 0 < self.limit_quantile < 1:
            raise ValueError(f"limit_quantile must be in (0, 1), got {self.limit_quantile}")
        if self.threshold <= 0:
            raise ValueError(f"threshold must be positive, got {self.threshold}")
        if self.min_scale <= 0:
            raise ValueError(f"min_scale must be positive, got {self.min_scale}")

    def fit(self, X: Any, y: Any = None) -> PCADetector:  # noqa: N803 - scikit-learn's naming
        self._check_params()
        data = validate_data(self, X, reset=True, dtype=np.float64, ensure_min_samples=2)
        self.mean_ = data.mean(axis=0)
        self.scale_ = np.maximum(data.std(axis=0), self.min_scale)
        z = (data - self.mean_) / self.scale_
        _, singular, vt = np.linalg.svd(z, full_matrices=False)
        variance = singular**2 / max(z.shape[0] - 1, 1)
        total = variance.sum()
        if self.n_components < 1:
            share = np.cumsum(variance) / total if total > 0 else np.ones_like(variance)
            k = int(np.searchsorted(share, self.n_components) + 1)
        else:
            k = int(self.n_components)
        k = max(1, min(k, vt.shape[0]))
        self.components_ = vt[:k]
        self.explained_variance_ = np.maximum(variance[:k], 1e-12)
        self.n_components_ = k
        t2, q = self._raw(z)
        self.t2_limit_ = max(float(np.quantile(t2, self.limit_quantile)), 1e-12)
        self.q_limit_ = max(float(np.quantile(q, self.limit_quantile)), 1e-12)
        self.offset_ = -float(self.threshold)
        return self

    def _standardize(self, X: Any) -> Floats:  # noqa: N803
        check_is_fitted(self)
        data = validate_data(self, X, reset=False, dtype=np.float64)
        return np.asarray((data - self.mean_) / self.scale_, dtype=np.float64)

    def _raw(self, z: Floats) -> tuple[Floats, Floats]:
        scores = z @ self.components_.T
        t2 = np.sum(scores**2 / self.explained_variance_, axis=1)
        residual = z - scores @ self.components_
        return t2, np.sum(residual**2, axis=1)

    def statistics(self, X: Any) -> tuple[Floats, Floats]:  # noqa: N803
        """T-squared and Q of each row, each divided by its control limit."""
        t2, q = self._raw(self._standardize(X))
        return t2 / self.t2_limit_, q / self.q_limit_

    def statistic(self, X: Any) -> Floats:  # noqa: N803
        """The larger of the two normalized statistics (1.0 = the edge of healthy)."""
        t2, q = self.statistics(X)
        return np.maximum(t2, q)

    def score_samples(self, X: Any) -> Floats:  # noqa: N803
        """Higher is more normal: minus the statistic."""
        return -self.statistic(X)

    def decision_function(self, X: Any) -> Floats:  # noqa: N803
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> NDArray[np.int64]:  # noqa: N803
        """-1 for an outlier, 1 for an inlier."""
        return np.where(self.decision_function(X) < 0, -1, 1).astype(np.int64)

    def contributions(self, X: Any) -> Floats:  # noqa: N803
        """Each channel's share (0-1, summing to 1 per row) of the two statistics."""
        z = self._standardize(X)
        scores = z @ self.components_.T
        # T-squared contribution of channel j: z_j * (P diag(1/lambda) P^T z)_j, clipped at 0
        weighted = (scores / self.explained_variance_) @ self.components_
        t2_part = np.maximum(z * weighted, 0.0) / self.t2_limit_
        residual = z - scores @ self.components_
        q_part = residual**2 / self.q_limit_
        total = t2_part + q_part
        sums = total.sum(axis=1, keepdims=True)
        n = z.shape[1]
        share = np.where(sums > 0, total / np.where(sums > 0, sums, 1.0), 1.0 / n)
        return np.asarray(share, dtype=np.float64)
