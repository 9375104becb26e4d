"""Which failure mode an anomaly looks like, and so which parts a technician brings.

``signatures`` turns a window's per-channel z-scores (models/features.py features,
standardized by the machine's baseline) into a family-independent vector: for every
role (vibration, coolant temperature, pressure ...) the five features of that role's
most deviating channel with its two extras (models/features.py ``SIGNATURE_EXTRAS``:
how much of its deviation follows the load, how much of it is flat), and six global
ones: how much one channel dominates, how many channels deviate, the overall size, how
much the load moved (a window at one steady load cannot tell a drifting sensor from a
machine fault that grows with the load, a window whose load moved can), the largest
flat share of any channel (a sensor that stuck minutes ago, before its window's noise
shows it), and the load share of the channel deviating most. ``FailureModeClassifier``
(a random forest under scikit-learn's contract) maps signatures to modes; it is trained
per family on the family's own healthy windows with each mode injected
(models/injection.py), and can be retrained on labelled field faults when they exist.
Sensor modes are named as such: a stuck or drifting sensor is not a machine fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from models.features import FEATURES, SIGNATURE_EXTRAS
from models.injection import SENSOR_MODES
from models.roles import ROLES, role_of

SIGNATURE_ROLES = tuple(r for r in ROLES if r != "load")
GLOBAL = ("isolation", "deviating", "size", "load_spread", "flat", "lead_load_share")
PER_ROLE = FEATURES + SIGNATURE_EXTRAS


def signature_names() -> list[str]:
    return [f"{r}:{f}" for r in SIGNATURE_ROLES for f in PER_ROLE] + list(GLOBAL)


def signatures(
    z: pd.DataFrame, features: pd.DataFrame, channels: Sequence[str], clip: float = 50.0
) -> NDArray[np.float64]:
    """One signature row per row of ``z`` (columns ``channel:feature``), with the extras
    of the same windows from ``features`` (models/features.py ``window_features``)."""
    n = len(z)
    extras = features.loc[z.index]
    per_channel = np.stack(
        [
            np.column_stack(
                [
                    z[[f"{c}:{f}" for f in FEATURES]].to_numpy(dtype=np.float64),
                    extras[[f"{c}:{f}" for f in SIGNATURE_EXTRAS]].to_numpy(dtype=np.float64),
                ]
            )
            for c in channels
        ],
        axis=1,
    )  # rows x channels x (features + extras)
    per_channel = np.clip(np.nan_to_num(per_channel), -clip, clip)
    strength = np.abs(per_channel[:, :, : len(FEATURES)]).max(axis=2)  # rows x channels
    out = np.zeros((n, len(SIGNATURE_ROLES), len(PER_ROLE)))
    roles = [role_of(c) for c in channels]
    for k, role in enumerate(SIGNATURE_ROLES):
        members = [j for j, r in enumerate(roles) if r == role]
        if not members:
            continue
        best = np.asarray(members)[np.argmax(strength[:, members], axis=1)]
        out[:, k, :] = per_channel[np.arange(n), best, :]
    squared = (per_channel[:, :, : len(FEATURES)] ** 2).sum(axis=2)
    total = squared.sum(axis=1)
    isolation = np.where(total > 0, squared.max(axis=1) / np.where(total > 0, total, 1.0), 0.0)
    deviating = (strength > 4.0).sum(axis=1)
    size = np.log1p(total)
    spread = np.nan_to_num(extras["load_spread"].to_numpy(dtype=np.float64))
    flat = per_channel[:, :, PER_ROLE.index("flat")].max(axis=1)  # any channel stuck
    lead = strength.argmax(axis=1)  # the channel deviating most: machine or its sensor?
    lead_share = per_channel[np.arange(n), lead, PER_ROLE.index("load_share")]
    return np.column_stack(
        [
            out.reshape(n, out.shape[1] * out.shape[2]),
            isolation,
            deviating,
            size,
            spread,
            flat,
            lead_share,
        ]
    )


def is_sensor_mode(mode: str) -> bool:
    return mode in SENSOR_MODES


class FailureModeClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Random forest from anomaly signatures to failure modes.

    Parameters
    ----------
    n_estimators, max_depth, min_samples_leaf, random_state :
        Passed to scikit-learn's ``RandomForestClassifier``.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 200,
        max_depth: int | None = None,
        min_samples_leaf: int = 2,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> FailureModeClassifier:  # noqa: N803 - scikit-learn's naming
        data, labels = validate_data(self, X, y, reset=True, dtype=np.float64)
        check_classification_targets(labels)
        self.forest_ = RandomForestClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            random_state=self.random_state,
            n_jobs=1,
        ).fit(data, labels)
        self.classes_ = self.forest_.classes_
        return self

    def predict_proba(self, X: Any) -> NDArray[np.float64]:  # noqa: N803
        check_is_fitted(self)
        data = validate_data(self, X, reset=False, dtype=np.float64)
        return np.asarray(self.forest_.predict_proba(data), dtype=np.float64)

    def predict(self, X: Any) -> NDArray[Any]:  # noqa: N803
        proba = self.predict_proba(X)
        return np.asarray(self.classes_[np.argmax(proba, axis=1)])
