"""Health alerts measured against the simulator's fault truth (pure).

The rules (docs/simulator.md, "Evaluating a detector against it"; docs/models.md):

* A **machine fault is due** when its ``failure_at`` falls in the test period. It is
  **caught** when a machine alert opens on its machine in ``[onset_at, failure_at)``;
  its **lead time** is ``failure_at`` minus the first such alert, in hours. It is
  **named** when one of those alerts names its failure mode (the parts a technician
  brings): a fault caught only by an alert of another mode counts as caught, not named.
  Recall is caught / due, also over the *observable* due faults: those whose machine sent
  data scored between the onset (or the test start) and the failure. A fault that begins and
  ends while its machine is switched off sends nothing a detector could see.
* A **machine alert is true** when it opens on a machine inside one of its machine
  faults' ``[onset_at, repaired_at)``; otherwise it is a **false alarm**, also when it
  opens during a sensor fault only (a sensor fault mistaken for the machine's).
  Precision is true / all machine alerts; false alarms are counted per 100
  machine-months of the test period.
* Recall and the false-alarm rate come with 95 % intervals: Wilson's for recall (a
  binomial share of the due faults), Garwood's exact Poisson interval for false alarms
  per 100 machine-months. With 80 due faults one fresh seed cannot tell 90 % from 95 %
  recall, and two false alarms in 184 machine-months cannot tell 1.09 from 1 per 100.
* A **sensor fault** overlapping the test period is **classified as a sensor fault**
  when a sensor check opens on its machine during ``[onset_at, repaired_at)``,
  **mistaken** when a machine alert does so outside every machine fault, and **missed**
  otherwise. Sensor checks outside every fault are false sensor checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

MONTH_S = 30 * 86_400.0


@dataclass(frozen=True)
class Fault:
    equipment_id: int
    mode: str
    sensor: bool
    onset: datetime
    failure: datetime
    repaired: datetime | None  # None: not repaired within the simulation
    channels: tuple[str, ...] = ()
    fault_id: str = ""

    def active(self, at: datetime) -> bool:
        """Degrading, failed or being repaired at ``at``."""
        return self.onset <= at and (self.repaired is None or at < self.repaired)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.onset < end and (self.repaired is None or self.repaired > start)


@dataclass(frozen=True)
class AlertRecord:
    equipment_id: int
    at: datetime
    kind: str  # "machine" or "sensor"
    mode: str | None = None
    channel: str | None = None


@dataclass(frozen=True)
class Detection:
    fault: Fault
    observable: bool
    first_alert: datetime | None
    named: bool = False  # a machine alert in [onset, failure) named the fault's own mode

    @property
    def caught(self) -> bool:
        return self.first_alert is not None

    @property
    def lead_h(self) -> float | None:
        if self.first_alert is None:
            return None
        return (self.fault.failure - self.first_alert).total_seconds() / 3600.0


def machine_months(machines: int, start: datetime, end: datetime) -> float:
    return machines * (end - start).total_seconds() / MONTH_S


def recall_interval(caught: int, due: int, confidence: float = 0.95) -> list[float] | None:
    """Wilson score interval of the share caught / due (None without due faults)."""
    if due <= 0:
        return None
    ci = stats.binomtest(caught, due).proportion_ci(confidence_level=confidence, method="wilson")
    return [round(float(ci.low), 4), round(float(ci.high), 4)]


def rate_interval(
    count: int, months: float, confidence: float = 0.95, per: float = 100.0
) -> list[float] | None:
    """Garwood's exact Poisson interval of ``count`` events in ``months``, per ``per``
    machine-months (None without exposure)."""
    if months <= 0:
        return None
    alpha = 1.0 - confidence
    low = 0.0 if count == 0 else float(stats.chi2.ppf(alpha / 2, 2 * count)) / 2
    high = float(stats.chi2.ppf(1 - alpha / 2, 2 * count + 2)) / 2
    return [round(per * low / months, 2), round(per * high / months, 2)]


def lead_summary(leads: Sequence[float]) -> dict[str, float | None]:
    if not leads:
        return {"lead_time_median_h": None, "lead_time_p10_h": None}
    values = np.asarray(leads, dtype=np.float64)
    return {
        "lead_time_median_h": round(float(np.median(values)), 1),
        "lead_time_p10_h": round(float(np.percentile(values, 10)), 1),
    }


def detections(
    faults: Iterable[Fault],
    alerts: Sequence[AlertRecord],
    start: datetime,
    end: datetime,
    observable: set[str] | None = None,
) -> list[Detection]:
    """Each machine fault due in [start, end) with its first machine alert, if any.

    ``observable``: the fault ids whose machine sent scored data during the fault (all,
    when None).
    """
    out = []
    for f in faults:
        if f.sensor or not start <= f.failure < end:
            continue
        during = [
            a
            for a in alerts
            if a.kind == "machine"
            and a.equipment_id == f.equipment_id
            and f.onset <= a.at < f.failure
        ]
        seen = observable is None or f.fault_id in observable
        first = min(a.at for a in during) if during else None
        out.append(Detection(f, seen, first, any(a.mode == f.mode for a in during)))
    return out


def _rates(found: list[Detection]) -> dict[str, float | int | None]:
    caught = [d for d in found if d.caught]
    seen = [d for d in found if d.observable]
    named = sum(d.named for d in found)
    return {
        "due": len(found),
        "caught": len(caught),
        "recall": round(len(caught) / len(found), 4) if found else None,
        "named": named,
        "recall_named": round(named / len(found), 4) if found else None,
        "observable": len(seen),
        "recall_observable": (round(sum(d.caught for d in seen) / len(seen), 4) if seen else None),
        **lead_summary([d.lead_h for d in caught if d.lead_h is not None]),
    }


ONSETS = ("before_history", "in_training", "in_test")


def onset_period(fault: Fault, history_start: datetime, split: datetime) -> str:
    """When a fault began: before the history the models could see, during the training
    period (its first stages may be learned as normal), or during the test."""
    if fault.onset < history_start:
        return "before_history"
    return "in_training" if fault.onset < split else "in_test"


def evaluate(
    faults: Sequence[Fault],
    alerts: Sequence[AlertRecord],
    start: datetime,
    end: datetime,
    *,
    months: float,
    observable: set[str] | None = None,
    history_start: datetime | None = None,
) -> dict[str, object]:
    """Recall, precision, false alarms per 100 machine-months, lead times, sensor faults;
    recall by when the faults began (``history_start``: the training data's first day,
    default ``start``) and each due fault's outcome."""
    found = detections(faults, alerts, start, end, observable)
    per_mode = {
        mode: _rates([d for d in found if d.fault.mode == mode])
        for mode in sorted({d.fault.mode for d in found})
    }
    began = history_start or start
    period = {d.fault.fault_id: onset_period(d.fault, began, start) for d in found}
    present = set(period.values())
    by_onset = {
        p: _rates([d for d in found if period[d.fault.fault_id] == p])
        for p in ONSETS
        if p in present
    }
    outcomes = [
        {
            "fault_id": d.fault.fault_id,
            "equipment_id": d.fault.equipment_id,
            "mode": d.fault.mode,
            "onset": d.fault.onset.isoformat(),
            "failure": d.fault.failure.isoformat(),
            "onset_period": period[d.fault.fault_id],
            "observable": d.observable,
            "first_alert": None if d.first_alert is None else d.first_alert.isoformat(),
            "lead_h": None if d.lead_h is None else round(d.lead_h, 1),
            "named": d.named,
        }
        for d in sorted(found, key=lambda d: (d.fault.failure, d.fault.fault_id))
    ]
    machine = [a for a in alerts if a.kind == "machine"]
    sensor = [a for a in alerts if a.kind == "sensor"]

    def inside(a: AlertRecord, want_sensor: bool) -> bool:
        return any(
            f.equipment_id == a.equipment_id and f.sensor == want_sensor and f.active(a.at)
            for f in faults
        )

    true_alerts = [a for a in machine if inside(a, False)]
    false_alerts = [a for a in machine if not inside(a, False)]
    mistaken = [a for a in false_alerts if inside(a, True)]
    sensor_faults = [f for f in faults if f.sensor and f.overlaps(start, end)]
    classified = mistaken_faults = 0
    channel_right = 0
    for f in sensor_faults:
        during = [a for a in alerts if a.equipment_id == f.equipment_id and f.active(a.at)]
        checks = [a for a in during if a.kind == "sensor"]
        if checks:
            classified += 1
            channel_right += any(a.channel in f.channels for a in checks)
        elif any(a.kind == "machine" and not inside(a, False) for a in during):
            mistaken_faults += 1
    overall = _rates(found)
    return {
        "machine_faults_due": overall["due"],
        "caught": overall["caught"],
        "recall": overall["recall"],
        "recall_ci95": recall_interval(int(overall["caught"] or 0), int(overall["due"] or 0)),
        "caught_named": overall["named"],
        "recall_named": overall["recall_named"],
        "observable": overall["observable"],
        "recall_observable": overall["recall_observable"],
        "machine_alerts": len(machine),
        "true_alerts": len(true_alerts),
        "false_alarms": len(false_alerts),
        "precision": round(len(true_alerts) / len(machine), 4) if machine else None,
        "machine_months": round(months, 1),
        "false_alarms_per_100_machine_months": (
            round(100.0 * len(false_alerts) / months, 2) if months > 0 else None
        ),
        "false_alarms_per_100_machine_months_ci95": rate_interval(len(false_alerts), months),
        "lead_time_median_h": overall["lead_time_median_h"],
        "lead_time_p10_h": overall["lead_time_p10_h"],
        "per_mode": per_mode,
        "by_onset": by_onset,
        "sensor_faults": {
            "in_period": len(sensor_faults),
            "classified_as_sensor": classified,
            "right_channel": channel_right,
            "mistaken_for_machine": mistaken_faults,
            "missed": len(sensor_faults) - classified - mistaken_faults,
            "machine_alarms_during_sensor_faults": len(mistaken),
        },
        "sensor_checks": len(sensor),
        "false_sensor_checks": sum(not inside(a, True) and not inside(a, False) for a in sensor),
        "faults": outcomes,
    }


