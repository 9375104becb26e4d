"""One equipment family's health model: trained from stored history, scoring windows.

``train_family`` (pure: aggregates in, model out):
1. the load model: each channel's healthy reading at every operating point;
2. window features of every machine and history window (models/features.py);
3. ``MachineBaseline``: each machine's own healthy feature levels (a machine that
   always runs a little hot is not sick), smoothed towards the family's;
4. ``PCADetector`` over the baseline z-scores of all channels; the alarm threshold is
   a high quantile of the healthy windows' statistic;
5. ``FailureModeClassifier`` trained on the family's healthy windows with every
   failure mode injected (models/injection.py), keeping only the injections the
   detector would have flagged.

``FamilyModel.score`` turns the latest window of many machines into health: a
statistic, a score 0-100, each channel's share, the likely mode, all vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from models.baseline import MachineBaseline
from models.errors import NotEnoughDataError, SamplingMismatchError
from models.features import FEATURES, LoadModel, arrange, feature_names, window_features
from models.injection import SENSOR_MODES
from models.mode_training import train_classifier
from models.modes import FailureModeClassifier, signatures
from models.multivariate import PCADetector
from models.roles import label

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class TrainingConfig:
    min_coverage: float = 0.5  # a window needs this share of its buckets to count
    prior_rows: float = 24.0  # machine baseline: weight of the family's, in windows
    n_components: float = 0.9
    limit_quantile: float = 0.995
    alarm_quantile: float = 0.999
    alarm_tail: float | None = 0.9  # the alarm quantile from the tail above this (tail_quantile)
    z_clip: float = 50.0
    injections: int = 2500  # windows with a fault injected, to train the classifier
    injection_d: tuple[float, float] = (0.05, 1.0)  # degradations injected (kept if flagged)
    # a mode with fewer flagged injections than this share of what a round draws of it
    # is injected again, alone, in up to extra_rounds more rounds (models/mode_training.py)
    min_detected: float = 0.5
    extra_rounds: int = 3
    # choosing the P(sensor) threshold: a sensor fault read as the machine (a technician
    # sent for nothing) costs this many times a machine fault first read as a sensor (a
    # remote check; the machine alert follows when the evidence turns)
    sensor_weight: float = 2.0
    max_offset: float | None = 3.0  # machine baseline: bound of its own center (MachineBaseline)
    outlier_machine_z: float | None = 3.5  # held-out maxima: see unusual_machines
    seed: int = 0


@dataclass
class FamilyModel:
    family: str
    channels: list[str]
    load_model: LoadModel
    baseline: MachineBaseline
    detector: PCADetector
    alarm_threshold: float
    buckets_per_window: float
    classifier: FailureModeClassifier | None = None
    config: TrainingConfig = field(default_factory=TrainingConfig)
    sensor_threshold: float = 0.5  # P(sensor) from which a window reads as a sensor fault
    # feature columns the training history could not show (a channel's noise, sampled
    # once a bucket or slower): their z-scores stay 0
    unlearned: tuple[str, ...] = ()
    readings_per_bucket: float | None = None  # the training history's sampling (median)

    @property
    def feature_columns(self) -> list[str]:
        return feature_names(self.channels)

    def z_scores(self, features: pd.DataFrame) -> pd.DataFrame:
        """Each feature against its machine's healthy level; 0 where a window could not
        show it (NaN) or the training history could not (``unlearned``)."""
        machines = features.index.get_level_values("equipment_id").to_numpy()
        values = features[self.feature_columns].to_numpy(dtype=np.float64)
        unseen = ~np.isfinite(values)
        unseen[:, np.isin(self.feature_columns, self.unlearned)] = True
        z = self.baseline.z_scores(np.where(unseen, 0.0, values), groups=machines)
        clipped = np.clip(np.where(unseen, 0.0, z), -self.config.z_clip, self.config.z_clip)
        return pd.DataFrame(clipped, index=features.index, columns=self.feature_columns)

    def sampled_as_trained(self, features: pd.DataFrame) -> pd.Series:
        """Windows whose readings a bucket are within ``SAMPLING_TOLERANCE`` of the training
        history's (every window of a model that does not know its history's)."""
        trained = self.readings_per_bucket
        if not trained:
            return pd.Series(True, index=features.index)
        ratio = features["readings"] / trained
        return (ratio >= 1 / SAMPLING_TOLERANCE) & (ratio <= SAMPLING_TOLERANCE)

    def usable(self, features: pd.DataFrame) -> pd.Series:
        return features["buckets"] >= self.config.min_coverage * self.buckets_per_window

    def score(self, aggregates: pd.DataFrame) -> pd.DataFrame:
        """Health of every (machine, window) in ``aggregates`` with enough data, sampled
        as the model's history was (``score_sampled``)."""
        return self.score_sampled(aggregates)[0]

    def score_sampled(self, aggregates: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, float]]:
        """Health of every (machine, window) in ``aggregates`` with enough data, and the
        machines left out because their telemetry is sampled far from the model's history
        (their median readings a bucket): their bucket means are that much noisier or
        smoother, which the model would read as faults. ``SamplingMismatchError`` when
        that is every machine (the family's telemetry, not a machine's gateway)."""
        features = window_features(aggregates, self.load_model)
        features = features[self.usable(features)]
        if features.empty:
            return _empty_scores(self.channels), {}
        fits = self.sampled_as_trained(features)
        if not fits.any():
            raise SamplingMismatchError(
                f"{self.family}: the telemetry has {features['readings'].median():.3g} readings "
                f"a bucket, the model learned from {self.readings_per_bucket:.3g}: "
                "its bucket means are that much noisier or smoother, which the model would "
                "read as faults; retrain on history sampled as the telemetry is"
            )
        odd = features.loc[~fits, "readings"].groupby(level="equipment_id").median()
        missampled = dict(
            zip(odd.index.astype(int).tolist(), odd.astype(float).tolist(), strict=True)
        )
        return self._score_features(features[fits]), missampled

    def _score_features(self, features: pd.DataFrame) -> pd.DataFrame:
        z = self.z_scores(features)
        statistic = self.detector.statistic(z.to_numpy())
        share = self.detector.contributions(z.to_numpy())
        per_channel = share.reshape(len(z), len(self.channels), len(FEATURES)).sum(axis=2)
        out = pd.DataFrame(per_channel, index=z.index, columns=self.channels)
        out.insert(0, "statistic", statistic)
        out.insert(1, "score", health_score(statistic, self.alarm_threshold))
        out.insert(2, "anomalous", statistic > self.alarm_threshold)
        modes = np.full(len(z), None, dtype=object)
        probability = np.full(len(z), np.nan)
        sensor = np.full(len(z), np.nan)
        flagged = out["anomalous"].to_numpy()
        if self.classifier is not None and flagged.any():
            proba = self.classifier.predict_proba(signatures(z[flagged], features, self.channels))
            # machine or sensor first (the sum of each kind's modes), then the likeliest
            # mode of that kind: three sensor modes at 0.2 each outweigh one leak at 0.4
            is_sensor = np.isin(self.classifier.classes_, SENSOR_MODES)
            sensor_share = proba[:, is_sensor].sum(axis=1)
            threshold = getattr(self, "sensor_threshold", 0.5)
            kind = (sensor_share >= threshold)[:, None] == is_sensor[None, :]
            best = np.where(kind, proba, -1.0).argmax(axis=1)
            modes[flagged] = self.classifier.classes_[best]
            probability[flagged] = proba[np.arange(best.size), best]
            sensor[flagged] = sensor_share
        out.insert(3, "mode", modes)
        out.insert(4, "mode_probability", probability)
        out.insert(5, "sensor_fault", [m in SENSOR_MODES for m in modes])
        out.insert(6, "sensor_probability", sensor)
        return out

    def explain(self, scores: pd.DataFrame, top: int = 3, floor: float = 0.1) -> list[str]:
        """ "pump vibration 61 %, hydraulic oil temp 24 %" per row: the largest shares."""
        shares = scores[self.channels].to_numpy()
        order = np.argsort(-shares, axis=1)[:, :top]
        texts = []
        for i, idx in enumerate(order):
            parts = [
                f"{label(self.channels[j])} {round(100 * shares[i, j])} %"
                for j in idx
                if shares[i, j] >= floor
            ]
            texts.append(", ".join(parts))
        return texts


