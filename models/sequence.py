"""Causal features of time-ordered sequences (pure NumPy / pandas, no I/O).

Every feature at row ``t`` uses only rows ``<= t`` of the same group (a machine, a
C-MAPSS unit, a SKAB run), so a model scoring the latest row of a stream sees exactly
what it saw in training. Rolling statistics use cumulative sums per group, so the cost
is linear in the number of rows whatever the window.

Rows must be sorted by group, then time; ``groups`` is one label per row (or ``None``
for a single sequence).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

Floats = NDArray[np.float64]


def positions(groups: ArrayLike | None, n: int) -> NDArray[np.int64]:
    """Each row's 0-based position inside its group (groups must be contiguous)."""
    if groups is None:
        return np.arange(n, dtype=np.int64)
    labels = np.asarray(groups)
    if labels.shape[0] != n:
        raise ValueError(f"{labels.shape[0]} group labels for {n} rows")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, labels[1:] != labels[:-1]]
    start_index = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return np.arange(n, dtype=np.int64) - start_index


def _window_sums(values: Floats, pos: NDArray[np.int64], window: int) -> tuple[Floats, Floats]:
    """Sum over the last ``min(window, pos + 1)`` rows of each row's group, and that count."""
    n = values.shape[0]
    cs = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    idx = np.arange(n)
    count = np.minimum(pos + 1, window)
    total = cs[idx + 1] - cs[idx + 1 - count]
    return total, count.astype(np.float64)[:, None]


def _centred(x: Floats, pos: NDArray[np.int64]) -> Floats:
    """Each row minus its group's first row: sums of squares keep their precision, and
    (unlike a global mean) the centre is known when the row arrives."""
    return np.asarray(x - x[np.arange(x.shape[0]) - pos], dtype=np.float64)


def rolling_mean(values: ArrayLike, window: int, groups: ArrayLike | None = None) -> Floats:
    """Mean of the last ``window`` rows (fewer at a group's start), per column."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    x = np.asarray(values, dtype=np.float64)
    x2 = x.reshape(x.shape[0], -1)
    total, count = _window_sums(x2, positions(groups, x2.shape[0]), window)
    return (total / count).reshape(x.shape)


def rolling_std(
    values: ArrayLike, window: int, groups: ArrayLike | None = None, *, ddof: int = 0
) -> Floats:
    """Standard deviation of the last ``window`` rows (0 where fewer than ``ddof + 1``)."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    x = np.asarray(values, dtype=np.float64)
    x2 = x.reshape(x.shape[0], -1)
    pos = positions(groups, x2.shape[0])
    centred = _centred(x2, pos)
    s1, count = _window_sums(centred, pos, window)
    s2, _ = _window_sums(centred**2, pos, window)
    var = np.maximum(s2 / count - (s1 / count) ** 2, 0.0)
    dof = count - ddof
    var = np.where(dof > 0, var * count / np.where(dof > 0, dof, 1.0), 0.0)
    return np.sqrt(var).reshape(x.shape)


def rolling_slope(values: ArrayLike, window: int, groups: ArrayLike | None = None) -> Floats:
    """Least-squares slope per row over the last ``window`` rows (0 with fewer than 2)."""
    if window < 2:
        raise ValueError(f"window must be at least 2, got {window}")
    x = np.asarray(values, dtype=np.float64)
    x2 = x.reshape(x.shape[0], -1)
    pos = positions(groups, x2.shape[0])
    t = pos.astype(np.float64)[:, None]
    centred = _centred(x2, pos)
    sx, n = _window_sums(centred, pos, window)
    stx, _ = _window_sums(centred * t, pos, window)
    st, _ = _window_sums(np.broadcast_to(t, t.shape).copy(), pos, window)
    stt, _ = _window_sums(t * t, pos, window)
    denominator = n * stt - st * st
    safe = np.where(denominator > 0, denominator, 1.0)
    slope = np.where(denominator > 0, (n * stx - st * sx) / safe, 0.0)
    return slope.reshape(x.shape)


