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


@dataclass(frozen=True)
class FourMomenta:
    """Four-momenta as flat float64 columns ``px, py, pz, E`` in GeV.

    Indexing with a mask or an index array selects the same entries of every
    column.
    """

    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    E: np.ndarray

    def __getitem__(self, index) -> FourMomenta:
        return FourMomenta(
            self.px[index], self.py[index], self.pz[index], self.E[index]
        )

    def __len__(self) -> int:
        return len(self.px)


class MuonColumns:
    """The muons of one chunk as flat columns, in event order.

    ``counts`` has one entry per event: its number of muons (int64). The
    other columns have one entry per muon, the muons of event 0 first, then
    those of event 1, and so on: ``charge`` (int32, units of e) and ``px``,
    ``py`` (float64, GeV). :meth:`four_momenta` returns the full
    four-momenta of chosen muons.
    """

    def __init__(self, counts, charge, px, py):
        self.counts = counts
        self.charge = charge
        self.px = px
        self.py = py

    @property
    def pt(self) -> np.ndarray:
        """Transverse momentum ``sqrt(px**2 + py**2)`` in GeV, as vector's ``rho``."""
        return np.sqrt(self.px**2 + self.py**2)

    def four_momenta(self, index) -> FourMomenta:
        """Return the four-momenta of the muons at flat positions ``index``."""
        raise NotImplementedError

    def momenta(self):
        """Return every muon as a flat ``Momentum4D`` array with ``charge``."""
        every = self.four_momenta(np.arange(len(self.charge)))
        return ak.zip(
            {
                "px": every.px,
                "py": every.py,
                "pz": every.pz,
                "E": every.E,
                "charge": self.charge,
            },
            with_name="Momentum4D",
        )


class CartesianMuonColumns(MuonColumns):
    """Muon columns read as Cartesian components ``px, py, pz, E``."""

    def __init__(self, counts, charge, px, py, pz, energy):
        super().__init__(counts, charge, px, py)
        self.pz = pz
        self.E = energy

    def four_momenta(self, index) -> FourMomenta:
        return FourMomenta(
            self.px[index], self.py[index], self.pz[index], self.E[index]
        )


class CylindricalMuonColumns(MuonColumns):
    """Muon columns read as ``pt, eta, phi, mass``, promoted to float64 when used.

    ``px, py`` are computed for every muon, because the pair selection ranks
    muons by the pT of those components, and ``pz, E`` only for the muons
    that :meth:`four_momenta` is asked for.
    """

    def __init__(self, counts, charge, pt, eta, phi, mass):
        self._pt = pt.astype(np.float64)
        px, py = transverse_components(self._pt, phi.astype(np.float64))
        super().__init__(counts, charge, px, py)
        self._eta = eta
        self._mass = mass

    def four_momenta(self, index) -> FourMomenta:
        pt = self._pt[index]
        eta = self._eta[index].astype(np.float64)
        mass = self._mass[index].astype(np.float64)
        pz, energy = longitudinal_components(pt, eta, mass)
        return FourMomenta(self.px[index], self.py[index], pz, energy)


# The two functions below write out vector's px, py, pz and E of a Momentum4D
# with pt, eta, phi and mass (vector 1.9: vector/_compute/planar/x.py, y.py,
# spatial/z.py, lorentz/t.py). vector applies the same numpy functions in the
# same order, element by element, so the float64 values are equal, without
# vector's cost per call on awkward arrays.


def transverse_components(pt, phi) -> tuple[np.ndarray, np.ndarray]:
    """Return ``px = pt cos(phi)`` and ``py = pt sin(phi)`` (GeV)."""
    return pt * np.cos(phi), pt * np.sin(phi)


def longitudinal_components(pt, eta, mass) -> tuple[np.ndarray, np.ndarray]:
    """Return ``pz = pt sinh(eta)`` and ``E = sqrt(mass**2 + |p|**2)`` (GeV).

    As in vector, ``|p|**2`` is ``pt**2 / sin(theta)**2`` with ``1 /
    sin(theta) = cosh(eta)`` evaluated from ``exp(-eta)``, a negative mass
    counts as ``-mass**2``, and a negative ``E**2`` is clipped to 0.
    """
    exp_minus_eta = np.exp(-eta)
    inverse_sin_theta = 0.5 * (1 + exp_minus_eta**2) / exp_minus_eta
    energy_squared = np.copysign(mass**2, mass) + pt**2 * inverse_sin_theta**2
    return pt * np.sinh(eta), np.sqrt(np.maximum(energy_squared, 0))


