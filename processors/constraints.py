"""Constraint checks of a dimuon pair and their histograms.

Each check is a quantity that a constraint fixes: the pair's total momentum
(zero in the centre-of-mass frame), its difference from the initial state
(zero when nothing else is produced), each muon's mass squared (the on-shell
condition), the invariant mass (fixed for a resonance) and the pair's
transverse momentum (zero without initial-state radiation). Checks are filled
into :mod:`hist` histograms and, exactly, into running moments
(:class:`CheckMoments`), because a histogram bin cannot show a residual at
machine precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import hist
import numpy as np

# name -> (axis label, bins, low, high); every quantity in GeV or GeV^2.
CHECKS = {
    "px_sum": (r"$p_x(\mu^-) + p_x(\mu^+)$ [GeV]", 200, -100.0, 100.0),
    "py_sum": (r"$p_y(\mu^-) + p_y(\mu^+)$ [GeV]", 200, -100.0, 100.0),
    "pz_sum": (r"$p_z(\mu^-) + p_z(\mu^+)$ [GeV]", 200, -2000.0, 2000.0),
    "E_sum": (r"$E(\mu^-) + E(\mu^+)$ [GeV]", 200, 0.0, 4000.0),
    "m2_mu-": (r"$m^2(\mu^-) = E^2 - |\vec{p}|^2$ [GeV$^2$]", 200, -0.02, 0.03),
    "m2_mu+": (r"$m^2(\mu^+) = E^2 - |\vec{p}|^2$ [GeV$^2$]", 200, -0.02, 0.03),
    "m_mumu": (r"$m_{\mu\mu}$ [GeV]", 300, 0.0, 300.0),
    "pt_mumu": (r"$p_T(\mu^-\mu^+)$ [GeV]", 200, 0.0, 200.0),
    "pt_asymmetry": (
        r"$(p_T(\mu^-) - p_T(\mu^+)) / (p_T(\mu^-) + p_T(\mu^+))$",
        100,
        -1.0,
        1.0,
    ),
}

# Checks against the initial state, filled only when the file records it.
INITIAL_STATE_CHECKS = {
    "dpx": (r"$p_x(\mu\mu) - p_x(\mathrm{initial})$ [GeV]", 200, -100.0, 100.0),
    "dpy": (r"$p_y(\mu\mu) - p_y(\mathrm{initial})$ [GeV]", 200, -100.0, 100.0),
    "dpz": (r"$p_z(\mu\mu) - p_z(\mathrm{initial})$ [GeV]", 200, -500.0, 500.0),
    "dE": (r"$E(\mu\mu) - E(\mathrm{initial})$ [GeV]", 200, -500.0, 500.0),
}

UNITS = {
    "m2_mu-": "GeV^2",
    "m2_mu+": "GeV^2",
    "pt_asymmetry": "",
}


@dataclass
class CheckMoments:
    """Exact running moments of one check: count, sum, sum of squares, range.

    The moments of each chunk are kept apart under the chunk's key and added
    in key order only when read, so the result does not depend on the order
    in which an executor merges chunks. Instances add with ``+`` so that
    coffea's accumulator merges them. The sum of squares is taken about zero,
    so the spread is ``sqrt(sumsq / n - mean**2)``. NaN values are not
    counted.
    """

    parts: dict = field(default_factory=dict)

    @classmethod
    def of(cls, values: np.ndarray, key=0) -> CheckMoments:
        """Summarise ``values`` as the part of chunk ``key``."""
        values = np.asarray(values, dtype=np.float64)
        values = values[~np.isnan(values)]
        if not values.size:
            return cls({key: (0, 0.0, 0.0, np.inf, -np.inf)})
        part = (
            int(values.size),
            float(values.sum()),
            float(np.square(values).sum()),
            float(values.min()),
            float(values.max()),
        )
        return cls({key: part})

    def __add__(self, other: CheckMoments) -> CheckMoments:
        overlap = self.parts.keys() & other.parts.keys()
        if overlap:
            msg = f"chunks counted twice: {sorted(overlap)[:3]}"
            raise ValueError(msg)
        return CheckMoments({**self.parts, **other.parts})

    def __iadd__(self, other: CheckMoments):
        return self + other

    def _ordered(self):
        return [self.parts[key] for key in sorted(self.parts)]

    @property
    def n(self) -> int:
        return sum(part[0] for part in self._ordered())

    @property
    def total(self) -> float:
        return float(sum(part[1] for part in self._ordered()))

    @property
    def sumsq(self) -> float:
        return float(sum(part[2] for part in self._ordered()))

    @property
    def minimum(self) -> float:
        return min((part[3] for part in self._ordered()), default=np.inf)

    @property
    def maximum(self) -> float:
        return max((part[4] for part in self._ordered()), default=-np.inf)

    def to_dict(self, unit: str) -> dict:
        """Summarise as mean, standard deviation and range, in ``unit``."""
        parts = self._ordered()
        n = sum(part[0] for part in parts)
        if n == 0:
            return {"n": 0, "unit": unit}
        total = sumsq = 0.0
        for part in parts:
            total += part[1]
            sumsq += part[2]
        mean = total / n
        variance = max(sumsq / n - mean * mean, 0.0)
        return {
            "n": n,
            "mean": mean,
            "std": float(np.sqrt(variance)),
            "rms": float(np.sqrt(sumsq / n)),
            "min": min(part[3] for part in parts),
            "max": max(part[4] for part in parts),
            "unit": unit,
        }


def format_check_table(checks: dict) -> list[str]:
    """Return markdown lines for the moments of each check.

    ``checks`` maps a check name to :meth:`CheckMoments.to_dict` output.
    """
    lines = [
        "## Constraint checks",
        "",
        "Moments of the processor's checks over all selected events (their "
        "histograms are in constraints.png). Where detector resolution or "
        "radiation breaks a constraint, its spread here says by how much.",
        "",
        "| check | events | mean | std | min | max | unit |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, moments in checks.items():
        if moments["n"] == 0:
            lines.append(f"| {name} | 0 | | | | | {moments['unit']} |")
            continue
        lines.append(
            f"| {name} | {moments['n']} | {moments['mean']:.4g} | "
            f"{moments['std']:.4g} | {moments['min']:.4g} | {moments['max']:.4g} | "
            f"{moments['unit']} |"
        )
    return lines + [""]


def check_unit(name: str) -> str:
    """Return the unit of check ``name`` (GeV unless listed in :data:`UNITS`)."""
    return UNITS.get(name, "GeV")


def book_histograms() -> dict[str, hist.Hist]:
    """Create empty histograms for every check, one regular axis each."""
    booked = {}
    for name, (label, bins, low, high) in {**CHECKS, **INITIAL_STATE_CHECKS}.items():
        booked[name] = hist.Hist(
            hist.axis.Regular(bins, low, high, name=name, label=label),
            storage=hist.storage.Double(),
        )
    return booked


def _components(vectors) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return tuple(
        np.asarray(getattr(vectors, name), dtype=np.float64)
        for name in ("px", "py", "pz", "E")
    )


def _transverse_momentum(px, py):
    # vector's rho for Cartesian components.
    return np.sqrt(px**2 + py**2)


def _mass_squared(px, py, pz, energy):
    # vector's tau2 for Cartesian components: t**2 - (x**2 + y**2 + z**2).
    return energy**2 - (px**2 + py**2 + pz**2)


def compute_checks(mu_minus, mu_plus, initial=None) -> dict[str, np.ndarray]:
    """Evaluate every check on flat arrays of the chosen pair.

    ``mu_minus``, ``mu_plus`` and ``initial`` (the summed incoming
    four-momentum, or None) are flat four-momenta in GeV: ``Momentum4D``
    arrays or :class:`processors.layouts.FourMomenta`. The mass squared is
    ``E**2 - px**2 - py**2 - pz**2`` in float64, negative for a spacelike
    vector, and the invariant mass is ``copysign(sqrt(|m**2|), m**2)``, with
    vector's sign convention. The formulas are vector's for Cartesian
    components (vector 1.9), written with numpy on the columns, so they give
    the same float64 values as vector's ``pt``, ``mass2`` and ``mass``
    without the cost of a call on awkward arrays.
    """
    minus = _components(mu_minus)
    plus = _components(mu_plus)
    px, py, pz, energy = (a + b for a, b in zip(minus, plus))
    pt_minus = _transverse_momentum(minus[0], minus[1])
    pt_plus = _transverse_momentum(plus[0], plus[1])
    pt_total = pt_minus + pt_plus
    pair_mass_squared = _mass_squared(px, py, pz, energy)
    with np.errstate(invalid="ignore", divide="ignore"):
        asymmetry = np.where(pt_total > 0, (pt_minus - pt_plus) / pt_total, np.nan)
    values = {
        "px_sum": px,
        "py_sum": py,
        "pz_sum": pz,
        "E_sum": energy,
        "m2_mu-": _mass_squared(*minus),
        "m2_mu+": _mass_squared(*plus),
        "m_mumu": np.copysign(np.sqrt(np.abs(pair_mass_squared)), pair_mass_squared),
        "pt_mumu": _transverse_momentum(px, py),
        "pt_asymmetry": asymmetry,
    }
    if initial is not None:
        values["dpx"] = values["px_sum"] - np.asarray(initial.px)
        values["dpy"] = values["py_sum"] - np.asarray(initial.py)
        values["dpz"] = values["pz_sum"] - np.asarray(initial.pz)
        values["dE"] = values["E_sum"] - np.asarray(initial.E)
    return {name: np.asarray(v, dtype=np.float64) for name, v in values.items()}