def _hours(value: object) -> str:
    return "-" if value is None else f"{float(str(value)):.1f}"


def render(report: dict[str, Any]) -> str:
    """A ``prognos eval sim`` report as text tables."""
    lines = [
        f"Simulator: {report['machines']} machines (seed {report['fleet_seed']}), trained "
        f"{report['training']['from'][:10]} .. {report['training']['until'][:10]}, tested "
        f"{report['test']['from'][:10]} .. {report['test']['until'][:10]} "
        f"({report['machine_months']} machine-months; {report['seconds']['total_s']} s)",
    ]
    if report.get("rule_only"):
        scored = str(report["health_scored_at"])[:16].replace("T", " ")
        lines.append(f"The rule alone, on the health scored {scored} UTC.")
    if report.get("policy_changes"):
        changed = ", ".join(f"{k}={v:g}" for k, v in report["policy_changes"].items())
        lines.append(f"Rule settings not the shipped ones: {changed}.")
    lines += [
        "",
        f"{'machine faults':<22} {'due':>4} {'caught':>6} {'recall':>7} {'named':>6} "
        f"{'observable':>10} {'recall obs.':>11} {'lead median h':>13} {'lead p10 h':>10}",
    ]
    modes = dict(report["per_mode"])
    modes["all"] = {
        "due": report["machine_faults_due"],
        "caught": report["caught"],
        "recall": report["recall"],
        "named": report["caught_named"],
        "observable": report["observable"],
        "recall_observable": report["recall_observable"],
        "lead_time_median_h": report["lead_time_median_h"],
        "lead_time_p10_h": report["lead_time_p10_h"],
    }
    for mode, m in modes.items():
        recall = "-" if m["recall"] is None else f"{m['recall']:.1%}"
        seen = "-" if m["recall_observable"] is None else f"{m['recall_observable']:.1%}"
        lines.append(
            f"{mode:<22} {m['due']:>4} {m['caught']:>6} {recall:>7} {m['named']:>6} "
            f"{m['observable']:>10} {seen:>11} {_hours(m['lead_time_median_h']):>13} "
            f"{_hours(m['lead_time_p10_h']):>10}"
        )
    if report.get("by_onset"):
        lines += ["", f"{'by onset':<22} {'due':>4} {'caught':>6} {'recall':>7}"]
        for period, m in report["by_onset"].items():
            recall = "-" if m["recall"] is None else f"{m['recall']:.1%}"
            lines.append(f"{period:<22} {m['due']:>4} {m['caught']:>6} {recall:>7}")
    precision = report["precision"]
    s = report["sensor_faults"]
    recall_ci = report.get("recall_ci95")
    fa_ci = report.get("false_alarms_per_100_machine_months_ci95")
    lines += [
        "",
        f"machine alerts: {report['machine_alerts']} ({report['true_alerts']} true, "
        f"{report['false_alarms']} false): precision "
        f"{'-' if precision is None else f'{precision:.1%}'}, "
        f"{report['false_alarms_per_100_machine_months']} false alarms per 100 machine-months",
        "95 % intervals: recall "
        + ("-" if not recall_ci else f"{recall_ci[0]:.1%} .. {recall_ci[1]:.1%}")
        + ", false alarms per 100 machine-months "
        + ("-" if not fa_ci else f"{fa_ci[0]:g} .. {fa_ci[1]:g}"),
        f"sensor faults in the period: {s['in_period']}: {s['classified_as_sensor']} classified "
        f"as sensor faults ({s['right_channel']} on the right channel), "
        f"{s['mistaken_for_machine']} mistaken for machine faults, {s['missed']} missed; "
        f"sensor checks opened: {report['sensor_checks']} "
        f"({report['false_sensor_checks']} outside every fault)",
    ]
    return "\n".join(lines)
