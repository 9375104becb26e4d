"""Model artefacts: bytes with a checksum and the library versions that wrote them.

A pickled scikit-learn model is only guaranteed to load under the versions that
pickled it. ``dump`` records them in the metadata; ``load`` compares them with the
running ones *before* unpickling and refuses with a ``ModelVersionError`` that says
which library differs and how to retrain, instead of failing somewhere inside numpy or
returning a subtly different model. Artefacts come from the project's own database
(the system of record), and their SHA-256 is checked before they are loaded.
"""

from __future__ import annotations

import hashlib
import pickle  # artefacts are written by this code into its own database
import platform
from importlib import metadata
from typing import Any

from models.errors import ModelVersionError

# /2: the failure-mode classifier reads the signature extras (models/features.py)
# /3: ``noise`` is a standard deviation, not a raw range (models/features.py), and a
#     model knows its history's readings a bucket and the features it could not learn
FORMAT = "prognos-family-model/3"
# library -> how much of its version must match: the full version, or major.minor
_MATCH = {"scikit-learn": 3, "numpy": 2, "scipy": 2, "pandas": 2, "python": 2}


def library_versions() -> dict[str, str]:
    """The versions a model depends on, as running now."""
    out = {"python": platform.python_version()}
    for name in ("scikit-learn", "numpy", "scipy", "pandas", "prognos"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def _prefix(version: str, parts: int) -> tuple[str, ...]:
    return tuple(version.split(".")[:parts])


def mismatches(recorded: dict[str, str], running: dict[str, str] | None = None) -> list[str]:
    """The libraries whose versions differ enough to make the pickle unsafe to load."""
    now = running or library_versions()
    out = []
    for name, parts in _MATCH.items():
        was, is_ = recorded.get(name), now.get(name)
        if was is None or is_ is None or _prefix(was, parts) != _prefix(is_, parts):
            out.append(f"{name} {was or 'unrecorded'} (running {is_ or 'unknown'})")
    return out


def dump(model: object) -> tuple[bytes, str, dict[str, Any]]:
    """The artefact's bytes, their SHA-256, and the metadata to store beside them."""
    blob = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    return (
        blob,
        hashlib.sha256(blob).hexdigest(),
        {"format": FORMAT, "libraries": library_versions()},
    )


def load(blob: bytes, sha256: str, meta: dict[str, Any], *, what: str, retrain: str) -> Any:
    """Unpickle an artefact after checking its checksum and library versions.

    ``what`` names it in errors ("concrete_pump model v3"); ``retrain`` says how to
    make a new one.
    """
    found = str(meta.get("format"))
    if found != FORMAT:
        if found.startswith(FORMAT.rsplit("/", 1)[0] + "/"):
            raise ModelVersionError(
                f"{what} is an artefact of another Prognos release ({found}, this one reads "
                f"{FORMAT}). Retrain it ({retrain})."
            )
        raise ModelVersionError(f"{what} is not a Prognos model artefact ({found!r})")
    if hashlib.sha256(blob).hexdigest() != sha256:
        raise ModelVersionError(f"{what}: the artefact does not match its checksum")
    differ = mismatches(meta.get("libraries", {}))
    if differ:
        raise ModelVersionError(
            f"{what} was trained with other library versions: {', '.join(differ)}. "
            f"Retrain it ({retrain}) or run the versions it was trained with."
        )
    return pickle.loads(blob)  # noqa: S301 - checksummed artefact from our own database
