"""Model alerts: when a machine's health model opens an alert, and when it clears. Pure.

Input: each machine's scored windows (the ``health`` rows) in time order, as arrays:
the detector statistic over the family model's alarm threshold (``ratio``: 1.0 is the
alarm level, score 50), the likely failure mode with its probability, whether that mode
is a sensor's, the channel that contributes most, the explanation and the remaining
useful life.

**Open (persistence).** One anomalous window is not enough: a machine's health must be
past the alarm level in every window scored over ``persist_s`` of observed time (a run
of consecutive anomalous windows; a gap between two windows, such as a night off,
counts as at most ``max_gap_s``, so an anomaly at the end of one shift and the start of
the next is not yet persistent). A severe anomaly (``ratio >= severe_ratio``, the level
at which the health score reaches 10) needs only ``severe_persist_s``: a burst hose
stops the machine within hours, and an alert an hour later is an hour lost.

**Machine or sensor.** The windows of the run within the last ``evidence_s`` vote, each
with its mode's probability: when sensor modes hold at least ``sensor_share`` of the
vote the cause is the sensor (the channel contributing most in those windows) and a
*sensor check* opens, grade ``minor``; otherwise a machine alert opens, naming the most
voted machine mode and so the parts. Its grade is ``critical`` for a mode that stops
the machine within hours (a seal or hose leak) or when the remaining useful life is at
most ``critical_rul_h``, else ``major``.

**Beside a sensor found faulty.** A sensor that died keeps its machine's run voting as
a sensor for hours. When a sensor check of the machine has been open since before the
last ``persist_s`` of the run, and that last stretch reads as the machine (sensor modes
under ``sensor_share`` of its vote), a machine alert opens all the same: the open check
explains the earlier windows. Not when the mode voted is read from the faulty sensor's
measurand (``MODE_MEASURAND``: a leak from a pressure): a drifting pressure sensor looks
like a leak, and the check already open says which it is.

**One open alert per machine and cause.** The machine is one cause; each suspected
sensor is another. A run first read as a sensor and later as the machine (early bearing
wear shows in vibration alone) opens the machine alert too. A run whose machine alert
opened in the last ``sensor_cover_s`` opens no sensor check (the technician checks the
sensors on that visit); a sensor failing later in a long anomaly gets its own.

**Sudden deterioration.** A machine with a machine alert open can fail a second way: a
hose bursts on a machine whose bearing has been wearing for weeks. Its windows carry
both faults, and the classifier (trained on one fault at a time) may name the older
one, which keeps the new fault behind the alert already open. So when the windows of
the last ``severe_persist_s`` are severe, at least ``sudden_jump`` times the highest
ratio of the hour of windows that ended an hour before them (windows overlap by up to an
hour: a step shows in full only against windows that ended before), and led by other
channels than those were (another part of the machine), and every open machine alert
of the machine had opened by then, a ``critical`` alert of its own cause (``sudden``)
opens, naming the voted mode; if the vote names a mode that stops the machine within
hours, that mode's own alert opens instead. A fault creeping past the severe level, or
worsening in the channels that already led, is no sudden step.

**Another part failing badly beside a stale alert.** A hose that bursts on a machine
whose bearing alert opened days ago rarely makes a step: its pressure rises over an hour
or two, and the windows of the hour before already carry some of it. So when every
open machine alert of the machine has been open ``stale_alert_s`` (a day; ``inf``
switches this off), windows over ``severe_persist_s`` all at ``stale_step_ratio`` times
the alarm and all led by one measurand (pressure, vibration, temperature) other than
the one that led most anomalous windows of the ``stale_part_s`` before the hour before
them open the ``sudden`` alert too, step or none. A wear fault climbing with the day's
load in the part that led all along does not.

**A critical alert the machine outlived.** A hose that bursts stops the machine within
hours, so a leak alert whose machine has run on for ``renew_critical_s`` since it opened
was a misreading (a worn pump's worst hours can vote a leak). It must not hide, behind
the same open cause, the hose that does burst later: when the windows of the last
``severe_persist_s`` are severe and vote that mode, and the hour of windows that ended an
hour before them voted another machine mode (a new episode, not the same reading going
on), the old alert closes as superseded and a new one opens. A mode read throughout (a
drifting pressure sensor read as a leak for days) renews nothing.

**Clear (hysteresis).** Open model alerts of a machine close once every window over
``clear_s`` of observed time stayed below ``clear_ratio`` of the alarm level (health
score of 80 and above for the default 0.5): after a repair, not at the first good hour.
A silent machine (down, or off) keeps its alerts open.

**Repairs.** A repair (its work order resolved) closes what it fixed: a machine repair
the machine's alerts, a sensor replaced that sensor's check, when they opened before it.
The anomalous run it falls in ends there, so an anomaly that outlives the repair opens
a new alert once it has persisted again: a machine carrying a second fault, or a repair
that did not fix it, is not hidden behind an alert that stays open for weeks.

``assess`` computes, for every row, whether each condition holds at that row using only
that row and earlier ones; ``decide`` acts on each machine's latest row (the live job),
and ``replay`` steps through every row (the evaluation). A replay therefore takes the
decisions the live job would have taken, had it run at every scored window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from alerts.model_evidence import (
    CRITICAL_MODES,
    MACHINE,
    SENSOR,
    SUDDEN,
    Cause,
    Flags,
    HealthRows,
    ModelAlertPolicy,
    Repair,
    assess,
    hour_before,
    machine_mode,
    measurand,
    stretch_start,
    vote,
)

__all__ = [
    "CRITICAL_MODES",
    "MACHINE",
    "MODEL_RULE",
    "SENSOR",
    "SUDDEN",
    "Cause",
    "HealthRows",
    "ModelAlert",
    "ModelAlertPolicy",
    "Repair",
    "Transition",
    "alert_at",
    "assess",
    "decide",
    "replay",
]

MODEL_RULE = "model"
RENEW = "renew"  # what _opening returns for a new episode of a critical mode

# What each machine failure mode means for the technician: the component, and the
# prefixes of the part numbers a repair likely needs (the parts catalogue's families).
MODE_PARTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "bearing_wear": ("bearing", ("P-BRG",)),
    "hydraulic_pump_wear": ("main pump (internal leakage)", ("P-HYDPUMP", "P-AIREND")),
    "cooling_fouling": ("radiator / cooler", ("P-RAD", "P-COOLER")),
    "seal_hose_leak": ("hose / seals", ("P-HOSE", "P-SEAL")),
}
# The measurand each machine mode is read from first (docs/simulator.md's signatures).
MODE_MEASURAND = {
    "bearing_wear": "vibration",
    "hydraulic_pump_wear": "pressure",
    "cooling_fouling": "temperature",
    "seal_hose_leak": "pressure",
}
# The sensor part of each measurand (others: the speed sensor's).
_SENSOR_PARTS = {"temperature": "P-SENS-TEMP", "pressure": "P-SENS-PRES", "vibration": "P-SENS-VIB"}


@dataclass(frozen=True)
class ModelAlert:
    """An alert the rule opens, with what a technician needs to know."""

    equipment_id: int
    kind: str  # "machine" or "sensor"
    channel: str | None
    grade: str
    mode: str | None
    component: str
    part_prefixes: tuple[str, ...]
    message: str
    at: datetime  # end of the window that made it persistent
    details: dict[str, Any] = field(default_factory=dict)
    sudden: bool = False  # a sudden deterioration on top of an open machine alert

    @property
    def cause(self) -> Cause:
        if self.kind == SENSOR:
            return Cause(self.equipment_id, SENSOR, self.channel)
        if self.sudden:
            return Cause(self.equipment_id, SUDDEN)
        key = self.mode if self.mode in CRITICAL_MODES else MACHINE
        return Cause(self.equipment_id, key or MACHINE)


@dataclass(frozen=True)
class Transition:
    action: str  # "open" or "close"
    cause: Cause
    at: datetime
    alert: ModelAlert | None = None  # for "open"
    repair: Repair | None = None  # for a "close" a repair made (else the machine cleared)
    superseded: bool = False  # for a "close": a new episode of its critical mode replaced it


def _label(code: str | None) -> str:
    return (code or "unknown").replace("_", " ")


def sensor_part(channel: str) -> str:
    return _SENSOR_PARTS.get(measurand(channel), "P-SENS-SPD")


def _hours(value: float) -> str:
    return f"{value:.0f} h" if value < 48 else f"{value / 24:.0f} days"


def alert_at(
    rows: HealthRows,
    flags: Flags,
    i: int,
    policy: ModelAlertPolicy,
    *,
    sudden: bool = False,
    sensor: bool | None = None,
) -> ModelAlert:
    """The alert row ``i`` opens (its machine_ready or sensor_ready flag holds, or
    ``sensor`` says which; with ``sudden``, the sudden deterioration it shows on top of
    an open machine alert)."""
    sensor = bool(flags.sensor_ready[i]) if sensor is None else sensor
    lo = int(flags.evidence_start[i])
    mode, mode_share, channel = vote(rows, lo, i, sensor)
    if not sensor:
        mode, mode_share = machine_mode(rows, flags, i)
    at = datetime.fromtimestamp(float(rows.time[i]), UTC)
    ratio = float(rows.ratio[i])
    rul, low, high = (
        float(rows.rul_hours[i]),
        float(rows.rul_low_hours[i]),
        float(rows.rul_high_hours[i]),
    )
    score = 100.0 / (1.0 + ratio**2)
    details: dict[str, Any] = {
        "kind": SENSOR if sensor else MACHINE,
        "mode": mode,
        "mode_share": round(mode_share, 3),
        "sensor_share": round(float(flags.sensor_share[i]), 3),
        "ratio": round(ratio, 3),
        "score": round(score, 1),
        "explanation": rows.explanation[i],
        "anomalous_since": datetime.fromtimestamp(
            float(rows.time[int(flags.run_start[i])]), UTC
        ).isoformat(),
        "windows": int(i - lo + 1),
        "rul_hours": None if np.isnan(rul) else round(rul, 1),
        "rul_low_hours": None if np.isnan(low) else round(low, 1),
        "rul_high_hours": None if np.isnan(high) else round(high, 1),
    }
    machine = int(rows.equipment_id[i])
    if sensor:
        sensor_channel = channel or "unknown"
        component = f"{_label(sensor_channel)} sensor"
        prefixes: tuple[str, ...] = (sensor_part(sensor_channel),)
        message = (
            f"sensor check: {component} looks {_label(mode).removeprefix('sensor ')} "
            f"(health {score:.0f}/100; the machine itself reads healthy); remote diagnosis first"
        )
        return ModelAlert(
            machine,
            SENSOR,
            sensor_channel,
            "minor",
            mode,
            component,
            prefixes,
            message,
            at,
            details,
        )
    component, prefixes = MODE_PARTS.get(mode or "", ("unknown component", ()))
    critical = (
        sudden or (mode in CRITICAL_MODES) or (not np.isnan(rul) and rul <= policy.critical_rul_h)
    )
    life = "" if np.isnan(rul) else f"; remaining life about {_hours(rul)}"
    if not np.isnan(rul) and not np.isnan(low) and not np.isnan(high) and rul < 720:
        life += f" ({_hours(low)} to {_hours(high)})"
    message = (
        f"model: {_label(mode)} likely, {component} (health {score:.0f}/100: "
        f"{rows.explanation[i] or 'several channels'}{life})"
    )
    if sudden:
        details["sudden"] = True
    if sudden and flags.sudden[i] < 0:  # another part failing badly, no step in it
        details["part"] = measurand(rows.channel[i])
        message = (
            f"model: {details['part']} failing badly on top of a machine alert open a day "
            f"or more, health {score:.0f}/100 ({rows.explanation[i] or 'several channels'}): "
            f"the machine may stop within hours; {_label(mode)} likely, {component}{life}"
        )
    elif sudden:
        message = (
            f"model: sudden deterioration on top of an open machine alert, health "
            f"{score:.0f}/100 within minutes ({rows.explanation[i] or 'several channels'}): "
            f"the machine may stop within hours; {_label(mode)} likely, {component}{life}"
        )
    return ModelAlert(
        machine,
        MACHINE,
        None,
        "critical" if critical else "major",
        mode,
        component,
        prefixes,
        message,
        at,
        details,
        sudden=sudden,
    )


def _opened_in_run(open_now: dict[Cause, float], machine: int, since: float) -> bool:
    """Whether a machine alert of ``machine`` opened during the current anomalous run."""
    return any(
        c.equipment_id == machine and c.key != SENSOR and at >= since for c, at in open_now.items()
    )


def _known_faulty(rows: HealthRows, flags: Flags, i: int, open_now: dict[Cause, float]) -> bool:
    """Whether the channel leading the evidence is a sensor with a sensor check open."""
    lo = int(flags.evidence_start[i])
    picked = np.arange(lo, i + 1)
    picked = picked[rows.ratio[picked] >= 1.0]
    if picked.size == 0:
        return False
    channels, counts = np.unique(rows.channel[picked].astype(str), return_counts=True)
    leading = str(channels[np.argmax(counts)])
    opened = open_now.get(Cause(int(rows.equipment_id[i]), SENSOR, leading))
    return opened is not None and opened < float(rows.time[int(flags.run_start[i])])


def _sudden_since(
    rows: HealthRows,
    flags: Flags,
    i: int,
    open_now: dict[Cause, float],
    policy: ModelAlertPolicy,
) -> bool:
    """Whether row ``i`` ends a sudden deterioration from a state in which every open
    machine alert of its machine had opened (at least one is open), with no sudden alert
    open yet. Another part failing badly without a step (``Flags.sudden_stale``) counts
    only beside machine alerts all open ``stale_alert_s`` before it."""
    machine = int(rows.equipment_id[i])
    if Cause(machine, SUDDEN) in open_now:
        return False
    step, age = int(flags.sudden[i]), 0.0
    if step < 0:
        step, age = int(flags.sudden_stale[i]), policy.stale_alert_s
    if step < 0:
        return False
    before = float(rows.time[step])
    opened = [at for c, at in open_now.items() if c.equipment_id == machine and c.key != SENSOR]
    # on the state before the step, and none since: an alert opened during it covers it
    return bool(opened) and max(opened) <= before - age


def _fixes(repair: Repair, cause: Cause) -> bool:
    if repair.channel is None:
        return cause.key != SENSOR
    return cause.key == SENSOR and cause.channel == repair.channel


def _repaired(
    open_now: dict[Cause, float], machine: int, t: float, repairs: Sequence[Repair]
) -> list[Transition]:
    """Close the causes of ``machine`` that a repair at or before ``t`` fixed after they
    opened (``repairs``: the machine's, in time order)."""
    out: list[Transition] = []
    for repair in repairs:
        if repair.at > t:
            break
        for cause in sorted(open_now, key=lambda c: (c.key, c.channel or "")):
            mine = cause.equipment_id == machine and open_now[cause] < repair.at
            if mine and _fixes(repair, cause):
                del open_now[cause]
                when = datetime.fromtimestamp(repair.at, UTC)
                out.append(Transition("close", cause, when, repair=repair))
    return out


def _by_machine(repairs: Sequence[Repair]) -> dict[int, list[Repair]]:
    out: dict[int, list[Repair]] = {}
    for repair in sorted(repairs, key=lambda r: (r.equipment_id, r.at)):
        out.setdefault(repair.equipment_id, []).append(repair)
    return out


def _past_known_sensor(
    rows: HealthRows, flags: Flags, i: int, open_now: dict[Cause, float], policy: ModelAlertPolicy
) -> bool:
    """Whether a run the evidence reads as a sensor fault reads as the machine over its
    last hour, while a sensor check of the machine has been open since before that hour
    on a sensor the machine mode is not read from: the sensor already found faulty
    explains the earlier windows, not the machine's own fault arriving beside it (a hose
    bursting on a machine whose vibration sensor died). A mode read from the faulty
    sensor's measurand (a leak from a pressure whose sensor drifts) is that sensor's."""
    if not (flags.sensor_ready[i] and flags.hour_ready[i]):
        return False
    if flags.hour_sensor_share[i] >= policy.sensor_share:
        return False
    machine = int(rows.equipment_id[i])
    since = float(rows.time[int(flags.hour_start[i])])
    faulty = [
        c.channel or ""
        for c, at in open_now.items()
        if c.equipment_id == machine and c.key == SENSOR and at < since
    ]
    if not faulty:
        return False
    mode, _, _ = vote(rows, int(flags.hour_start[i]), i, False)
    read_from = MODE_MEASURAND.get(mode or "")
    return read_from is not None and all(measurand(channel) != read_from for channel in faulty)


def _renews(
    rows: HealthRows,
    flags: Flags,
    i: int,
    open_now: dict[Cause, float],
    policy: ModelAlertPolicy,
    *,
    mode: str,
) -> bool:
    """Whether row ``i`` begins a new episode of the critical ``mode`` whose alert has
    been open for ``renew_critical_s`` on a machine that kept running: the windows of the
    last ``severe_persist_s`` are severe and vote ``mode``, and the hour of windows that
    ended an hour before them voted another machine mode. A hose that bursts stops the
    machine within hours, so a leak alert the machine outlived by days was a misreading
    (a worn pump's worst hours, voted a leak): it must not hide the hose that bursts a
    week later behind the same open cause."""
    opened = open_now.get(Cause(int(rows.equipment_id[i]), mode))
    if opened is None or not flags.severe_ready[i]:
        return False
    if float(rows.time[i]) - opened < policy.renew_critical_s:
        return False
    first = int(flags.machine_start[i])
    lo = stretch_start(flags.clock, i, policy)
    if lo < first:
        return False
    a, b = hour_before(flags.clock, first, lo, policy)
    if a >= b:
        return False
    before, _, _ = vote(rows, a, b - 1, False)
    return before is not None and before != mode


def _opening(
    rows: HealthRows, flags: Flags, i: int, open_now: dict[Cause, float], policy: ModelAlertPolicy
) -> str | None:
    """What row ``i`` opens: ``RENEW`` (a new episode of a critical mode whose alert the
    machine outlived), ``SUDDEN`` (a sudden deterioration on top of an open machine
    alert), the alert its flags call for (``MACHINE`` or ``SENSOR``), or nothing."""
    machine = int(rows.equipment_id[i])
    machine_ready = bool(flags.machine_ready[i]) or _past_known_sensor(
        rows, flags, i, open_now, policy
    )
    sensor_ready = bool(flags.sensor_ready[i]) and not machine_ready
    if not (machine_ready or sensor_ready):
        return None
    if machine_ready and not flags.hour_ready[i] and _known_faulty(rows, flags, i, open_now):
        return None  # the sensor already found faulty explains the anomaly
    mode = (machine_mode(rows, flags, i)[0] if machine_ready else None) or ""
    if mode in CRITICAL_MODES and _renews(rows, flags, i, open_now, policy, mode=mode):
        return RENEW
    sudden = machine_ready and _sudden_since(rows, flags, i, open_now, policy)
    covered = mode not in CRITICAL_MODES or Cause(machine, mode) in open_now
    if machine_ready and (sudden or Cause(machine) in open_now) and covered:
        # the machine's alert is open already; a sudden step opens its own
        return SUDDEN if sudden else None
    run_start = float(rows.time[int(flags.run_start[i])])
    since = max(run_start, float(rows.time[i]) - policy.sensor_cover_s)
    if sensor_ready and _opened_in_run(open_now, machine, since):
        return None  # the machine alert of this anomaly covers its sensors too
    return SENSOR if sensor_ready else MACHINE


def _step(
    rows: HealthRows,
    flags: Flags,
    i: int,
    open_now: dict[Cause, float],
    policy: ModelAlertPolicy,
    *,
    repairs: Sequence[Repair] = (),
) -> list[Transition]:
    """What happens at row ``i`` given the causes open before it (updated in place) and
    the machine's repairs."""
    machine = int(rows.equipment_id[i])
    t = float(rows.time[i])
    at = datetime.fromtimestamp(t, UTC)
    out = _repaired(open_now, machine, t, repairs)
    if flags.clear[i]:
        mine = [c for c in open_now if c.equipment_id == machine]
        for cause in sorted(mine, key=lambda c: (c.key, c.channel or "")):
            del open_now[cause]
            out.append(Transition("close", cause, at))
        return out
    opens = _opening(rows, flags, i, open_now, policy)
    if opens is None:
        return out
    alert = alert_at(rows, flags, i, policy, sudden=opens == SUDDEN, sensor=opens == SENSOR)
    if opens == RENEW:
        stale = datetime.fromtimestamp(open_now.pop(alert.cause), UTC)
        alert.details["supersedes"] = stale.isoformat()  # when the stale alert opened
        out.append(Transition("close", alert.cause, at, superseded=True))
    if alert.cause not in open_now:
        open_now[alert.cause] = t
        out.append(Transition("open", alert.cause, at, alert))
    return out


def decide(
    rows: HealthRows,
    open_causes: Mapping[Cause, datetime],
    policy: ModelAlertPolicy,
    repairs: Sequence[Repair] = (),
) -> list[Transition]:
    """What to do now: the transitions at each machine's latest row. ``open_causes``:
    the model alerts open now, with the time of the window that opened each;
    ``repairs``: the machines' recent repairs (resolved work orders)."""
    if len(rows) == 0:
        return []
    flags = assess(rows, policy, repairs)
    fixed = _by_machine(repairs)
    m = rows.equipment_id
    last = np.flatnonzero(np.r_[m[1:] != m[:-1], True])
    open_now = {c: at.timestamp() for c, at in open_causes.items()}
    out: list[Transition] = []
    for i in last.tolist():
        out += _step(rows, flags, i, open_now, policy, repairs=fixed.get(int(m[i]), ()))
    return out


def replay(
    rows: HealthRows,
    policy: ModelAlertPolicy,
    open_causes: Mapping[Cause, datetime] | None = None,
    repairs: Sequence[Repair] = (),
) -> list[Transition]:
    """Every transition over the rows, as the live job would have taken them, given the
    repairs made over the period."""
    flags = assess(rows, policy, repairs)
    fixed = _by_machine(repairs)
    active = np.flatnonzero(flags.clear | flags.machine_ready | flags.sensor_ready | flags.repaired)
    open_now = {c: at.timestamp() for c, at in (open_causes or {}).items()}
    machines_open: dict[int, int] = {}
    for cause in open_now:
        machines_open[cause.equipment_id] = machines_open.get(cause.equipment_id, 0) + 1
    out: list[Transition] = []
    for i in active.tolist():
        machine = int(rows.equipment_id[i])
        if flags.clear[i] and not machines_open.get(machine):
            continue  # nothing to close: the common case, kept cheap
        mine = fixed.get(machine, ())
        for transition in _step(rows, flags, i, open_now, policy, repairs=mine):
            change = 1 if transition.action == "open" else -1
            machines_open[machine] = machines_open.get(machine, 0) + change
            out.append(transition)
    return out
