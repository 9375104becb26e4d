"""Window features of machines, from time-bucketed aggregates (pure pandas / NumPy).

Input: one row per machine, window, bucket and channel with the bucket's ``mean``,
``min``, ``max`` and ``count`` of readings (``time_bucket`` aggregates, see
models/store.py), and the bucket's time ``t_h`` in hours. Output: one row per
(machine, window) with five features per health channel:

``level``     mean of the channel's *load-conditioned residual*: the bucket mean minus
              what the family's load model expects at that operating point (the same
              coolant temperature means different things at idle and at full load);
``trend``     slope of that residual, per hour;
``noise``     log of the mean within-bucket range (max - min) over the range the machine's
              typical ``n`` readings a bucket of a normal sensor are expected to span
              (``expected_range``: 1.13 sd for two, 4.64 for sixty): the sensor's standard
              deviation, whatever the sampling rate. A noisy sensor raises it, a stuck one
              sends it to the floor, one that loses readings lowers it (fewer readings
              span less). A machine that sends one reading a bucket (history sampled once
              a bucket or slower) cannot show it: NaN, and the family model holds its
              z-score at 0 (models/family.py);
``load_corr`` correlation of the residual with the load over the window: a fault that
              grows with load (fouling, internal leakage) correlates, a sensor that drifts
              or sticks does not follow the load at all;
``coverage``  share of the machine's readings in the window that include the channel:
              per bucket, the channel's count over the count of the machine's fullest
              channel (all channels of a machine are sampled together), so a sensor
              that loses some of its readings shows it before whole buckets go missing,
              and a machine that stops (every channel at once) does not.

The load model (``LoadModel``) is fitted per family on healthy buckets: each channel's
bucket mean regressed on the load and two exponential means of it. A temperature also
depends on where it stood a bucket ago (it lags the load, and a machine started cold
after a night or a lunch break takes half an hour to warm up, whatever its load): for
temperatures the model is first-order, ``T(b) = a T(b-1) + (1 - a) x(b) c``, and the
residual is the implied shift of the level the temperature is heading for,
``(T(b) - a T(b-1)) / (1 - a) - x(b) c``, in degrees, defined where the previous bucket
is in the window.
Everything is vectorised over machines and windows (groupby sums, no Python loop over
machines).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special  # type: ignore[import-untyped]

from models.errors import NotEnoughDataError
from models.roles import health_channels, load_channel, role_of

FEATURES = ("level", "trend", "noise", "load_corr", "coverage")
# What tells a failing sensor from a failing machine, for the failure-mode classifier only
# (models/modes.py; the detector does not see them):
# - ``load_share``: how much of the channel's deviation grows with the load, the slope of
#   its residual over the load (the time held) times the family's load span, over its
#   level. A machine
#   fault works through the load (a worn pump loses pressure in proportion to it, a
#   fouled cooler falls behind as the heat rises): about 0.5 and up. A drifting sensor
#   is off by the same amount at idle and at full load: about 0.
# - ``flat``: the share of the window's buckets of several readings whose readings were
#   all the same; a live sensor never repeats itself exactly, a stuck one always does.
SIGNATURE_EXTRAS = ("load_share", "flat")
LOAD_SHARE_CLIP = 3.0
KEY = ["equipment_id", "window"]
STATS = ["mean", "min", "max", "count"]
LAGGED_ROLES = ("coolant_temp", "oil_temp")  # channels modelled on their previous bucket
MAX_LAG = 0.95
Floats = NDArray[np.float64]


def feature_names(channels: Sequence[str]) -> list[str]:
    return [f"{c}:{f}" for c in channels for f in FEATURES]


@dataclass(frozen=True)
class Arranged:
    """Aggregates as arrays: one row per (machine, window, bucket), one column per channel."""

    keys: pd.MultiIndex  # (equipment_id, window) of every row; rows sorted by both and time
    t_h: Floats
    stats: dict[str, Floats]  # "mean", "min", "max", "count": rows x channels


def arrange(aggregates: pd.DataFrame, channels: Sequence[str]) -> Arranged:
    """Pivot long aggregates to rows of (machine, window, bucket) x channels."""
    needed = {*KEY, "bucket", "t_h", "channel", *STATS}
    missing = needed - set(aggregates.columns)
    if missing:
        raise ValueError(f"aggregates lack columns {sorted(missing)}")
    rows = aggregates[aggregates["channel"].isin(channels)]
    if rows.empty:
        raise NotEnoughDataError("no readings of the model's channels in the window")
    column = pd.Index(list(channels)).get_indexer(pd.Index(rows["channel"]))
    machine = rows["equipment_id"].to_numpy(dtype=np.int64)
    window = rows["window"].to_numpy(dtype=np.int64)
    bucket = _as_int64(rows["bucket"])
    order = np.lexsort((bucket, window, machine))
    m, w, b = machine[order], window[order], bucket[order]
    new = np.r_[True, (m[1:] != m[:-1]) | (w[1:] != w[:-1]) | (b[1:] != b[:-1])]
    row = np.empty(len(order), dtype=np.int64)
    row[order] = np.cumsum(new) - 1
    n = int(new.sum())
    t_h = np.zeros(n)
    t_h[row] = rows["t_h"].to_numpy(dtype=np.float64)
    stats: dict[str, Floats] = {}
    for name in STATS:
        table = np.full((n, len(channels)), np.nan)
        table[row, column] = rows[name].to_numpy(dtype=np.float64)
        stats[name] = table
    keys = pd.MultiIndex.from_arrays([m[new], w[new]], names=KEY)
    return Arranged(keys=keys, t_h=t_h, stats=stats)


def _as_int64(values: pd.Series) -> NDArray[np.int64]:
    if pd.api.types.is_datetime64_any_dtype(values):
        return np.asarray(values.to_numpy(dtype="datetime64[ns]").astype(np.int64))
    return np.asarray(values.to_numpy(dtype=np.int64))


def _load_design(arranged: Arranged, load_index: int | None, fast: float, slow: float) -> Floats:
    """[1, load, fast and slow exponential means of the load] per row (NaN where unknown)."""
    n = arranged.t_h.shape[0]
    if load_index is None:
        return np.ones((n, 1))
    load = arranged.stats["mean"][:, load_index]
    # rows are sorted by (machine, window, bucket): the grouped result keeps their order
    frame = pd.DataFrame(
        {
            "g0": arranged.keys.get_level_values(0),
            "g1": arranged.keys.get_level_values(1),
            "load": load,
        }
    )
    grouped = frame.groupby(["g0", "g1"], sort=True)["load"]
    ewm_fast = grouped.ewm(halflife=fast).mean().to_numpy()
    ewm_slow = grouped.ewm(halflife=slow).mean().to_numpy()
    return np.column_stack([np.ones(n), load, ewm_fast, ewm_slow])


@dataclass
class LoadModel:
    """Per family: what each channel reads at a given operating point, when healthy."""

    channels: list[str]
    fast_halflife: float = 5.0  # buckets
    slow_halflife: float = 20.0
    load: str | None = None
    coef: dict[str, Floats] = field(default_factory=dict)
    magnitude: Floats | None = None  # typical |reading| per channel: floors of the noise feature
    lagged: list[str] = field(default_factory=list)  # first-order channels (temperatures)
    lag: dict[str, float] = field(default_factory=dict)  # their coefficient a per bucket
    bucket_h: float | None = None  # the bucket width, in hours (learned at fit)
    load_span: float | None = None  # the load's 5th to 95th percentile (learned at fit)

    @classmethod
    def for_channels(cls, codes: Sequence[str]) -> LoadModel:
        channels = health_channels(codes)
        if not channels:
            raise NotEnoughDataError(f"no health channels among {list(codes)}")
        load = load_channel(channels)
        lagged = [c for c in channels if role_of(c) in LAGGED_ROLES and c != load]
        return cls(channels=channels, load=load, lagged=lagged)

    def previous(self, arranged: Arranged) -> Floats:
        """Each row's bucket means one bucket earlier in its window (NaN where absent)."""
        means = arranged.stats["mean"]
        out = np.full_like(means, np.nan)
        width = getattr(self, "bucket_h", None)
        if width is None or means.shape[0] < 2:
            return out
        codes = _window_codes(arranged)
        follows = (codes[1:] == codes[:-1]) & (
            np.abs(np.diff(arranged.t_h) - width) <= 0.01 * width
        )
        # a bucket in which the machine started or stopped holds the mean of part of it
        # only (a cold start's first minutes): no first-order relation with its neighbour
        full = full_buckets(arranged, codes)
        follows &= full[1:] & full[:-1]
        out[1:][follows] = means[:-1][follows]
        return out

    @property
    def load_index(self) -> int | None:
        return self.channels.index(self.load) if self.load is not None else None

    def design(self, arranged: Arranged) -> Floats:
        return _load_design(arranged, self.load_index, self.fast_halflife, self.slow_halflife)

    def fit(self, arranged: Arranged) -> LoadModel:
        design = self.design(arranged)
        means = arranged.stats["mean"]
        self.magnitude = np.nan_to_num(np.nanmedian(np.abs(means), axis=0)) + 1e-9
        self.bucket_h = _bucket_width(arranged)
        li = self.load_index
        if li is not None and np.isfinite(means[:, li]).any():
            low, high = np.nanpercentile(means[:, li], [5, 95])
            self.load_span = float(high - low) if high > low else None
        previous = self.previous(arranged)
        for j, channel in enumerate(self.channels):
            if channel == self.load:
                continue
            if channel in getattr(self, "lagged", []):
                self._fit_lagged(channel, design, means[:, j], previous[:, j])
                continue
            ok = np.isfinite(means[:, j]) & np.isfinite(design).all(axis=1)
            if ok.sum() < design.shape[1] + 2:
                self.coef[channel] = np.r_[
                    np.nanmean(means[:, j]) if ok.any() else 0.0, np.zeros(design.shape[1] - 1)
                ]
                continue
            solution, *_ = np.linalg.lstsq(design[ok], means[ok, j], rcond=None)
            self.coef[channel] = solution
        return self

    def _fit_lagged(self, channel: str, design: Floats, values: Floats, previous: Floats) -> None:
        """``values = a previous + (1 - a) design @ coef``, fitted where both are known."""
        ok = np.isfinite(values) & np.isfinite(previous) & np.isfinite(design).all(axis=1)
        if ok.sum() < design.shape[1] + 3:
            self.lag[channel] = 0.0
            finite = np.isfinite(values)
            self.coef[channel] = np.r_[
                np.nanmean(values) if finite.any() else 0.0, np.zeros(design.shape[1] - 1)
            ]
            return
        joint, *_ = np.linalg.lstsq(
            np.column_stack([design[ok], previous[ok]]), values[ok], rcond=None
        )
        a = float(np.clip(joint[-1], 0.0, MAX_LAG))
        settled = (values[ok] - a * previous[ok]) / (1.0 - a)
        coef, *_ = np.linalg.lstsq(design[ok], settled, rcond=None)
        self.lag[channel] = a
        self.coef[channel] = np.asarray(coef, dtype=np.float64)

    def residuals(self, arranged: Arranged) -> Floats:
        """Bucket mean minus the expected value at the bucket's operating point (for
        first-order channels: the level the reading is heading for, NaN without the
        previous bucket)."""
        design = self.design(arranged)
        means = arranged.stats["mean"]
        lag = getattr(self, "lag", {})
        previous = self.previous(arranged) if lag else means
        out = np.empty_like(means)
        for j, channel in enumerate(self.channels):
            if channel == self.load or channel not in self.coef:
                out[:, j] = means[:, j]
                continue
            a = lag.get(channel)
            if a is None:
                out[:, j] = means[:, j] - design @ self.coef[channel]
            else:
                settled = (means[:, j] - a * previous[:, j]) / (1.0 - a)
                out[:, j] = settled - design @ self.coef[channel]
        return out


