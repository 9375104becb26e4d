"""The failure-mode classifier of a family model, trained on injected faults (pure).

Each injection goes into its own copy of one of the family's healthy windows (the
hosts: models/family.py ``injection_hosts``), sized by what the family's healthy data
says about each channel (models/injection.py); the classifier learns the signatures of
the injections the detector would have flagged, with further rounds for the modes it
seldom flags, 30 % held out to measure it and to choose the P(sensor) threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from models.features import LoadModel, arrange, window_features
from models.injection import (
    MODES,
    SENSOR_MODES,
    ChannelScale,
    Injected,
    RowLoad,
    applicable,
    inject,
)
from models.modes import FailureModeClassifier, signatures

if TYPE_CHECKING:
    from models.family import FamilyModel, TrainingConfig

Floats = NDArray[np.float64]


def channel_scales(aggregates: pd.DataFrame, model: LoadModel) -> dict[str, ChannelScale]:
    """Each channel's load span and noise, from healthy aggregates."""
    arranged = arrange(aggregates, model.channels)
    means = arranged.stats["mean"]
    ranges = arranged.stats["max"] - arranged.stats["min"]
    li = model.load_index
    load_span = 1.0
    if li is not None:
        low, high = np.nanpercentile(means[:, li], [5, 95])
        load_span = float(high - low) or 1.0
    out: dict[str, ChannelScale] = {}
    for j, channel in enumerate(model.channels):
        low, high = np.nanpercentile(means[:, j], [5, 95])
        span = float(high - low)
        coef = model.coef.get(channel)
        if coef is not None and coef.size > 1:
            # steady state: the load and its exponential means all move together
            span = max(span, float(abs(coef[1:].sum()) * load_span))
        noise = float(np.nanmedian(ranges[:, j]))
        lag = float(getattr(model, "lag", {}).get(channel, 0.0))
        full = float(np.nan_to_num(np.abs(np.nanpercentile(means[:, j], 95))))
        out[channel] = ChannelScale(
            span=max(span, 1e-6), noise=max(noise, 1e-9), lag=lag, level=full
        )
    return out


def row_load(aggregates: pd.DataFrame, model: LoadModel) -> RowLoad:
    """The operating point (0 idle .. 1 full) of every aggregate row's bucket, with the
    lowest and highest load within the bucket."""
    if model.load is None:
        return RowLoad(np.full(len(aggregates), 0.5))
    key = ["equipment_id", "window", "bucket"]
    load = aggregates.loc[aggregates["channel"] == model.load, [*key, "mean", "min", "max"]]
    low, high = np.nanpercentile(load["mean"], [5, 95])
    merged = aggregates[key].merge(load, on=key, how="left")

    def level(column: str) -> Floats:
        x = (merged[column].to_numpy(dtype=np.float64) - low) / max(high - low, 1e-9)
        return np.asarray(np.nan_to_num(np.clip(x, 0.0, 1.0), nan=0.5), dtype=np.float64)

    return RowLoad(level("mean"), level("min"), level("max"))


def sensor_probability(classifier: FailureModeClassifier, x: Floats) -> Floats:
    """P(sensor fault) of each signature: the sum of the sensor modes' probabilities."""
    is_sensor = np.isin(classifier.classes_, SENSOR_MODES)
    return np.asarray(classifier.predict_proba(x)[:, is_sensor].sum(axis=1), dtype=np.float64)


def sensor_threshold(
    p: Floats, sensor: NDArray[np.bool_], default: float = 0.5, sensor_weight: float = 1.0
) -> float:
    """The P(sensor) above which a window is read as a sensor fault, from held-out
    injections' P(sensor) ``p`` and whether each was a sensor fault: the candidate with
    the best weighted accuracy (sensor faults found, weighing ``sensor_weight``; machine
    faults kept, weighing 1). A sensor fault read as the machine sends a technician for
    nothing; a machine fault read as a sensor opens a sensor check (remote diagnosis
    first) and its machine alert once the evidence turns (``TrainingConfig``)."""
    if p.size == 0 or sensor.all() or not sensor.any():
        return default
    candidates = np.round(np.arange(0.3, 0.851, 0.05), 2)
    weighted = [
        (sensor_weight * np.mean(p[sensor] >= t) + np.mean(p[~sensor] < t)) / (1 + sensor_weight)
        for t in candidates
    ]
    best = max(weighted)
    # among equally good thresholds, the one nearest the even split
    return float(min(candidates[np.isclose(weighted, best)], key=lambda t: abs(t - default)))


@dataclass(frozen=True)
class _Hosts:
    """The windows injections go into, with where their rows lie in ``history`` and
    what the history says about each channel."""

    history: pd.DataFrame
    windows: list[tuple[int, int]]
    positions: dict[Any, Any]
    scales: dict[str, ChannelScale]


