"""Remaining useful life, with an uncertainty band.

``RULRegressor`` learns RUL from run-to-failure histories (C-MAPSS, or machines whose
failures are on record): gradient-boosted trees for the point estimate and two
quantile models for the band, conformalized (CQR, Romano et al. 2019): the quantile
models are fitted on 80 % of the machines and the band is widened by the quantile of
how far the other 20 % fall outside it (separately for three ranges of predicted life),
so that its coverage holds on machines it has not seen. The training target is capped (piecewise-linear RUL: while a machine is far from
failure its sensors say little about *how* far), so estimates never exceed ``cap``.

``linear_rul`` needs no failure history: it extrapolates each machine's degradation
index along its recent linear trend to the failure level, vectorised over machines,
with a band from the slope's standard error. The scoring job uses it until failure
histories exist.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted, validate_data

Floats = NDArray[np.float64]


class RULRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Gradient-boosted RUL with a quantile band.

    Parameters
    ----------
    cap : float
        Training targets above this are set to it (cycles or hours).
    band : float
        Coverage of the band, e.g. 0.8 for the 10th-90th percentile.
    calibration_fraction : float
        Share of the machines (``groups`` in ``fit``) held out to conformalize the band.
    learning_rate, max_iter, max_leaf_nodes, min_samples_leaf, l2_regularization :
        Passed to scikit-learn's ``HistGradientBoostingRegressor``.
    random_state : int
    """

    def __init__(
        self,
        *,
        cap: float = 125.0,
        band: float = 0.8,
        calibration_fraction: float = 0.2,
        learning_rate: float = 0.05,
        max_iter: int = 300,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 40,
        l2_regularization: float = 0.0,
        random_state: int = 0,
    ) -> None:
        self.cap = cap
        self.band = band
        self.calibration_fraction = calibration_fraction
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def _booster(self, **loss: Any) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.random_state,
            **loss,
        )

    def fit(self, X: Any, y: Any, groups: Any = None) -> RULRegressor:  # noqa: N803 - scikit-learn's naming
        """Fit on rows ``X`` with remaining lives ``y``; ``groups`` names each row's machine
        (rows are split by machine for the band's calibration; by row without it)."""
        if self.cap <= 0:
            raise ValueError(f"cap must be positive, got {self.cap}")
        if not 0 < self.band < 1:
            raise ValueError(f"band must be in (0, 1), got {self.band}")
        if not 0 < self.calibration_fraction < 1:
            raise ValueError(
                f"calibration_fraction must be in (0, 1), got {self.calibration_fraction}"
            )
        data, target = validate_data(self, X, y, reset=True, dtype=np.float64, y_numeric=True)
        capped = np.clip(target, 0.0, self.cap)
        held_out = self._calibration_rows(data.shape[0], groups)
        calibrate = bool(held_out.any()) and int((~held_out).sum()) >= 2
        proper = ~held_out if calibrate else np.ones(data.shape[0], dtype=bool)
        low_q, high_q = (1 - self.band) / 2, (1 + self.band) / 2
        self.point_ = self._booster().fit(data, capped)
        self.n_iter_ = int(self.point_.n_iter_)
        self.lower_ = self._booster(loss="quantile", quantile=low_q).fit(
            data[proper], capped[proper]
        )
        self.upper_ = self._booster(loss="quantile", quantile=high_q).fit(
            data[proper], capped[proper]
        )
        # one margin per third of the target range (Mondrian CQR): a band is as wide as
        # the held-out machines needed it at that predicted life, near failure or far
        self.band_edges_ = np.array([self.cap / 3, 2 * self.cap / 3])
        self.band_margins_ = np.zeros(3)
        if calibrate:
            rows = data[held_out]
            outside = np.maximum(
                self.lower_.predict(rows) - capped[held_out],
                capped[held_out] - self.upper_.predict(rows),
            )
            bins = np.digitize(self.point_.predict(rows), self.band_edges_)
            for b in range(3):
                scores = outside[bins == b] if (bins == b).sum() >= 10 else outside
                n = scores.shape[0]
                level = min(np.ceil((n + 1) * self.band) / n, 1.0)
                self.band_margins_[b] = float(np.quantile(scores, level))
        return self

    def _calibration_rows(self, n: int, groups: Any) -> NDArray[np.bool_]:
        rng = np.random.default_rng(self.random_state)
        if groups is None:
            return rng.random(n) < self.calibration_fraction
        labels = np.asarray(groups).reshape(-1)
        if labels.shape[0] != n:
            raise ValueError(f"{labels.shape[0]} group labels for {n} rows")
        unique = np.unique(labels)
        if unique.size < 2:
            return np.zeros(n, dtype=bool)
        count = min(max(round(unique.size * self.calibration_fraction), 1), unique.size - 1)
        chosen = rng.choice(unique, size=count, replace=False)
        return np.isin(labels, chosen)

    def predict(self, X: Any) -> Floats:  # noqa: N803
        """Point estimate of the remaining life, in [0, cap]."""
        check_is_fitted(self)
        data = validate_data(self, X, reset=False, dtype=np.float64)
        return np.asarray(np.clip(self.point_.predict(data), 0.0, self.cap), dtype=np.float64)

    def predict_interval(self, X: Any) -> tuple[Floats, Floats]:  # noqa: N803
        """Lower and upper ends of the band, around (and including) the point estimate."""
        check_is_fitted(self)
        data = validate_data(self, X, reset=False, dtype=np.float64)
        raw = np.asarray(self.point_.predict(data), dtype=np.float64)
        point = np.clip(raw, 0.0, self.cap)
        margin = self.band_margins_[np.digitize(raw, self.band_edges_)]
        lower = np.clip(self.lower_.predict(data) - margin, 0.0, self.cap)
        upper = np.clip(self.upper_.predict(data) + margin, 0.0, self.cap)
        return np.minimum(lower, point), np.maximum(upper, point)