FULL_SHARE = 0.8  # a bucket is full when the machine sent this share of its fullest


def full_buckets(arranged: Arranged, codes: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Whether the machine ran through each row's bucket: it sent (over its fullest
    channel) at least ``FULL_SHARE`` of the readings of its fullest bucket in the window.
    ``codes`` numbers the (machine, window) groups of the rows."""
    sent = np.nan_to_num(arranged.stats["count"]).max(axis=1)
    if sent.size == 0:
        return np.zeros(0, dtype=bool)
    _, group = np.unique(codes, return_inverse=True)
    most = np.zeros(int(group.max()) + 1)
    np.maximum.at(most, group, sent)
    return np.asarray(sent >= FULL_SHARE * most[group], dtype=bool)


def _window_codes(arranged: Arranged) -> NDArray[np.int64]:
    """The (machine, window) group of each row, numbered from 0 in the rows' order (rows
    are sorted by machine, window and bucket: ``arrange``)."""
    machine = np.asarray(arranged.keys.get_level_values(0), dtype=np.int64)
    window = np.asarray(arranged.keys.get_level_values(1), dtype=np.int64)
    new = (machine[1:] != machine[:-1]) | (window[1:] != window[:-1])
    return np.concatenate([np.zeros(min(machine.size, 1), dtype=np.int64), np.cumsum(new)])


def _bucket_width(arranged: Arranged) -> float | None:
    """The bucket width in hours: the smallest step between buckets of one window."""
    codes = _window_codes(arranged)
    steps = np.diff(arranged.t_h)[codes[1:] == codes[:-1]]
    steps = steps[steps > 1e-9]
    return float(steps.min()) if steps.size else None


def _groups(arranged: Arranged) -> tuple[NDArray[np.int64], pd.MultiIndex]:
    """``_window_codes``, and the groups' (machine, window) index."""
    codes = _window_codes(arranged)
    first = np.r_[True, codes[1:] != codes[:-1]][: codes.size]
    keys = arranged.keys[first]
    return codes, pd.MultiIndex.from_arrays(
        [keys.get_level_values(0).astype(np.int64), keys.get_level_values(1).astype(np.int64)],
        names=KEY,
    )