def _detected_injections(
    model: FamilyModel,
    hosts: _Hosts,
    modes: list[str],
    *,
    count: int,
    first: int,
    config: TrainingConfig,
    rng: np.random.Generator,
) -> tuple[Floats, NDArray[Any], NDArray[Any]]:
    """``count`` injections of ``modes`` (drawn evenly) into copies of host windows
    (renumbered ``-first``, ``-first - 1`` ...): the signatures of those the detector
    flags, their modes, and every injection's mode (flagged or not)."""
    channels = model.channels
    # each injection goes into its own copy of a healthy window, so a short history
    # still yields enough examples of every mode
    picks = rng.choice(len(hosts.windows), size=count, replace=count > len(hosts.windows))
    rows, windows = [], []
    faults: dict[tuple[int, int], Injected] = {}
    for n, i in enumerate(picks.tolist()):
        machine, window = hosts.windows[i]
        mode = modes[int(rng.integers(len(modes)))]
        sensor = channels[int(rng.integers(len(channels)))] if mode in SENSOR_MODES else None
        copy = -(first + n)
        faults[(machine, copy)] = Injected(mode, float(rng.uniform(*config.injection_d)), sensor)
        found = np.asarray(hosts.positions[(machine, window)], dtype=np.int64)
        rows.append(found)
        windows.append(np.full(found.size, copy))
    subset = hosts.history.iloc[np.concatenate(rows)].reset_index(drop=True)
    subset["window"] = np.concatenate(windows)
    faulty = inject(subset, faults, hosts.scales, row_load(subset, model.load_model), rng)
    injected = window_features(faulty, model.load_model)
    injected = injected[model.usable(injected)]
    z = model.z_scores(injected)
    flagged = model.detector.statistic(z.to_numpy()) > model.alarm_threshold
    labels = np.array([faults[(int(k[0]), int(k[1]))].mode for k in z.index])
    return signatures(z[flagged], injected, channels), labels[flagged], labels


def train_classifier(
    model: FamilyModel,
    history: pd.DataFrame,
    features: pd.DataFrame,
    config: TrainingConfig,
    say: Any,
) -> tuple[FailureModeClassifier | None, dict[str, Any]]:
    """The family's failure-mode classifier, from faults injected into the windows of
    ``features`` (the host windows: healthy ones, so that a flagged injection is flagged
    for the fault injected and not for what its window already held).

    A round injects ``config.injections`` faults, the modes drawn evenly; while some
    mode has fewer flagged injections than ``config.min_detected`` of what a round draws
    of it (a fault the detector sees only when it is far gone, a fouled cooler say),
    further rounds inject those modes alone, at most ``config.extra_rounds`` of them:
    otherwise the classifier would learn that mode from a few examples and read its
    faint windows as another mode's."""
    rng = np.random.default_rng(config.seed)
    modes = [m for m in MODES if applicable(m, model.channels)]
    hosts = _Hosts(
        history,
        [(int(k[0]), int(k[1])) for k in features.index],
        history.groupby(["equipment_id", "window"], sort=False).indices,
        channel_scales(history, model.load_model),
    )
    enough = int(np.ceil(config.min_detected * config.injections / len(modes)))
    signatures_, labels_, tried = [], [], []
    wanted, first = modes, 1
    for _ in range(1 + config.extra_rounds):
        x_round, y_round, all_round = _detected_injections(
            model,
            hosts,
            wanted,
            count=config.injections,
            first=first,
            config=config,
            rng=rng,
        )
        first += config.injections
        signatures_.append(x_round)
        labels_.append(y_round)
        tried.append(all_round)
        found = np.concatenate(labels_)
        wanted = [m for m in modes if int(np.sum(found == m)) < enough]
        if not wanted:
            break
    x, y, every = np.concatenate(signatures_), np.concatenate(labels_), np.concatenate(tried)
    detected = {m: float(np.sum(y == m) / np.sum(every == m)) for m in modes if (every == m).any()}
    counts = {m: int(np.sum(y == m)) for m in modes}
    if len(np.unique(y)) < 2:
        say(f"{model.family}: too few detected injections to learn failure modes")
        return None, {"detected_share": detected, "detected": counts}
    half = rng.random(len(y)) < 0.7
    check = FailureModeClassifier(random_state=config.seed).fit(x[half], y[half])
    accuracy = (
        float(np.mean(check.predict(x[~half]) == y[~half])) if (~half).any() else float("nan")
    )
    model.sensor_threshold = sensor_threshold(
        sensor_probability(check, x[~half]),
        np.isin(y[~half], SENSOR_MODES),
        sensor_weight=config.sensor_weight,
    )
    classifier = FailureModeClassifier(random_state=config.seed).fit(x, y)
    short = wanted  # the modes still short of examples after the last round
    say(
        f"{model.family}: failure modes from {len(y)} detected injections "
        f"({len(every)} injected), held-out accuracy {accuracy:.0%}, "
        f"sensor if P(sensor) >= {model.sensor_threshold:.2f}"
        + (f"; few examples of {', '.join(short)}" if short else "")
    )
    return classifier, {
        "detected_share": detected,
        "detected": counts,
        "injected": len(every),
        "held_out_accuracy": accuracy,
        "sensor_threshold": model.sensor_threshold,
        "trained_on": len(y),
    }