def _jagged_columns(array) -> tuple[np.ndarray, np.ndarray]:
    """Return the counts per event and the flat values of a jagged array."""
    layout = ak.to_layout(array)
    if isinstance(layout, ak.contents.ListOffsetArray) and isinstance(
        layout.content, ak.contents.NumpyArray
    ):
        # Reading the two buffers directly avoids the dispatch of ak.num and
        # ak.flatten, which costs about 1 ms per branch and chunk.
        offsets = np.asarray(layout.offsets.data)
        values = np.asarray(layout.content.data)[offsets[0] : offsets[-1]]
        return np.diff(offsets), values
    counts = ak.to_numpy(ak.num(array, axis=1))
    return counts, ak.to_numpy(ak.flatten(array, axis=1))


def _read_jagged(events, names) -> tuple[np.ndarray, list[np.ndarray]]:
    """Read jagged branches that must have the same number of entries per event."""
    counts, first = _jagged_columns(events[names[0]])
    columns = [first]
    for name in names[1:]:
        other_counts, values = _jagged_columns(events[name])
        if not np.array_equal(other_counts, counts):
            msg = f"{name} and {names[0]} have different numbers of entries per event"
            raise ValueError(msg)
        columns.append(values)
    return counts.astype(np.int64), columns


def _event_index(counts: np.ndarray) -> np.ndarray:
    """Return the event number of every entry of a flat column."""
    return np.repeat(np.arange(len(counts)), counts)


def _read_flat_muons(events) -> MuonColumns:
    def pair(stem, dtype):
        first = np.asarray(events[f"{stem}1"], dtype=dtype)
        second = np.asarray(events[f"{stem}2"], dtype=dtype)
        return np.stack([first, second], axis=1).reshape(-1)

    return CartesianMuonColumns(
        counts=np.full(len(events), 2, dtype=np.int64),
        charge=pair("Q", np.int32),
        px=pair("px", np.float64),
        py=pair("py", np.float64),
        pz=pair("pz", np.float64),
        energy=pair("E", np.float64),
    )


def _read_nanoaod_muons(events) -> MuonColumns:
    counts, (pt, eta, phi, mass, charge) = _read_jagged(
        events, ("Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge")
    )
    return CylindricalMuonColumns(counts, charge.astype(np.int32), pt, eta, phi, mass)


def _lhe_particles(events):
    counts, columns = _read_jagged(
        events, ("LHE_id", "LHE_status", "LHE_px", "LHE_py", "LHE_pz", "LHE_e")
    )
    pdg_id, status, *momentum = columns
    px, py, pz, energy = (values.astype(np.float64) for values in momentum)
    return counts, pdg_id, status, FourMomenta(px, py, pz, energy)


def _read_lhe_muons(events) -> MuonColumns:
    counts, pdg_id, status, particles = _lhe_particles(events)
    final = (status == STATUS_FINAL) & (np.abs(pdg_id) == MUON_PDG_ID)
    muons = particles[final]
    # PDG id +13 is the mu-, whose charge is -1.
    charge = -np.sign(pdg_id[final])
    return CartesianMuonColumns(
        counts=np.bincount(_event_index(counts)[final], minlength=len(counts)),
        charge=charge.astype(np.int32),
        px=muons.px,
        py=muons.py,
        pz=muons.pz,
        energy=muons.E,
    )


def read_muon_columns(events, layout: Layout) -> MuonColumns:
    """Read the muons of each event of ``events`` into flat columns.

    Kinematics are promoted to float64 before any arithmetic so that the
    on-shell check ``E**2 - p**2`` is not dominated by float32 rounding.
    """
    if layout.name == "flat":
        return _read_flat_muons(events)
    if layout.name == "nanoaod":
        return _read_nanoaod_muons(events)
    return _read_lhe_muons(events)


def read_muons(events, layout: Layout):
    """Build the muon collection of each event from ``events``.

    Returns a jagged awkward array of ``Momentum4D`` records with fields
    ``px, py, pz, E`` (float64, GeV) and ``charge`` (int32, units of e), the
    jagged form of :func:`read_muon_columns`.
    """
    muons = read_muon_columns(events, layout)
    return ak.unflatten(muons.momenta(), muons.counts)


def read_initial_state(events, layout: Layout) -> FourMomenta | None:
    """Return the summed four-momentum of the incoming particles, or None.

    Only the ``lhe`` layout records the initial state; detector layouts
    return None. The sums have one entry per event, in GeV.
    """
    if not layout.has_initial_state:
        return None
    counts, _, status, particles = _lhe_particles(events)
    incoming = status == STATUS_INCOMING
    incoming_counts = np.bincount(_event_index(counts)[incoming], minlength=len(counts))

    def summed(values):
        # ak.sum adds the entries of each event in order, starting from 0.
        jagged = ak.unflatten(values[incoming], incoming_counts)
        return ak.to_numpy(ak.sum(jagged, axis=1))

    return FourMomenta(
        summed(particles.px),
        summed(particles.py),
        summed(particles.pz),
        summed(particles.E),
    )