# Smallest scale of each feature type: below it a change is not meaningful (a window
# that lost 1 bucket in 60; a correlation that moved by 0.02).
FLOORS = {"level": 0.0, "trend": 0.0, "noise": 0.02, "load_corr": 0.05, "coverage": 0.02}


def scale_floors(features: pd.DataFrame) -> Floats:
    """Per-feature scale floors: the type's absolute floor, and 1 % of the feature's
    spread over the whole family (so a level is never judged against zero noise)."""
    floors = []
    for column in features.columns:
        kind = column.rsplit(":", 1)[1]
        spread = float(features[column].quantile(0.95) - features[column].quantile(0.05))
        floors.append(max(FLOORS[kind], 0.01 * spread, 1e-9))
    return np.asarray(floors, dtype=np.float64)


def health_score(statistic: Floats, alarm: float) -> Floats:
    """100 when the detector sees nothing, 50 at the alarm threshold, towards 0 beyond."""
    ratio = np.asarray(statistic, dtype=np.float64) / alarm
    return np.asarray(100.0 / (1.0 + ratio**2), dtype=np.float64)


def _empty_scores(channels: list[str]) -> pd.DataFrame:
    columns = [
        "statistic",
        "score",
        "anomalous",
        "mode",
        "mode_probability",
        "sensor_fault",
        "sensor_probability",
    ]
    return pd.DataFrame(columns=[*columns, *channels])