def _group_sums(values: Floats, codes: NDArray[np.int64], n_groups: int) -> Floats:
    """Sum of each column per group (NaN counted as 0), added in the rows' order."""
    clean = np.nan_to_num(values)
    out = np.empty((n_groups, values.shape[1]))
    for j in range(values.shape[1]):
        out[:, j] = np.bincount(codes, weights=clean[:, j], minlength=n_groups)
    return out


def window_features(aggregates: pd.DataFrame, model: LoadModel) -> pd.DataFrame:
    """The five features of every channel for every (machine, window) in ``aggregates``,
    the classifier's extras (``SIGNATURE_EXTRAS`` per channel, and ``load_spread``: how
    much the load moved in the window, over the family's load span), ``buckets`` and
    ``readings`` (the machine's typical readings a bucket, median over the window's
    buckets of its fullest channel's count: the sampling)."""
    arranged = arrange(aggregates, model.channels)
    residual = model.residuals(arranged)
    codes, index = _groups(arranged)
    n = len(index)
    reported = np.isfinite(arranged.stats["mean"])
    seen = _group_sums(reported.astype(np.float64), codes, n)
    present = np.isfinite(residual)
    cnt = _group_sums(present.astype(np.float64), codes, n)
    safe = np.maximum(cnt, 1.0)
    t = np.where(present, arranged.t_h[:, None], 0.0)
    r = np.where(present, residual, 0.0)
    fit = _time_fit(r, t, codes, n, safe)
    level, var_t, cov_tr = fit.level, fit.var_t, fit.cov_tr
    trend = np.where(var_t > 1e-12, cov_tr / np.where(var_t > 1e-12, var_t, 1.0), 0.0)

    scale = model.magnitude if model.magnitude is not None else np.ones(len(model.channels))
    noise, typical = _noise(arranged, codes, n, scale, reported=reported, seen=seen)

    li = model.load_index
    load_corr, load_share, load_spread = _load_terms(
        arranged, model, codes, n, present=present, r=r, t=t, fit=fit
    )
    if li is not None:
        level[:, li] = 0.0  # how hard a machine works is not its health
        trend[:, li] = 0.0

    rows_per_group = np.bincount(codes, minlength=n).astype(np.float64)[:, None]
    counts = np.nan_to_num(arranged.stats["count"])
    sent = _group_sums(counts.max(axis=1, keepdims=True), codes, n)
    coverage = _group_sums(counts, codes, n) / np.maximum(sent, 1.0)
    flat = _flat_share(arranged, codes, n, scale)
    level = np.where(cnt > 0, level, 0.0)
    trend = np.where(cnt > 0, trend, 0.0)
    # a channel that sent nothing has no spread (the floor); a machine that sent single
    # readings a bucket shows none, whatever its sensors' noise: unobserved
    noise = np.where(seen > 0, np.where(typical[:, None] >= 2, noise, np.nan), np.log(1e-6 * scale))
    stacked = np.stack([level, trend, noise, load_corr, coverage], axis=2)  # groups x ch x f
    extras = np.stack([load_share, flat], axis=2)
    frame = pd.DataFrame(
        np.concatenate([stacked.reshape(n, -1), extras.reshape(n, -1)], axis=1),
        index=index,
        columns=feature_names(model.channels)
        + [f"{c}:{f}" for c in model.channels for f in SIGNATURE_EXTRAS],
    )
    frame["load_spread"] = load_spread
    frame["buckets"] = rows_per_group[:, 0]
    frame["readings"] = typical
    return frame


