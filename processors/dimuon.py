"""The coffea processor: events in, cutflow, features and constraint checks out."""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping

import numpy as np
from coffea import processor

from processors.constraints import CheckMoments, book_histograms, compute_checks
from processors.features import feature_matrix, feature_names
from processors.layouts import detect_layout, read_initial_state, read_muon_columns
from processors.selection import leading_pair_indices


class ChunkArrays(Mapping):
    """Arrays of each chunk, keyed by ``(filename, entrystart)``.

    coffea merges plain dictionaries by deep-copying every value that only
    one side contains. That would copy each chunk's feature rows once more in
    the driver, costing CPU time there and a second copy of the features in
    memory. Instances add with ``+`` instead, joining the keys and sharing
    the arrays, which nothing modifies after their chunk. A key on both sides is a chunk counted twice and
    raises ValueError.
    """

    def __init__(self, parts: Mapping | None = None):
        self._parts = dict(parts or {})

    def __getitem__(self, key) -> np.ndarray:
        return self._parts[key]

    def __iter__(self) -> Iterator:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def __add__(self, other: Mapping) -> ChunkArrays:
        merged = ChunkArrays(self._parts)
        merged += other
        return merged

    def __iadd__(self, other: Mapping):
        overlap = self._parts.keys() & other.keys()
        if overlap:
            msg = f"chunks counted twice: {sorted(overlap)[:3]}"
            raise ValueError(msg)
        self._parts.update(other)
        return self

    def __repr__(self) -> str:
        return f"ChunkArrays({len(self)} chunks)"


CUTFLOW_STEPS = (
    "events read",
    "two or more muons",
    "opposite-charge pair",
    "finite features",
)


class DimuonProcessor(processor.ProcessorABC):
    """Select the opposite-charge muon pair and compute its features and checks.

    Parameters
    ----------
    feature_set
        ``"p3"`` (the two three-momenta, 6 features) or ``"p4"`` (the two
        four-momenta, 8 features); see :mod:`processors.features`.

    ``process`` returns, per dataset, a plain dict with

    ``cutflow``
        counts of :data:`CUTFLOW_STEPS`; each step is a subset of the one
        before, and the last counts the events whose features reach training;
    ``histograms``
        one :class:`hist.Hist` per constraint check, filled with the selected
        events (unweighted);
    ``moments``
        exact :class:`~processors.constraints.CheckMoments` of each check;
    ``features``
        ``{(filename, entrystart): array}`` with the feature rows of the chunk
        in entry order, so the caller can put chunks back in file order.
    """

    def __init__(
        self, feature_set: str = "p4", keep_fraction: float = 1.0, seed: int = 0
    ):
        self.feature_set = feature_set
        self.features = feature_names(feature_set)
        self.keep_fraction = keep_fraction
        self.seed = seed

    def process(self, events):
        dataset = events.metadata["dataset"]
        key = (events.metadata["filename"], int(events.metadata["entrystart"]))
        layout = detect_layout(
            events.fields, where=f"tree in {events.metadata['filename']}"
        )

        muons = read_muon_columns(events, layout)
        pair = leading_pair_indices(muons.pt, muons.charge, muons.counts)
        paired = pair.has_opposite_pair
        # One call converts both muons of every pair: the mu- first.
        n_pairs = int(np.count_nonzero(paired))
        chosen = np.concatenate([pair.minus[paired], pair.plus[paired]])
        both = muons.four_momenta(chosen)
        mu_minus = both[:n_pairs]
        mu_plus = both[n_pairs:]
        features = feature_matrix(mu_minus, mu_plus, self.feature_set)
        finite = np.isfinite(features).all(axis=1)

        mu_minus = mu_minus[finite]
        mu_plus = mu_plus[finite]
        initial = read_initial_state(events, layout)
        if initial is not None:
            initial = initial[paired][finite]
        checks = compute_checks(mu_minus, mu_plus, initial)

        histograms = book_histograms()
        for name, values in checks.items():
            histograms[name].fill(values)
        moments = {
            name: CheckMoments.of(values, key) for name, values in checks.items()
        }

        cutflow = dict(
            zip(
                CUTFLOW_STEPS,
                (
                    len(events),
                    int(np.count_nonzero(pair.has_two_muons)),
                    n_pairs,
                    int(np.count_nonzero(finite)),
                ),
            )
        )
        return {
            dataset: {
                "cutflow": cutflow,
                "histograms": histograms,
                "moments": moments,
                **self._kept_rows(events, key, paired, finite, features[finite]),
            }
        }

    def _kept_rows(self, events, key, paired, finite, features):
        """Return the feature rows handed on, with their sampling keys if sampled.

        With ``keep_fraction < 1`` every event gets a uniform key from a
        generator seeded by ``(seed, file, entrystart)``, so the key depends on
        the event alone and not on the executor, and only rows with a key
        below ``keep_fraction`` are kept. The caller then keeps the rows with
        the smallest keys, which is a uniform seeded subsample.
        """
        if self.keep_fraction >= 1.0:
            return {"features": ChunkArrays({key: features})}
        name_hash = zlib.crc32(str(key[0]).encode())
        generator = np.random.default_rng([self.seed, name_hash, key[1]])
        sample_keys = generator.random(len(events))[paired][finite]
        kept = sample_keys < self.keep_fraction
        return {
            "features": ChunkArrays({key: features[kept]}),
            "sample_keys": ChunkArrays({key: sample_keys[kept]}),
        }

    def postprocess(self, accumulator):
        return accumulator


def order_features(feature_chunks: dict, file_order: list[str]) -> np.ndarray:
    """Concatenate chunk feature arrays in file order, then entry order.

    ``feature_chunks`` maps ``(filename, entrystart)`` to arrays, as in the
    ``features`` output of :class:`DimuonProcessor`; ``file_order`` lists the
    filenames in fileset order. The result does not depend on the order in
    which chunks finished.
    """
    rank = {name: i for i, name in enumerate(file_order)}
    keys = sorted(feature_chunks, key=lambda k: (rank.get(k[0], len(rank)), k[0], k[1]))
    arrays = [feature_chunks[k] for k in keys]
    if not arrays:
        return np.empty((0, 0))
    return np.concatenate(arrays, axis=0)


def empty_features(feature_set: str) -> np.ndarray:
    """Return a ``(0, n_features)`` array for a run that selected nothing."""
    return np.empty((0, len(feature_names(feature_set))), dtype=np.float64)


__all__ = [
    "CUTFLOW_STEPS",
    "ChunkArrays",
    "DimuonProcessor",
    "empty_features",
    "order_features",
]
