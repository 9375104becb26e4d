"""A detector whose tolerance widens with the time since training, as healthy drift does.

Short training windows (SKAB's 400 seconds, a machine's first hours) see a machine's
noise but not its slow healthy wander: temperatures creep, vibration RMS moves with
the mounting. A fixed control limit from such a window raises false alarms that grow
with time. This detector measures the wander on the training rows themselves with the
empirical variogram ``gamma(h) = mean((x[t+h] - x[t])^2) / 2`` at lags up to half the
window, fits ``gamma(h) = a + b * h`` (a random walk on top of noise), and scores a row
``h`` rows after the training window's centre with the per-feature z-score

    z = (x - centre) / sqrt(variance + 2 * b * h)

The statistic is the largest ``|z|`` over features (``aggregate="max"``) or their root
mean square (``"rms"``, which adds up evidence spread over many features). Rows passed to ``score_samples`` are
taken to follow the training rows in time, one step apart (``statistic`` takes explicit
horizons instead).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class DriftAwareDetector(OutlierMixin, BaseEstimator):  # type: ignore[misc]
    """Per-feature z-scores with a variance that grows with the horizon.

    Parameters
    ----------
    threshold : float
        Statistic above which a row is an outlier.
    aggregate : {"max", "rms"}
        How the features' ``|z|`` are combined into the statistic.
    max_lag_fraction : float
        Largest variogram lag, as a fraction of the training rows.
    n_lags : int
        Number of lags (evenly spaced) at which the variogram is measured.
    min_lag : int
        Smallest lag; set it to the smoothing window of the features so that the
        smoothing's own autocorrelation is not mistaken for noise.
    min_variance : float
        Floor of each feature's variance.
    """

    def __init__(
        self,
        *,
        threshold: float = 4.0,
        aggregate: str = "max",
        max_lag_fraction: float = 0.5,
        n_lags: int = 12,
        min_lag: int = 1,
        min_variance: float = 1e-12,
    ) -> None:
        self.threshold = threshold
        self.aggregate = aggregate
        self.max_lag_fraction = max_lag_fraction
        self.n_lags = n_lags
        self.min_lag = min_lag
        self.min_variance = min_variance

    def _check_params(self) -> None:
        if self.threshold <= 0:
            raise ValueError(f"threshold must be positive, got {self.threshold}")
        if self.aggregate not in {"max", "rms"}:
            raise ValueError(f"aggregate must be 'max' or 'rms', got {self.aggregate!r}")
        if not 0 < self.max_lag_fraction < 1:
            raise ValueError(f"max_lag_fraction must be in (0, 1), got {self.max_lag_fraction}")
        if self.n_lags < 2:
            raise ValueError(f"n_lags must be at least 2, got {self.n_lags}")
        if self.min_lag < 1:
            raise ValueError(f"min_lag must be at least 1, got {self.min_lag}")
        if self.min_variance <= 0:
            raise ValueError(f"min_variance must be positive, got {self.min_variance}")

    def fit(self, X: Any, y: Any = None) -> DriftAwareDetector:  # noqa: N803 - scikit-learn's naming
        self._check_params()
        data = validate_data(self, X, reset=True, dtype=np.float64, ensure_min_samples=4)
        n = data.shape[0]
        self.n_train_ = n
        self.center_ = data.mean(axis=0)
        self.variance_ = np.maximum(data.var(axis=0), self.min_variance)
        top = max(int(n * self.max_lag_fraction), 1)
        lags = np.unique(np.linspace(max(self.min_lag, 1), top, self.n_lags).astype(int))
        lags = lags[(lags >= 1) & (lags < n)]
        if lags.size >= 2:
            gamma = np.array([0.5 * np.mean((data[h:] - data[:-h]) ** 2, axis=0) for h in lags])
            design = np.column_stack([np.ones(lags.size), lags.astype(np.float64)])
            coef = np.linalg.lstsq(design, gamma, rcond=None)[0]
            self.drift_rate_ = np.maximum(coef[1], 0.0)
        else:
            self.drift_rate_ = np.zeros(data.shape[1])
        self.offset_ = -float(self.threshold)
        return self

    def z_scores(self, X: Any, horizons: ArrayLike | None = None) -> NDArray[np.float64]:  # noqa: N803
        """Signed z-score of every feature; ``horizons`` in rows after the training end."""
        check_is_fitted(self)
        data = validate_data(self, X, reset=False, dtype=np.float64)
        if horizons is None:
            h = np.arange(1, data.shape[0] + 1, dtype=np.float64)
        else:
            h = np.asarray(horizons, dtype=np.float64).reshape(-1)
            if h.shape[0] != data.shape[0]:
                raise ValueError(f"{h.shape[0]} horizons for {data.shape[0]} rows")
        h = np.maximum(h, 0.0) + (self.n_train_ - 1) / 2.0
        scale = np.sqrt(self.variance_[None, :] + 2.0 * self.drift_rate_[None, :] * h[:, None])
        return np.asarray((data - self.center_) / scale, dtype=np.float64)

    def statistic(self, X: Any, horizons: ArrayLike | None = None) -> NDArray[np.float64]:  # noqa: N803
        """Largest (or root-mean-square) ``|z|`` of each row (0 = at the centre)."""
        z = np.abs(self.z_scores(X, horizons))
        if self.aggregate == "rms":
            return np.asarray(np.sqrt(np.mean(z**2, axis=1)), dtype=np.float64)
        return np.asarray(np.max(z, axis=1), dtype=np.float64)

    def score_samples(self, X: Any) -> NDArray[np.float64]:  # noqa: N803
        """Higher is more normal: minus the statistic."""
        return -self.statistic(X)

    def decision_function(self, X: Any) -> NDArray[np.float64]:  # noqa: N803
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> NDArray[np.int64]:  # noqa: N803
        """-1 for an outlier, 1 for an inlier."""
        return np.where(self.decision_function(X) < 0, -1, 1).astype(np.int64)