_RANGE_GRID = np.linspace(-10.0, 10.0, 4001)
_RANGE_CDF = np.asarray(special.ndtr(_RANGE_GRID), dtype=np.float64)
_expected_ranges: dict[int, float] = {0: 0.0, 1: 0.0}


def expected_range(count: ArrayLike) -> Floats:
    """d2(n): the expected range (max - min) of ``n`` independent normal readings, in
    standard deviations: the integral of 1 - F^n - (1 - F)^n. 0 for fewer than two
    readings or an unknown (NaN) count."""
    n = np.asarray(count, dtype=np.float64)
    whole = np.where(np.isfinite(n), np.maximum(np.rint(n), 0.0), 0.0).astype(np.int64)
    unique, inverse = np.unique(whole, return_inverse=True)
    wanted = [int(k) for k in unique if int(k) not in _expected_ranges]
    if wanted:
        k = np.asarray(wanted, dtype=np.float64)[:, None]
        inside = 1.0 - _RANGE_CDF[None, :] ** k - (1.0 - _RANGE_CDF[None, :]) ** k
        step = float(_RANGE_GRID[1] - _RANGE_GRID[0])
        _expected_ranges.update(zip(wanted, (inside.sum(axis=1) * step).tolist(), strict=True))
    table = np.asarray([_expected_ranges[int(k)] for k in unique], dtype=np.float64)
    return np.asarray(table[inverse].reshape(n.shape), dtype=np.float64)


