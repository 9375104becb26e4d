"""Operating regimes, and per-regime normalization of channels.

The same reading means different things in different regimes: a coolant temperature of
92 C is normal at full load and a warning at idle; a turbofan's sensors jump with
altitude and throttle. ``OperatingRegimes`` finds the distinct regimes in the operating
settings (a machine's load, C-MAPSS' three settings) with k-means, taking the smallest
number of clusters whose members all sit within ``tolerance`` of their centre on every
setting; ``RegimeScaler`` then standardizes each channel with the mean and standard
deviation of the regime the row is in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_is_fitted, validate_data


class OperatingRegimes(BaseEstimator):  # type: ignore[misc]
    """Cluster operating settings into regimes.

    Parameters
    ----------
    tolerance : float
        Largest standard deviation of a setting inside one regime, in the setting's
        own units; settings that vary less than this in the whole training set are
        one regime.
    max_regimes : int
        Most regimes tried.
    random_state : int
        Seed of k-means.
    """

    def __init__(
        self, *, tolerance: float = 0.05, max_regimes: int = 10, random_state: int = 0
    ) -> None:
        self.tolerance = tolerance
        self.max_regimes = max_regimes
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> OperatingRegimes:  # noqa: N803 - scikit-learn's naming
        if self.tolerance <= 0:
            raise ValueError(f"tolerance must be positive, got {self.tolerance}")
        if self.max_regimes < 1:
            raise ValueError(f"max_regimes must be at least 1, got {self.max_regimes}")
        data = validate_data(self, X, reset=True, dtype=np.float64)
        for k in range(1, min(self.max_regimes, data.shape[0]) + 1):
            if k == 1:
                centers = data.mean(axis=0, keepdims=True)
                labels = np.zeros(data.shape[0], dtype=np.int64)
            else:
                km = KMeans(n_clusters=k, n_init=4, random_state=self.random_state).fit(data)
                centers, labels = km.cluster_centers_, km.labels_
            spread = max(float(data[labels == c].std(axis=0).max()) for c in range(k))
            if spread <= self.tolerance:
                break
        order = np.lexsort(centers.T[::-1])  # stable numbering: sorted by the settings
        self.cluster_centers_ = centers[order]
        self.n_regimes_ = int(centers.shape[0])
        return self

    def predict(self, X: Any) -> NDArray[np.int64]:  # noqa: N803
        """The regime (0 .. n_regimes_ - 1) of every row: its nearest centre."""
        check_is_fitted(self)
        data = validate_data(self, X, reset=False, dtype=np.float64)
        distance = ((data[:, None, :] - self.cluster_centers_[None, :, :]) ** 2).sum(axis=2)
        return np.asarray(np.argmin(distance, axis=1), dtype=np.int64)


class RegimeScaler(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Standardize every channel per regime; the regime of each row is passed in.

    ``fit(X, regimes)`` and ``transform(X, regimes)``; without ``regimes`` every row is
    in regime 0 (a plain standard scaler). A regime unseen in training falls back to
    the global statistics. A channel constant within a regime gets the scale floor
    ``min_scale``; ``constant_`` marks channels constant in every regime.
    """

    def __init__(self, *, min_scale: float = 1e-9) -> None:
        self.min_scale = min_scale

    def fit(self, X: Any, y: Any = None, regimes: Any = None) -> RegimeScaler:  # noqa: N803
        data = validate_data(self, X, reset=True, dtype=np.float64)
        labels = _labels(regimes, data.shape[0])
        if self.min_scale <= 0:
            raise ValueError(f"min_scale must be positive, got {self.min_scale}")
        if labels.size and labels.min() < 0:
            raise ValueError("regime labels must be non-negative")
        n = int(labels.max()) + 1 if labels.size else 1
        self.global_mean_ = data.mean(axis=0)
        self.global_scale_ = np.maximum(data.std(axis=0), self.min_scale)
        self.mean_ = np.tile(self.global_mean_, (n, 1))
        self.scale_ = np.tile(self.global_scale_, (n, 1))
        self.seen_ = np.zeros(n, dtype=bool)
        for r in range(n):
            rows = data[labels == r]
            if rows.shape[0] >= 2:
                self.mean_[r] = rows.mean(axis=0)
                self.scale_[r] = np.maximum(rows.std(axis=0), self.min_scale)
                self.seen_[r] = True
        self.constant_ = np.all(self.scale_ <= self.min_scale, axis=0)
        return self

    def transform(self, X: Any, regimes: Any = None) -> NDArray[np.float64]:  # noqa: N803
        check_is_fitted(self)
        data = validate_data(self, X, reset=False, dtype=np.float64)
        labels = _labels(regimes, data.shape[0])
        known = (labels >= 0) & (labels < self.mean_.shape[0])
        safe = np.where(known, labels, 0)
        known &= self.seen_[safe]
        mean = np.where(known[:, None], self.mean_[safe], self.global_mean_)
        scale = np.where(known[:, None], self.scale_[safe], self.global_scale_)
        return np.asarray((data - mean) / scale, dtype=np.float64)

    def fit_transform(
        self,
        X: Any,  # noqa: N803
        y: Any = None,
        regimes: Any = None,
    ) -> NDArray[np.float64]:
        return self.fit(X, y, regimes=regimes).transform(X, regimes=regimes)


def _labels(regimes: Any, n: int) -> NDArray[np.int64]:
    if regimes is None:
        return np.zeros(n, dtype=np.int64)
    labels = np.asarray(regimes, dtype=np.int64).reshape(-1)
    if labels.shape[0] != n:
        raise ValueError(f"{labels.shape[0]} regime labels for {n} rows")
    return labels
