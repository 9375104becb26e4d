"""The evidence behind model alerts: what holds at each scored window of a machine. Pure.

``assess`` turns each machine's health rows (in time order) into flags that use only
that row and the earlier ones: whether the anomaly has persisted, whether it reads as a
sensor or as the machine, whether the machine has been calm long enough to clear its
alerts. alerts/model_rule.py acts on them (the rule itself is documented there).

A *repair* (a work order of the machine resolved: a technician fixed it or replaced a
sensor) ends the anomalous run it falls in: the windows after it must persist on their
own before an alert opens again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

MACHINE, SENSOR = "machine", "sensor"
SUDDEN = "sudden"  # the cause of a sudden deterioration on top of an open machine alert
CRITICAL_MODES = frozenset({"seal_hose_leak"})  # modes that stop the machine within hours

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class ModelAlertPolicy:
    persist_s: float = 3600.0
    severe_ratio: float = 3.0
    severe_persist_s: float = 600.0  # two windows in a row at the live cadence
    max_gap_s: float = 1200.0
    evidence_s: float = 6 * 3600.0
    sensor_share: float = 0.5
    clear_ratio: float = 0.5
    clear_s: float = 6 * 3600.0
    critical_rul_h: float = 24.0
    sudden_jump: float = 2.0  # severe windows this many times an hour before: a sudden step
    sensor_cover_s: float = 24 * 3600.0  # a machine alert covers its run's sensors this long
    renew_critical_s: float = 96 * 3600.0  # a critical alert the machine outlived this long
    # beside machine alerts all open this long, windows all at stale_step_ratio x the
    # alarm led by another part of the machine (measurand) than most anomalous windows
    # of the stale_part_s before them are a sudden deterioration, step or none
    stale_alert_s: float = 24 * 3600.0  # inf: off
    stale_step_ratio: float = 10.0
    stale_part_s: float = 24 * 3600.0

    def __post_init__(self) -> None:
        for name in (
            "persist_s",
            "severe_persist_s",
            "max_gap_s",
            "evidence_s",
            "clear_s",
            "sensor_cover_s",
            "renew_critical_s",
            "stale_alert_s",
            "stale_part_s",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not 0 < self.clear_ratio <= 1 <= self.severe_ratio:
            raise ValueError("clear_ratio and severe_ratio must satisfy 0 < clear <= 1 <= severe")
        if not 0 < self.sensor_share <= 1:
            raise ValueError("sensor_share must be in (0, 1]")
        if self.sudden_jump < 1:
            raise ValueError("sudden_jump must be at least 1")
        if self.stale_step_ratio < self.severe_ratio:
            raise ValueError("stale_step_ratio must be at least severe_ratio")


@dataclass(frozen=True)
class HealthRows:
    """Scored windows, sorted by machine and time (``from_columns`` sorts them)."""

    equipment_id: NDArray[np.int64]
    time: Floats  # epoch seconds of the window's end
    ratio: Floats  # statistic / alarm threshold
    mode: NDArray[Any]  # str or None
    mode_probability: Floats
    sensor_fault: NDArray[np.bool_]
    sensor_probability: Floats  # the sensor modes' total probability (NaN: unknown)
    channel: NDArray[Any]  # the channel contributing most
    explanation: NDArray[Any]
    rul_hours: Floats
    rul_low_hours: Floats
    rul_high_hours: Floats

    @classmethod
    def from_columns(cls, **columns: Any) -> HealthRows:
        machine = np.asarray(columns["equipment_id"], dtype=np.int64)
        time = np.asarray(columns["time"], dtype=np.float64)
        order = np.lexsort((time, machine))
        n = machine.size

        def col(name: str, dtype: Any, default: Any) -> NDArray[Any]:
            value = columns.get(name)
            array = np.full(n, default, dtype=dtype) if value is None else np.asarray(value)
            return np.asarray(array[order], dtype=dtype)

        return cls(
            equipment_id=machine[order],
            time=time[order],
            ratio=col("ratio", np.float64, np.nan),
            mode=col("mode", object, None),
            mode_probability=np.nan_to_num(col("mode_probability", np.float64, np.nan)),
            sensor_fault=col("sensor_fault", bool, False),
            sensor_probability=col("sensor_probability", np.float64, np.nan),
            channel=col("channel", object, None),
            explanation=col("explanation", object, ""),
            rul_hours=col("rul_hours", np.float64, np.nan),
            rul_low_hours=col("rul_low_hours", np.float64, np.nan),
            rul_high_hours=col("rul_high_hours", np.float64, np.nan),
        )

    def __len__(self) -> int:
        return int(self.equipment_id.size)


@dataclass(frozen=True)
class Repair:
    """A service visit that fixed something: the machine (``channel`` None, which
    resolves its machine alerts) or one sensor (resolves that sensor's check)."""

    equipment_id: int
    at: float  # epoch seconds the work order was resolved
    channel: str | None = None


def repaired_before(rows: HealthRows, repairs: Sequence[Repair]) -> NDArray[np.bool_]:
    """Rows that follow a repair of their machine (in ``(previous row, row]``; for a
    machine's first row, any repair at or before it)."""
    flag = np.zeros(len(rows), dtype=bool)
    if not repairs or len(rows) == 0:
        return flag
    m = rows.equipment_id
    key = m.astype(np.float64) * 1e11 + rows.time
    machine = np.array([r.equipment_id for r in repairs], dtype=np.int64)
    at = np.array([r.at for r in repairs], dtype=np.float64)
    i = np.searchsorted(key, machine * 1e11 + at, side="left")
    inside = i < len(rows)
    i = i[inside]
    flag[i[m[i] == machine[inside]]] = True
    return flag


@dataclass(frozen=True)
class Flags:
    """What holds at each row (from that row and the earlier rows of its machine)."""

    machine_ready: NDArray[np.bool_]
    sensor_ready: NDArray[np.bool_]
    clear: NDArray[np.bool_]
    run_start: NDArray[np.int64]  # first row of the anomalous run the row belongs to
    evidence_start: NDArray[np.int64]  # first row of the run within evidence_s (observed)
    sensor_share: Floats
    hour_start: NDArray[np.int64]  # first row of the run within persist_s (observed)
    hour_sensor_share: Floats  # the sensor share of the vote over those windows
    severe_start: NDArray[np.int64]  # first row of the severe run (where the row is severe)
    severe_ready: NDArray[np.bool_]  # severe for severe_persist_s
    recent_start: NDArray[np.int64]  # first row of the severe run within persist_s (observed)
    hour_ready: NDArray[np.bool_]  # anomalous for persist_s (not only severe for a while)
    repaired: NDArray[np.bool_]  # the machine's first row after a repair
    sudden: NDArray[np.int64]  # last row before the sudden step the row ends (-1: none)
    # the same for another part failing badly, step or none (counts beside stale alerts)
    sudden_stale: NDArray[np.int64]
    clock: Floats  # the machine-keyed observed clock (machine id x 1e11 + observed seconds)
    machine_start: NDArray[np.int64]  # the machine's first row


@dataclass(frozen=True)
class Cause:
    """What an alert is about: a machine degrading (``machine``), a failure mode that
    stops the machine within hours (its name), or one sensor (``sensor`` and its channel)."""

    equipment_id: int
    key: str = MACHINE
    channel: str | None = None


def _runs(flag: NDArray[np.bool_], new_machine: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Index of the first row of the run of ``flag`` each row belongs to."""
    index = np.arange(flag.size, dtype=np.int64)
    previous = np.r_[False, flag[:-1]]
    starts = flag & (new_machine | ~previous)
    return np.maximum.accumulate(np.where(starts, index, 0))


def _observed(time: Floats, start: NDArray[np.int64], cap: float) -> Floats:
    """Observed seconds since the row ``start``: gaps counted up to ``cap`` each."""
    gap = np.minimum(np.diff(time, prepend=time[:1]), cap) if time.size else time
    total = np.cumsum(gap)
    return np.asarray(total - total[start], dtype=np.float64)


def assess(rows: HealthRows, policy: ModelAlertPolicy, repairs: Sequence[Repair] = ()) -> Flags:
    n = len(rows)
    if n == 0:
        empty_b = np.zeros(0, dtype=bool)
        empty_i = np.zeros(0, dtype=np.int64)
        return Flags(
            empty_b,
            empty_b,
            empty_b,
            empty_i,
            empty_i,
            np.zeros(0),
            empty_i,
            np.zeros(0),
            empty_i,
            empty_b,
            empty_i,
            empty_b,
            empty_b,
            empty_i,
            empty_i,
            np.zeros(0),
            empty_i,
        )
    m, t, ratio = rows.equipment_id, rows.time, np.nan_to_num(rows.ratio)
    new_machine = np.r_[True, m[1:] != m[:-1]]
    machine_start = np.maximum.accumulate(np.where(new_machine, np.arange(n), 0))
    # a repair starts the machine's evidence afresh, as a new machine would
    repaired = repaired_before(rows, repairs)
    fresh = new_machine | repaired
    anomalous = ratio >= 1.0
    run_start = _runs(anomalous, fresh)
    observed = _observed(t, run_start, policy.max_gap_s)
    severe = ratio >= policy.severe_ratio
    severe_start = _runs(severe, fresh)
    severe_observed = _observed(t, severe_start, policy.max_gap_s)
    severe_ready = severe & (severe_observed >= policy.severe_persist_s)
    persistent = anomalous & ((observed >= policy.persist_s) | severe_ready)
    calm = ratio < policy.clear_ratio
    calm_start = _runs(calm, new_machine)
    clear = calm & (_observed(t, calm_start, policy.max_gap_s) >= policy.clear_s)
    # the run's windows within the last evidence_s of observed time vote: a night off
    # does not leave the morning's first window to decide alone
    clock = _observed(t, machine_start, policy.max_gap_s)
    key = m.astype(np.float64) * 1e11 + clock
    evidence_start = np.maximum(
        np.searchsorted(key, key - policy.evidence_s, side="left"),
        np.maximum(run_start, machine_start),
    ).astype(np.int64)
    hour_back = np.searchsorted(key, key - policy.persist_s, side="left")
    recent_start = np.maximum(hour_back, np.maximum(severe_start, machine_start)).astype(np.int64)
    hour_start = np.maximum(hour_back, np.maximum(run_start, machine_start)).astype(np.int64)
    sudden, sudden_stale = _sudden(ratio, key, machine_start, channel=rows.channel, policy=policy)
    # the share of the evidence windows the model read as a sensor fault
    sensor_sum = np.cumsum(np.r_[0.0, (anomalous & rows.sensor_fault).astype(np.float64)])
    count = np.cumsum(np.r_[0.0, anomalous.astype(np.float64)])
    upto = np.arange(1, n + 1)

    def share_since(first: NDArray[np.int64]) -> Floats:
        votes = count[upto] - count[first]
        sensors = sensor_sum[upto] - sensor_sum[first]
        return np.where(votes > 0, sensors / np.where(votes > 0, votes, 1.0), 0.0)

    share = share_since(evidence_start)
    sensor = share >= policy.sensor_share
    return Flags(
        machine_ready=persistent & ~sensor,
        sensor_ready=persistent & sensor,
        clear=clear,
        run_start=run_start,
        evidence_start=evidence_start,
        sensor_share=share,
        hour_start=hour_start,
        hour_sensor_share=share_since(hour_start),
        severe_start=severe_start,
        severe_ready=severe_ready,
        recent_start=recent_start,
        hour_ready=anomalous & (observed >= policy.persist_s),
        repaired=repaired,
        sudden=sudden,
        sudden_stale=sudden_stale,
        clock=key,
        machine_start=machine_start.astype(np.int64),
    )


def stretch_start(clock: Floats, i: int, policy: ModelAlertPolicy) -> int:
    """The first row of the shortest tail of windows ending at row ``i`` that spans
    ``severe_persist_s`` of observed time (``clock``: the machine-keyed observed clock)."""
    return int(np.searchsorted(clock, clock[i] - policy.severe_persist_s, side="right")) - 1


def hour_before(clock: Floats, first: int, lo: int, policy: ModelAlertPolicy) -> tuple[int, int]:
    """Rows ``[a, b)`` of the hour of windows that ended an hour before row ``lo``
    (none before the machine's ``first`` row). Windows span an hour and overlap, so a
    change in the machine shows in full only against windows that ended before the
    current ones began."""
    a = max(int(np.searchsorted(clock, clock[lo] - 2 * policy.persist_s)), first)
    b = max(int(np.searchsorted(clock, clock[lo] - policy.persist_s, side="right")), first)
    return a, b


def _sudden(
    ratio: Floats,
    clock: Floats,
    machine_start: NDArray[np.int64],
    *,
    channel: NDArray[Any],
    policy: ModelAlertPolicy,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For each row, the last row before the step that makes it a sudden deterioration
    (-1 where it is none): the windows over the last ``severe_persist_s`` of observed
    time (``clock``: the machine-keyed observed clock of ``assess``) are all severe, at
    least ``sudden_jump`` times the highest ratio of the hour of windows that ended an
    hour before the stretch began, and led by other channels than those were. Windows
    span an hour and overlap, so a step in the machine shows in full only against
    windows that ended before the current ones began; a fault creeping past the severe
    level is no step, and one that worsens in the channels it already led is no new
    fault.

    The second array (-1 where it is none, and where the first array has a step): the
    windows of the stretch all stand at least ``stale_step_ratio`` times the alarm, step
    or none, and are all led by one measurand (pressure, vibration, temperature) other
    than the one that led most anomalous windows of the ``stale_part_s`` before the hour
    before. Beside machine alerts open for a day or more (``stale_alert_s``) that is
    another part of the machine failing badly, news the open alerts do not carry: a
    hose bursting on a machine whose bearing alert opened days ago, its pressure
    leading windows read as the bearing, which rose over an hour or two, not in a
    step."""
    out = np.full(ratio.size, -1, dtype=np.int64)
    stale = np.full(ratio.size, -1, dtype=np.int64)
    severe = ratio >= policy.severe_ratio
    for i in np.flatnonzero(severe).tolist():
        first = int(machine_start[i])
        lo = stretch_start(clock, i, policy)
        if lo < first or not severe[lo : i + 1].all():
            continue
        a, b = hour_before(clock, first, lo, policy)
        if a >= b:
            continue  # nothing to compare with
        low = float(ratio[lo : i + 1].min())
        jump = low >= policy.sudden_jump * max(float(ratio[a:b].max()), 1.0)
        # a new fault shows in another part of the machine than the one that led before
        if jump and not set(channel[lo : i + 1].tolist()) & set(channel[a:b].tolist()):
            out[i] = b - 1
        elif (
            low >= policy.stale_step_ratio
            and len({measurand(c) for c in channel[lo : i + 1].tolist()}) == 1
            and _other_part(ratio, clock, channel, i, a, policy=policy)
        ):
            stale[i] = b - 1
    return out, stale


def measurand(channel: str | None) -> str:
    """The part of the machine a channel reads: its measurand (pressure, vibration,
    temperature ...), from its code."""
    code = (channel or "").lower()
    parts = (("pressure", "pressure"), ("vibration", "vibration"), ("temp", "temperature"))
    return next((part for word, part in parts if word in code), code)


def _other_part(
    ratio: Floats, clock: Floats, channel: NDArray[Any], i: int, a: int, *, policy: ModelAlertPolicy
) -> bool:
    """Whether row ``i`` is led by another measurand than most anomalous windows of the
    ``stale_part_s`` of observed time before row ``a`` were (False when there were none)."""
    start = int(np.searchsorted(clock, clock[a] - policy.stale_part_s, side="left"))
    before = [measurand(c) for c, r in zip(channel[start:a], ratio[start:a], strict=True) if r >= 1]
    if not before:
        return False
    values, counts = np.unique(np.asarray(before), return_counts=True)
    return measurand(channel[i]) != str(values[np.argmax(counts)])


def vote(rows: HealthRows, lo: int, hi: int, sensor: bool) -> tuple[str | None, float, str | None]:
    """The most voted mode (and its share of the vote) and channel among rows [lo, hi]."""
    picked = np.arange(lo, hi + 1)
    picked = picked[(rows.ratio[picked] >= 1.0) & (rows.sensor_fault[picked] == sensor)]
    if picked.size == 0:
        return None, 0.0, rows.channel[hi]
    weight = np.maximum(rows.mode_probability[picked], 1e-3)
    modes: dict[str, float] = {}
    channels: dict[str, float] = {}
    for i, w in zip(picked.tolist(), weight.tolist(), strict=True):
        if rows.mode[i] is not None:
            modes[rows.mode[i]] = modes.get(rows.mode[i], 0.0) + w
        if rows.channel[i] is not None:
            channels[rows.channel[i]] = channels.get(rows.channel[i], 0.0) + w
    mode = max(modes, key=modes.__getitem__) if modes else None
    share = modes[mode] / float(weight.sum()) if mode is not None else 0.0
    channel = max(channels, key=channels.__getitem__) if channels else rows.channel[hi]
    return mode, share, channel


def machine_mode(rows: HealthRows, flags: Flags, i: int) -> tuple[str | None, float]:
    """The machine mode row ``i`` points at: a mode that stops the machine within hours if
    the windows of the current severe run vote for it, else the evidence's vote."""
    if flags.severe_ready[i]:
        mode, share, _ = vote(rows, int(flags.recent_start[i]), i, False)
        if mode in CRITICAL_MODES:
            return mode, share
    mode, share, _ = vote(rows, int(flags.evidence_start[i]), i, False)
    return mode, share