def early_mean(values: ArrayLike, rows: int, groups: ArrayLike | None = None) -> Floats:
    """Mean of the group's first ``rows`` rows, as known at each row (expanding before that)."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    x = np.asarray(values, dtype=np.float64)
    x2 = x.reshape(x.shape[0], -1)
    pos = positions(groups, x2.shape[0])
    n = x2.shape[0]
    cs = np.vstack([np.zeros((1, x2.shape[1])), np.cumsum(x2, axis=0)])
    idx = np.arange(n)
    start = idx - pos
    count = np.minimum(pos + 1, rows)
    mean = (cs[start + count] - cs[start]) / count[:, None]
    return np.asarray(mean.reshape(x.shape), dtype=np.float64)


def ewm_mean(values: ArrayLike, alpha: float, groups: ArrayLike | None = None) -> Floats:
    """Exponentially weighted mean per group (pandas' adjusted form)."""
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    x = np.asarray(values, dtype=np.float64)
    frame = pd.DataFrame(x.reshape(x.shape[0], -1))
    if groups is None:
        out = frame.ewm(alpha=alpha).mean()
    else:
        key = pd.Series(np.asarray(groups))
        out = frame.groupby(key, sort=False).transform(lambda s: s.ewm(alpha=alpha).mean())
    return out.to_numpy(dtype=np.float64).reshape(x.shape)


def degradation_features(
    values: ArrayLike,
    names: Sequence[str],
    groups: ArrayLike | None = None,
    *,
    windows: Sequence[int] = (5, 10, 20),
    ewm_alpha: float = 0.1,
    baseline_rows: int = 20,
    slope_window: int = 20,
) -> pd.DataFrame:
    """Per channel: rolling means, an exponential mean, its drift from the group's early
    level (removes unit-to-unit offsets), the rolling slope and the rolling spread."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(names):
        raise ValueError(f"values must be (rows, {len(names)}), got {x.shape}")
    columns: dict[str, Floats] = {}
    for w in windows:
        means = rolling_mean(x, w, groups)
        for j, name in enumerate(names):
            columns[f"{name}_mean{w}"] = means[:, j]
    smooth = ewm_mean(x, ewm_alpha, groups)
    drift = smooth - early_mean(x, baseline_rows, groups)
    slope = rolling_slope(x, slope_window, groups)
    spread = rolling_std(x, slope_window, groups)
    for j, name in enumerate(names):
        columns[f"{name}_ewm"] = smooth[:, j]
        columns[f"{name}_drift"] = drift[:, j]
        columns[f"{name}_slope"] = slope[:, j]
        columns[f"{name}_std"] = spread[:, j]
    return pd.DataFrame(columns)


def level_and_spread(
    standardized: ArrayLike, window: int, spread_window: int, groups: ArrayLike | None = None
) -> Floats:
    """Smoothed level and smoothed log-spread of standardized channels, side by side.

    The level is the ``window``-row mean; the spread is ``log(std + 0.05)`` (sample std) over
    ``spread_window`` rows, itself averaged over ``window`` rows. Used by the
    drift-aware detector: a level shift moves the first half, a change of noise (a
    loose part, turbulence, a noisy sensor) the second.
    """
    z = np.asarray(standardized, dtype=np.float64)
    level = rolling_mean(z, window, groups)
    spread = np.log(rolling_std(z, spread_window, groups, ddof=1) + 0.05)
    pos = positions(groups, z.shape[0])
    # a single row has no spread: use the group's second row's value instead (back-fill)
    first = pos == 0
    if first.any() and z.shape[0] > 1:
        nxt = np.minimum(np.arange(z.shape[0]) + 1, z.shape[0] - 1)
        spread[first] = spread[nxt[first]]
    return np.hstack([level, rolling_mean(spread, window, groups)])