def _noise(
    arranged: Arranged,
    codes: NDArray[np.int64],
    n: int,
    scale: Floats,
    *,
    reported: NDArray[np.bool_],
    seen: Floats,
) -> tuple[Floats, Floats]:
    """Per (window, channel): the log of the mean within-bucket range over
    ``expected_range`` of the machine's typical readings a bucket (the median over the
    window's buckets of its fullest channel's count), and that count per window. A channel
    that lost readings still shows a smaller range, as it did; only the sampling rate is
    divided out. ``reported``: rows x channels with a bucket; ``seen``: their count per
    window."""
    ranges = arranged.stats["max"] - arranged.stats["min"]
    mean_range = _group_sums(np.where(reported, ranges, 0.0), codes, n) / np.maximum(seen, 1.0)
    sent = np.nan_to_num(arranged.stats["count"]).max(axis=1)
    typical = pd.Series(sent).groupby(codes).median().reindex(range(n), fill_value=0.0)
    d2 = expected_range(typical.to_numpy())[:, None]
    sd = mean_range / np.where(d2 > 0, d2, 1.0)
    return np.log(sd + 1e-6 * scale), typical.to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class _TimeFit:
    """Per (window, channel): the residual's least-squares fit over time, and the sums
    the load terms share with it."""

    safe: Floats  # readings with a residual (at least 1)
    st: Floats  # sum of their times
    level: Floats  # mean residual
    var_t: Floats  # variance of the times
    cov_tr: Floats  # covariance of time and residual


