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


def _leading(muons):
    index = ak.argmax(muons.pt, axis=1, keepdims=True)
    return ak.firsts(muons[index])


def select_pair(muons) -> PairSelection:
    """Choose the leading-pT mu- and mu+ of each event of ``muons``.

    ``muons`` is a jagged array of ``Momentum4D`` records with a ``charge``
    field, as returned by :func:`processors.layouts.read_muons`.
    """
    n_muons = ak.to_numpy(ak.num(muons, axis=1))
    negative = muons[muons.charge < 0]
    positive = muons[muons.charge > 0]
    has_pair = ak.to_numpy(
        (ak.num(negative, axis=1) > 0) & (ak.num(positive, axis=1) > 0)
    )
    return PairSelection(
        mu_minus=_leading(negative),
        mu_plus=_leading(positive),
        has_two_muons=n_muons >= 2,
        has_opposite_pair=has_pair,
    )