def linear_rul(
    times: ArrayLike,
    values: ArrayLike,
    limit: float,
    *,
    horizon: float,
    z: float = 1.645,
) -> tuple[Floats, Floats, Floats]:
    """RUL per machine by extrapolating a rising degradation index to ``limit``.

    ``times`` and ``values`` are (machines, points) arrays, NaN where a machine has no
    point; the trend is the least-squares line through each row's points. Returns
    (estimate, lower, upper) in the units of ``times`` after the row's last time,
    capped at ``horizon``: a flat or falling trend means "beyond the horizon", and an
    index already at the limit means 0; NaN where a row has fewer than three points.
    The band uses ``slope +- z * standard error``.
    """
    t = np.atleast_2d(np.asarray(times, dtype=np.float64))
    v = np.atleast_2d(np.asarray(values, dtype=np.float64))
    if t.shape != v.shape:
        raise ValueError(f"times {t.shape} and values {v.shape} differ in shape")
    ok = np.isfinite(t) & np.isfinite(v)
    n = ok.sum(axis=1).astype(np.float64)
    tz = np.where(ok, t, 0.0)
    vz = np.where(ok, v, 0.0)
    safe_n = np.maximum(n, 1.0)
    t_mean = tz.sum(axis=1) / safe_n
    v_mean = vz.sum(axis=1) / safe_n
    dt = np.where(ok, t - t_mean[:, None], 0.0)
    dv = np.where(ok, v - v_mean[:, None], 0.0)
    sxx = (dt**2).sum(axis=1)
    slope = np.where(sxx > 0, (dt * dv).sum(axis=1) / np.where(sxx > 0, sxx, 1.0), 0.0)
    residual = np.where(ok, dv - slope[:, None] * dt, 0.0)
    dof = np.maximum(n - 2, 1.0)
    safe_sxx = np.where(sxx > 0, sxx, 1.0)
    se = np.where(sxx > 0, np.sqrt((residual**2).sum(axis=1) / dof / safe_sxx), np.inf)
    last_t = np.where(ok, t, -np.inf).max(axis=1)
    level = v_mean + slope * (last_t - t_mean)  # the trend's value now
    gap = np.maximum(limit - level, 0.0)

    def time_to(rate: Floats) -> Floats:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(rate > 0, gap / np.where(rate > 0, rate, 1.0), np.inf)
        out = np.where(gap <= 0, 0.0, out)
        return np.minimum(out, horizon)

    estimate = time_to(slope)
    lower = time_to(slope + z * se)
    upper = time_to(slope - z * se)
    lower, upper = np.minimum(lower, estimate), np.maximum(upper, estimate)
    few = n < 3  # no trend from fewer than three points: unknown
    return (
        np.where(few, np.nan, estimate),
        np.where(few, np.nan, lower),
        np.where(few, np.nan, upper),
    )