def fit_load_model(history: pd.DataFrame, channels: list[str]) -> LoadModel:
    """The family's load model from (a sample of) its healthy history."""
    model = LoadModel.for_channels(channels)
    return model.fit(arrange(history, model.channels))


def train_family(
    family: str,
    history: pd.DataFrame,
    channels: list[str],
    config: TrainingConfig | None = None,
    progress: Any = None,
) -> tuple[FamilyModel, dict[str, Any]]:
    """Fit a family's model on its stored (mostly healthy) history, all in memory."""
    load_model = fit_load_model(history, channels)
    features = window_features(history, load_model)
    return train_from_features(
        family, load_model, features, history, config=config, progress=progress
    )


def train_from_features(
    family: str,
    load_model: LoadModel,
    features: pd.DataFrame,
    sample: pd.DataFrame,
    *,
    config: TrainingConfig | None = None,
    progress: Any = None,
) -> tuple[FamilyModel, dict[str, Any]]:
    """Fit baselines, detector and classifier on window features of the whole family;
    ``sample`` (aggregates of some machines) is where failure modes are injected."""
    config = config or TrainingConfig()
    say = progress or (lambda _msg: None)
    say(f"{family}: load model on {load_model.load or 'no load channel'}")
    buckets_per_window = float(features["buckets"].quantile(0.9))
    features = features[features["buckets"] >= config.min_coverage * buckets_per_window]
    readings = float(features["readings"].median())
    if readings < 2:
        say(
            f"{family}: {readings:.3g} reading a bucket in the history: the model cannot learn "
            "a sensor's noise, and scores only telemetry sampled as sparsely"
        )
    features, unlearned = fill_unobserved(features, feature_names(load_model.channels))
    if unlearned:
        say(
            f"{family}: {len(unlearned)} features not learned, the history shows no spread "
            f"within its buckets (sampled once a bucket or slower): {', '.join(unlearned)}"
        )
    machines = features.index.get_level_values("equipment_id").to_numpy()
    if len(features) < 20 or len(np.unique(machines)) < 2:
        raise NotEnoughDataError(
            f"{family}: {len(features)} usable windows of {len(np.unique(machines))} machines; "
            "need at least 20 windows of 2 machines"
        )
    model = _fit_detection(
        family, load_model, features, buckets_per_window, config, unlearned=unlearned
    )
    model.readings_per_bucket = readings
    suspects = set(model.baseline.suspects_.tolist())
    # The alarm threshold comes from windows the baselines and detector did not see: fit
    # on each machine's earlier 75 % of windows, score the later 25 % (in-sample
    # statistics are optimistic, the more so the shorter the history), then refit on all.
    # Machines whose own level lay outside the family's (degrading already) do not set it.
    windows = features.index.get_level_values("window").to_numpy()
    later = windows >= np.quantile(np.unique(windows), 0.75)
    if later.any() and (~later).sum() >= 20:
        held = _fit_detection(
            family, load_model, features[~later], buckets_per_window, config, unlearned=unlearned
        )
        suspects |= set(held.baseline.suspects_.tolist())
        scored = later & ~np.isin(machines, list(suspects))
        scored = scored if scored.any() else later
        statistic = held.detector.statistic(held.z_scores(features[scored]).to_numpy())
        if config.outlier_machine_z is not None:
            unusual = unusual_machines(statistic, machines[scored], config.outlier_machine_z)
            suspects |= unusual
            statistic = statistic[~np.isin(machines[scored], list(unusual))]
    else:
        statistic = model.detector.statistic(model.z_scores(features).to_numpy())
    model.alarm_threshold = max(
        tail_quantile(statistic, config.alarm_quantile, tail=config.alarm_tail), 1.0
    )
    say(
        f"{family}: {len(features)} healthy windows of {len(np.unique(machines))} machines, "
        f"{model.detector.n_components_} components, alarm at {model.alarm_threshold:.2f}"
    )
    metrics: dict[str, Any] = {
        "windows": len(features),
        "machines": len(np.unique(machines)),
        "components": int(model.detector.n_components_),
        "alarm_threshold": model.alarm_threshold,
        "held_out_alarm_rate": float(np.mean(statistic > model.alarm_threshold)),
        "suspect_machines": sorted(int(m) for m in suspects),
        "unlearned_features": list(unlearned),
        "readings_per_bucket": readings,
    }
    sample_keys = sample.set_index(["equipment_id", "window"]).index.unique()
    hosts = injection_hosts(model, features[features.index.isin(sample_keys)], suspects)
    model.classifier, metrics["modes"] = train_classifier(model, sample, hosts, config, say)
    return model, metrics


