"""Dimuon pair selection.

An event is kept when it has at least one opposite-charge muon pair. With
more than two muons the pair is the leading-pT mu- with the leading-pT mu+,
which is the same as pairing the leading muon with the leading muon of
opposite charge; a same-sign pair is never chosen. The pair is returned in
charge order (mu-, then mu+) so that every feature has a fixed meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np


@dataclass
class PairSelection:
    """The chosen pair of each event and the masks of the cutflow steps.

    ``mu_minus`` and ``mu_plus`` hold one muon per event (None where the event
    has no opposite-charge pair). The masks have one entry per event.
    """

    mu_minus: ak.Array
    mu_plus: ak.Array
    has_two_muons: np.ndarray
    has_opposite_pair: np.ndarray


@dataclass
class PairIndices:
    """The chosen pair of each event as positions in flat muon columns.

    ``minus`` and ``plus`` hold, per event, the flat index of the chosen mu-
    and mu+, or -1 where the event has no muon of that charge. The masks have
    one entry per event.
    """

    minus: np.ndarray
    plus: np.ndarray
    has_two_muons: np.ndarray
    has_opposite_pair: np.ndarray


def leading_pair_indices(pt, charge, counts) -> PairIndices:
    """Choose the leading-pT mu- and mu+ of each event from flat columns.

    ``pt`` (GeV) and ``charge`` have one entry per muon in event order, and
    ``counts`` the number of muons of each event, as in
    :class:`processors.layouts.MuonColumns`.
    """
    pt = np.asarray(pt)
    charge = np.asarray(charge)
    counts = np.asarray(counts)
    n_events = len(counts)
    event_index = np.repeat(np.arange(n_events), counts)

    # One list per event of the mu- candidates, then one per event of the mu+
    # candidates, each in stored order. ak.argmax keeps the first of equal
    # maxima, as on a list masked by charge, and gives -1 for an empty list.
    negative = np.flatnonzero(charge < 0)
    positive = np.flatnonzero(charge > 0)
    candidates = np.concatenate([negative, positive])
    groups = np.concatenate([event_index[negative], event_index[positive] + n_events])
    per_group = np.bincount(groups, minlength=2 * n_events)
    jagged = ak.unflatten(pt[candidates], per_group)
    local = ak.to_numpy(ak.argmax(jagged, axis=1, mask_identity=False))
    if len(candidates):
        starts = np.cumsum(per_group) - per_group
        # For an empty list, start - 1 is still a valid position, and np.where
        # puts back the -1.
        local = np.where(local >= 0, candidates[starts + local], -1)
    minus = local[:n_events].astype(np.int64)
    plus = local[n_events:].astype(np.int64)
    return PairIndices(
        minus=minus,
        plus=plus,
        has_two_muons=counts >= 2,
        has_opposite_pair=(minus >= 0) & (plus >= 0),
    )


def _take(flat, index):
    """Pick ``flat[index]`` per event, with None where ``index`` is -1."""
    layout = ak.contents.IndexedOptionArray(ak.index.Index64(index), flat.layout)
    return ak.Array(layout, behavior=flat.behavior)


def select_pair(muons) -> PairSelection:
    """Choose the leading-pT mu- and mu+ of each event of ``muons``.

    ``muons`` is a jagged array of ``Momentum4D`` records with a ``charge``
    field, as returned by :func:`processors.layouts.read_muons`.
    """
    counts = ak.to_numpy(ak.num(muons, axis=1))
    flat = ak.flatten(muons, axis=1)
    pair = leading_pair_indices(ak.to_numpy(flat.pt), ak.to_numpy(flat.charge), counts)
    return PairSelection(
        mu_minus=_take(flat, pair.minus),
        mu_plus=_take(flat, pair.plus),
        has_two_muons=pair.has_two_muons,
        has_opposite_pair=pair.has_opposite_pair,
    )
