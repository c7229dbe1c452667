"""Branch layouts of dimuon event files and how to read muons from each.

Three layouts are recognised from the branch names alone:

``flat``
    One entry per event with exactly two muons stored as scalars, as in the
    CMS 2010 open-data tree ``uproot-Zmumu.root``: ``E1, px1, py1, pz1, Q1``
    and the same with suffix ``2``. Momenta and energies in GeV.
``nanoaod``
    NanoAOD-style jagged muon collections: ``Muon_pt, Muon_eta, Muon_phi,
    Muon_mass`` (GeV) and ``Muon_charge``.
``lhe``
    The columnar form of Les Houches event files written by
    :mod:`samples.lhe`: every particle of the event record in jagged
    ``LHE_*`` branches (``px, py, pz, e, m`` in GeV, PDG ``id``, ``status``).
    Final-state muons are status 1 with PDG id 13 (mu-) or -13 (mu+); the
    incoming particles (status -1) give the initial four-momentum.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np
import vector

vector.register_awkward()

MUON_PDG_ID = 13
STATUS_FINAL = 1
STATUS_INCOMING = -1


class LayoutError(ValueError):
    """A tree lacks the branches of every known dimuon layout."""


@dataclass(frozen=True)
class Layout:
    """A named set of branches that together describe the event's muons."""

    name: str
    branches: tuple[str, ...]
    has_initial_state: bool
    description: str


LAYOUTS = (
    Layout(
        "flat",
        ("E1", "px1", "py1", "pz1", "Q1", "E2", "px2", "py2", "pz2", "Q2"),
        False,
        "two muons as scalar branches (E1, px1, py1, pz1, Q1 and the same for 2)",
    ),
    Layout(
        "nanoaod",
        ("Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge"),
        False,
        "NanoAOD-style jagged muons (Muon_pt, Muon_eta, Muon_phi, Muon_mass, "
        "Muon_charge)",
    ),
    Layout(
        "lhe",
        ("LHE_px", "LHE_py", "LHE_pz", "LHE_e", "LHE_id", "LHE_status"),
        True,
        "converted Les Houches events (LHE_px, LHE_py, LHE_pz, LHE_e, LHE_id, "
        "LHE_status)",
    ),
)


def detect_layout(branches, where: str = "the tree") -> Layout:
    """Return the first layout whose branches are all in ``branches``.

    Raises
    ------
    LayoutError
        If no layout matches. The message lists, for the closest layout, the
        missing branches and the branches that do exist.
    """
    available = set(branches)
    for layout in LAYOUTS:
        if available.issuperset(layout.branches):
            return layout

    def n_missing(layout):
        return sum(b not in available for b in layout.branches)

    closest = min(LAYOUTS, key=n_missing)
    missing = [b for b in closest.branches if b not in available]
    shown = sorted(available)
    listed = ", ".join(shown[:40]) + (" ..." if len(shown) > 40 else "")
    expected = "; ".join(f"{lay.name}: {lay.description}" for lay in LAYOUTS)
    msg = (
        f"{where} has no dimuon layout: closest is {closest.name!r}, which "
        f"lacks {', '.join(missing)}. Branches present: {listed or '(none)'}. "
        f"Known layouts are {expected}."
    )
    raise LayoutError(msg)


def _as_float64(array):
    return ak.values_astype(array, np.float64)


def _momentum4d(px, py, pz, energy, charge):
    return ak.zip(
        {
            "px": _as_float64(px),
            "py": _as_float64(py),
            "pz": _as_float64(pz),
            "E": _as_float64(energy),
            "charge": ak.values_astype(charge, np.int32),
        },
        with_name="Momentum4D",
    )


def read_muons(events, layout: Layout):
    """Build the muon collection of each event from ``events``.

    Returns a jagged awkward array of ``Momentum4D`` records with fields
    ``px, py, pz, E`` (float64, GeV) and ``charge`` (int32, units of e).
    Kinematics are promoted to float64 before any arithmetic so that the
    on-shell check ``E**2 - p**2`` is not dominated by float32 rounding.
    """
    if layout.name == "flat":

        def pair(stem):
            first = np.asarray(events[f"{stem}1"])[:, np.newaxis]
            second = np.asarray(events[f"{stem}2"])[:, np.newaxis]
            return ak.from_regular(np.concatenate([first, second], axis=1))

        return _momentum4d(pair("px"), pair("py"), pair("pz"), pair("E"), pair("Q"))

    if layout.name == "nanoaod":
        cylindrical = ak.zip(
            {
                "pt": _as_float64(events["Muon_pt"]),
                "eta": _as_float64(events["Muon_eta"]),
                "phi": _as_float64(events["Muon_phi"]),
                "mass": _as_float64(events["Muon_mass"]),
            },
            with_name="Momentum4D",
        )
        return _momentum4d(
            cylindrical.px,
            cylindrical.py,
            cylindrical.pz,
            cylindrical.E,
            events["Muon_charge"],
        )

    particles = _lhe_particles(events)
    final_muons = particles[
        (particles.status == STATUS_FINAL) & (abs(particles.id) == MUON_PDG_ID)
    ]
    # PDG id +13 is the mu-, whose charge is -1.
    charge = -np.sign(final_muons.id)
    return _momentum4d(
        final_muons.px, final_muons.py, final_muons.pz, final_muons.e, charge
    )


def read_initial_state(events, layout: Layout):
    """Return the summed four-momentum of the incoming particles, or None.

    Only the ``lhe`` layout records the initial state; detector layouts
    return None.
    """
    if not layout.has_initial_state:
        return None
    particles = _lhe_particles(events)
    incoming = particles[particles.status == STATUS_INCOMING]
    return ak.zip(
        {
            "px": ak.sum(incoming.px, axis=1),
            "py": ak.sum(incoming.py, axis=1),
            "pz": ak.sum(incoming.pz, axis=1),
            "E": ak.sum(incoming.e, axis=1),
        },
        with_name="Momentum4D",
    )


def _lhe_particles(events):
    return ak.zip(
        {
            "px": _as_float64(events["LHE_px"]),
            "py": _as_float64(events["LHE_py"]),
            "pz": _as_float64(events["LHE_pz"]),
            "e": _as_float64(events["LHE_e"]),
            "id": events["LHE_id"],
            "status": events["LHE_status"],
        }
    )
