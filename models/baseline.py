"""Robust baselines of healthy behaviour: per channel, and per machine.

``RobustBaseline``: fitted on readings of a healthy period, it keeps each channel's median and its scale
(1.4826 x the median absolute deviation, the standard deviation of a normal sample
that ignores outliers). A new sample's robust z-score per channel tells how far it
is from healthy; the worst channel decides the anomaly score, and each channel's share
of the squared z-scores explains it ("coolant_temp 81 %").

``MachineBaseline``: the same statistics learned per machine and smoothed towards the
family's, so each machine is judged against its own healthy behaviour.
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


class MachineBaseline(OutlierMixin, BaseEstimator):  # type: ignore[misc]
    """Each machine's own healthy level and spread, shrunk towards its family's.

    ``fit(X, groups=machine_ids)`` learns, per machine, the median and robust scale of
    every channel (or feature), smoothed towards the family's values by
    ``n / (n + prior_rows)`` where ``n`` is the machine's healthy rows: a machine with
    a short history starts at its family's baseline and earns its own as data comes.
    Scoring with ``groups`` uses each row's machine; an unknown machine (or no
    ``groups``) uses the family's baseline.

    Parameters
    ----------
    prior_rows : float
        Weight of the family baseline, in rows of the machine's own history.
    threshold : float
        Robust z-score beyond which a row is an outlier.
    min_scale : float or array of shape (n_features,)
        Floor of a scale (per feature when an array).
    max_offset : float or None
        How far a machine's own center may lie from the family's, in units of the larger
        of the spread of the machines' centers (1.4826 x their MAD) and the family's
        scale. A machine already degrading while the baseline is learned would otherwise
        be taken as healthy at its degraded level: a machine with a center beyond the
        bound is judged against the family's baseline instead, and listed in
        ``suspects_``. None: no bound.
    """

    def __init__(
        self,
        *,
        prior_rows: float = 50.0,
        threshold: float = 3.5,
        min_scale: Any = 1e-6,
        max_offset: float | None = None,
    ) -> None:
        self.prior_rows = prior_rows
        self.threshold = threshold
        self.min_scale = min_scale
        self.max_offset = max_offset

    def fit(self, X: Any, y: Any = None, groups: Any = None) -> MachineBaseline:  # noqa: N803
        if self.prior_rows < 0:
            raise ValueError(f"prior_rows must be non-negative, got {self.prior_rows}")
        if self.threshold <= 0:
            raise ValueError(f"threshold must be positive, got {self.threshold}")
        if np.any(np.asarray(self.min_scale) <= 0):
            raise ValueError(f"min_scale must be positive, got {self.min_scale}")
        if self.max_offset is not None and self.max_offset <= 0:
            raise ValueError(f"max_offset must be positive, got {self.max_offset}")
        data = validate_data(self, X, reset=True, dtype=np.float64)
        self.family_center_ = np.median(data, axis=0)
        family_mad = np.median(np.abs(data - self.family_center_), axis=0)
        self.family_scale_ = np.maximum(MAD_TO_SIGMA * family_mad, self.min_scale)
        labels = _group_labels(groups, data.shape[0])
        self.machines_ = np.unique(labels) if labels is not None else np.zeros(0)
        centers = np.empty((self.machines_.shape[0], data.shape[1]))
        scales = np.empty_like(centers)
        assert labels is not None or self.machines_.shape[0] == 0  # noqa: S101
        for i, machine in enumerate(self.machines_):
            rows = data[labels == machine]
            weight = rows.shape[0] / (rows.shape[0] + self.prior_rows)
            own_center = np.median(rows, axis=0)
            own_scale = MAD_TO_SIGMA * np.median(np.abs(rows - own_center), axis=0)
            centers[i] = weight * own_center + (1 - weight) * self.family_center_
            scales[i] = np.maximum(
                weight * own_scale + (1 - weight) * self.family_scale_, self.min_scale
            )
        self.suspects_ = np.zeros(0, dtype=self.machines_.dtype)
        if self.max_offset is not None and centers.shape[0] >= 3:
            spread = MAD_TO_SIGMA * np.median(np.abs(centers - np.median(centers, axis=0)), axis=0)
            bound = self.max_offset * np.maximum(spread, self.family_scale_)
            outside = np.any(np.abs(centers - self.family_center_) > bound, axis=1)
            self.suspects_ = self.machines_[outside]
            centers[outside] = self.family_center_
            scales[outside] = self.family_scale_
        self.centers_ = centers
        self.scales_ = scales
        self.offset_ = -float(self.threshold)
        return self

    def _baseline(self, n: int, groups: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        labels = _group_labels(groups, n)
        center = np.tile(self.family_center_, (n, 1))
        scale = np.tile(self.family_scale_, (n, 1))
        if labels is not None and self.machines_.shape[0]:
            index = np.searchsorted(self.machines_, labels)
            index = np.clip(index, 0, self.machines_.shape[0] - 1)
            known = self.machines_[index] == labels
            center[known] = self.centers_[index[known]]
            scale[known] = self.scales_[index[known]]
        return center, scale

    def z_scores(self, X: Any, groups: Any = None) -> NDArray[np.float64]:  # noqa: N803
        """Signed robust z-score of every channel of every row, against its machine."""
        check_is_fitted(self)
        data = validate_data(self, X, reset=False, dtype=np.float64)
        center, scale = self._baseline(data.shape[0], groups)
        return np.asarray((data - center) / scale, dtype=np.float64)

    def score_samples(self, X: Any, groups: Any = None) -> NDArray[np.float64]:  # noqa: N803
        """Higher is more normal: minus the worst channel's absolute z-score."""
        return np.asarray(-np.max(np.abs(self.z_scores(X, groups)), axis=1), dtype=np.float64)

    def decision_function(self, X: Any, groups: Any = None) -> NDArray[np.float64]:  # noqa: N803
        return self.score_samples(X, groups) - self.offset_

    def predict(self, X: Any, groups: Any = None) -> NDArray[np.int64]:  # noqa: N803
        """-1 for an outlier, 1 for an inlier."""
        return np.where(self.decision_function(X, groups) < 0, -1, 1).astype(np.int64)


def _group_labels(groups: Any, n: int) -> NDArray[Any] | None:
    if groups is None:
        return None
    labels = np.asarray(groups).reshape(-1)
    if labels.shape[0] != n:
        raise ValueError(f"{labels.shape[0]} group labels for {n} rows")
    return labels