def _time_fit(r: Floats, t: Floats, codes: NDArray[np.int64], n: int, safe: Floats) -> _TimeFit:
    st = _group_sums(t, codes, n)
    level = _group_sums(r, codes, n) / safe
    return _TimeFit(
        safe=safe,
        st=st,
        level=level,
        var_t=_group_sums(t * t, codes, n) / safe - (st / safe) ** 2,
        cov_tr=_group_sums(t * r, codes, n) / safe - (st / safe) * level,
    )


def _load_terms(
    arranged: Arranged,
    model: LoadModel,
    codes: NDArray[np.int64],
    n: int,
    *,
    present: NDArray[np.bool_],
    r: Floats,
    t: Floats,
    fit: _TimeFit,
) -> tuple[Floats, Floats, Floats]:
    """Per (window, channel) ``load_corr`` and ``load_share``; per window ``load_spread``
    (zeros without a load channel, or without a learned load span for the last two)."""
    level, safe, st = fit.level, fit.safe, fit.st
    load_corr, load_share, load_spread = np.zeros_like(level), np.zeros_like(level), np.zeros(n)
    li = model.load_index
    if li is None:
        return load_corr, load_share, load_spread
    srr = _group_sums(r * r, codes, n)
    load = np.nan_to_num(arranged.stats["mean"][:, li])
    lv = np.where(present, load[:, None], 0.0)
    sl, sll = _group_sums(lv, codes, n), _group_sums(lv * lv, codes, n)
    var_l = sll / safe - (sl / safe) ** 2
    var_r = srr / safe - level**2
    cov = _group_sums(lv * r, codes, n) / safe - (sl / safe) * level
    denominator = np.sqrt(np.maximum(var_l * var_r, 0.0))
    load_corr = np.where(
        denominator > 1e-12, cov / np.where(denominator > 1e-12, denominator, 1.0), 0.0
    )
    load_corr[:, li] = 0.0
    span = getattr(model, "load_span", None)
    if not span:
        return load_corr, load_share, load_spread
    # the slope over the load with the time held (a fault arriving or growing within
    # the window is not a load response)
    var_t, cov_tr = fit.var_t, fit.cov_tr
    cov_tl = _group_sums(t * lv, codes, n) / safe - (st / safe) * (sl / safe)
    det = var_l * var_t - cov_tl**2
    moved = var_l > (0.01 * span) ** 2
    partial = det > 1e-9 * np.maximum(var_l * var_t, 1e-300)
    slope = np.where(
        partial,
        (cov * var_t - cov_tr * cov_tl) / np.where(partial, det, 1.0),
        cov / np.where(moved, var_l, 1.0),
    )
    off = np.abs(level) > 1e-12
    share = slope * span / np.where(off, level, 1.0)
    load_share = np.where(moved & off, np.clip(share, -LOAD_SHARE_CLIP, LOAD_SHARE_CLIP), 0.0)
    load_share[:, li] = 0.0
    load_spread = np.sqrt(np.maximum(var_l[:, li], 0.0)) / span
    return load_corr, load_share, load_spread


def _flat_share(arranged: Arranged, codes: NDArray[np.int64], n: int, scale: Floats) -> Floats:
    """Per (window, channel): the share of its buckets of several readings that had no
    range at all (every reading the same)."""
    reported = np.isfinite(arranged.stats["mean"])
    ranges = np.nan_to_num(arranged.stats["max"] - arranged.stats["min"])
    several = reported & (np.nan_to_num(arranged.stats["count"], nan=2.0) > 1)
    same = several & (np.abs(ranges) <= 1e-9 * scale)
    return _group_sums(same.astype(np.float64), codes, n) / np.maximum(
        _group_sums(several.astype(np.float64), codes, n), 1.0
    )
