"""Feature sets handed from the processor to the VAE.

All features are in GeV, in the laboratory frame, for the pair ordered by
charge: the mu- first, then the mu+.
"""

from __future__ import annotations

import numpy as np

FEATURE_SETS = {
    "p3": ("px_mu-", "py_mu-", "pz_mu-", "px_mu+", "py_mu+", "pz_mu+"),
    "p4": (
        "px_mu-",
        "py_mu-",
        "pz_mu-",
        "E_mu-",
        "px_mu+",
        "py_mu+",
        "pz_mu+",
        "E_mu+",
    ),
}


def feature_names(feature_set: str) -> tuple[str, ...]:
    """Return the ordered names of ``feature_set`` (``"p3"`` or ``"p4"``)."""
    try:
        return FEATURE_SETS[feature_set]
    except KeyError:
        known = ", ".join(FEATURE_SETS)
        msg = f"unknown feature set {feature_set!r}; choose one of {known}"
        raise ValueError(msg) from None


def feature_matrix(mu_minus, mu_plus, feature_set: str) -> np.ndarray:
    """Stack the pair's components into an ``(n_events, n_features)`` array.

    ``mu_minus`` and ``mu_plus`` are flat four-momenta without missing
    entries: ``Momentum4D`` arrays or :class:`processors.layouts.FourMomenta`.
    The result is float64 in the order of :data:`FEATURE_SETS`.
    """
    columns = []
    for name in feature_names(feature_set):
        component, muon = name.split("_")
        source = mu_minus if muon == "mu-" else mu_plus
        columns.append(np.asarray(getattr(source, component), dtype=np.float64))
    if not columns[0].size:
        return np.empty((0, len(columns)), dtype=np.float64)
    return np.column_stack(columns)