def injection_hosts(
    model: FamilyModel, features: pd.DataFrame, suspects: set[int], least: int = 20
) -> pd.DataFrame:
    """The windows failure modes are injected into: those of machines not suspected of
    degrading already that the detector reads as healthy. A flagged injection must be
    flagged for the fault injected: a host already over the alarm (a pump wearing in
    the history) would teach the classifier that a fouled cooler looks like a worn pump.
    All of ``features`` when fewer than ``least`` such windows are left."""
    machines = features.index.get_level_values("equipment_id").to_numpy()
    statistic = model.detector.statistic(model.z_scores(features).to_numpy())
    healthy = ~np.isin(machines, list(suspects)) & (statistic <= model.alarm_threshold)
    return features[healthy] if int(healthy.sum()) >= least else features


def tail_quantile(
    statistic: NDArray[np.float64], q: float, *, tail: float | None = 0.9, min_excess: int = 20
) -> float:
    """The ``q`` quantile of ``statistic``, read off an exponential tail (peaks over a
    threshold) fitted to the values above its ``tail`` quantile, where enough values lie.

    The 99.9th percentile of a thousand held-out windows is their second-highest: one
    window (a healthy machine's rare transient, a sensor failing on the last training
    day) sets it alone, and on simulator seed 6824 two of the four families got
    an alarm threshold three to four times the others'. The tail above the 90th
    percentile is a hundred windows: its scale, from their *median* excess (an
    exponential's median is its scale x ln 2), moves little when a few of them are
    extreme. The statistic is a ratio of T-squared or Q (sums of squares) to its control
    limit, whose tails are close to exponential. ``tail=None``, or too few values above
    it, gives the empirical quantile."""
    values = np.asarray(statistic, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite statistic to take a quantile of")
    if tail is None or q <= tail:
        return float(np.quantile(values, q))
    u = float(np.quantile(values, tail))
    excess = values[values > u] - u
    if excess.size < min_excess:
        return float(np.quantile(values, q))
    scale = float(np.median(excess)) / np.log(2.0)
    return float(u + scale * np.log((1.0 - tail) / (1.0 - q)))


def unusual_machines(statistic: NDArray[np.float64], machines: NDArray[Any], z: float) -> set[int]:
    """Machines whose held-out windows reach far beyond the other machines' or sit far
    above them throughout: a fault under way in the training data (a leak a day before
    the split, a sensor drifting since before the history, a bearing wearing through the
    training weeks) that the machine baselines did not see because the machine's median
    was still normal when they were fitted. Each machine's maximum and median statistic,
    on a log scale, against the median and robust spread (1.4826 x MAD, at least 0.1) of
    all the machines' maxima, and medians; beyond ``z`` of them in either the machine does
    not set the alarm threshold. Repeated until no machine is beyond (a second faulty
    machine can hide behind the first's spread); at least half the machines always stay."""
    frame = pd.DataFrame({"m": machines, "s": np.log(np.maximum(statistic, 1e-9))})
    grouped = frame.groupby("m")["s"]
    stats = pd.DataFrame({"peak": grouped.max(), "typical": grouped.median()})
    out: set[int] = set()
    total = len(stats)
    while len(stats) >= 4:
        center = stats.median()
        spread = 1.4826 * (stats - center).abs().median()
        beyond = stats[(stats > center + z * np.maximum(spread, 0.1)).any(axis=1)]
        if beyond.empty or len(out) + len(beyond) > total // 2:
            break
        out |= {int(m) for m in beyond.index}
        stats = stats.drop(beyond.index)
    return out


# the telemetry's readings a bucket may be this many times the training history's, or
# this share of them: a bucket's mean of n readings carries the sensor's noise over
# sqrt(n), which moves the residuals' correlation with the load. A model of 30 synthetic
# pumps trained on 12 readings a bucket read 60 well, but the demo's models (a day of two
# machines per family) trained on 12 flagged every machine a few minutes into 60, and
# on 60 none; trained on 1, every one of 120 synthetic windows of 60 was flagged
SAMPLING_TOLERANCE = 2.0
UNOBSERVED_SHARE = 0.5  # a feature seen in fewer of the training windows is not learned


def fill_unobserved(
    features: pd.DataFrame, columns: list[str]
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Training windows with every feature finite, and the columns not learned: those
    NaN (not observable) in more than ``UNOBSERVED_SHARE`` of the windows are set to 0
    throughout (their z-scores stay 0, ``FamilyModel.unlearned``); in the others, the
    few windows that could not show a feature take its median over the family."""
    values = features[columns]
    seen = np.isfinite(values.to_numpy(dtype=np.float64)).mean(axis=0)
    if seen.size and seen.min() >= 1.0:
        return features, ()
    unlearned = tuple(c for c, share in zip(columns, seen, strict=True) if share < UNOBSERVED_SHARE)
    filled = values.fillna(values.median()).fillna(0.0)
    filled[list(unlearned)] = 0.0
    out = features.copy()
    out[columns] = filled
    return out, unlearned


def _fit_detection(
    family: str,
    load_model: LoadModel,
    features: pd.DataFrame,
    buckets_per_window: float,
    config: TrainingConfig,
    *,
    unlearned: tuple[str, ...] = (),
) -> FamilyModel:
    """Machine baselines and the detector on ``features`` (threshold still unset)."""
    columns = feature_names(load_model.channels)
    machines = features.index.get_level_values("equipment_id").to_numpy()
    baseline = MachineBaseline(
        prior_rows=config.prior_rows,
        threshold=1e6,
        min_scale=scale_floors(features[columns]),
        max_offset=config.max_offset,
    ).fit(features[columns].to_numpy(), groups=machines)
    model = FamilyModel(
        family=family,
        channels=load_model.channels,
        load_model=load_model,
        baseline=baseline,
        # inputs are z-scores already: a feature that never moved while healthy (coverage
        # at 100 %) must not turn its first wobble into an infinite statistic
        detector=PCADetector(
            n_components=config.n_components, limit_quantile=config.limit_quantile, min_scale=0.5
        ),
        alarm_threshold=1.0,
        buckets_per_window=buckets_per_window,
        config=config,
        unlearned=unlearned,
    )
    # the detector learns healthy behaviour from the machines that look healthy
    healthy = ~np.isin(machines, baseline.suspects_)
    fit_on = features[healthy] if healthy.sum() >= 20 else features
    model.detector.fit(model.z_scores(fit_on).to_numpy())
    return model
