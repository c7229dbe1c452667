"""Histograms of the trained latents: relevance and latent means vs features."""

from __future__ import annotations

import hist
import numpy as np


def relevance_histograms(relevance: np.ndarray) -> dict[str, hist.Hist]:
    """Book and fill the relevance histograms of an analysis.

    ``relevance`` has shape ``(runs, latent_dim)``. Returns ``relevance``, a
    weighted histogram over rank (0 = most relevant) whose value is the mean
    over runs and whose variance is the squared standard deviation over runs,
    and ``relevance_per_run``, a 2D histogram (run, rank) of the sorted values.
    """
    from models.relevance import sort_decreasing, summarize_runs

    runs, latent_dim = relevance.shape
    mean, std = summarize_runs(relevance)
    summary = hist.Hist(
        hist.axis.Integer(0, latent_dim, name="rank", label="latent rank"),
        storage=hist.storage.Weight(),
        label="relevance",
    )
    summary.view().value = mean
    summary.view().variance = std**2

    per_run = hist.Hist(
        hist.axis.Integer(0, runs, name="run", label="run"),
        hist.axis.Integer(0, latent_dim, name="rank", label="latent rank"),
        storage=hist.storage.Double(),
        label="relevance",
    )
    per_run.view()[...] = sort_decreasing(relevance)
    return {"relevance": summary, "relevance_per_run": per_run}


def _edges(values: np.ndarray, bins: int) -> tuple[float, float]:
    low, high = np.percentile(values, [0.5, 99.5]) if values.size else (0.0, 1.0)
    if not np.isfinite([low, high]).all() or high <= low:
        centre = float(np.nanmean(values)) if values.size else 0.0
        low, high = centre - 0.5, centre + 0.5
    pad = 0.02 * (high - low)
    return float(low - pad), float(high + pad)


def latent_feature_histograms(
    mu: np.ndarray,
    features: np.ndarray,
    feature_names,
    latent_order,
    bins: int = 50,
) -> dict[tuple[int, str], hist.Hist]:
    """Fill one 2D histogram of latent mean against input feature per pair.

    ``mu`` is ``(n_events, latent_dim)`` for one run, ``features`` the matching
    ``(n_events, n_features)`` inputs in GeV, and ``latent_order`` the latent
    indices from most to least relevant. Keys are ``(rank, feature name)``.
    Axis ranges cover the central 99% of each quantity, with flow bins for
    the rest.
    """
    filled = {}
    for rank, latent in enumerate(latent_order):
        y = mu[:, latent]
        y_range = _edges(y, bins)
        for column, name in enumerate(feature_names):
            x = features[:, column]
            x_range = _edges(x, bins)
            h = hist.Hist(
                hist.axis.Regular(
                    bins, *x_range, name="feature", label=f"{name} [GeV]"
                ),
                hist.axis.Regular(
                    bins, *y_range, name="latent", label=rf"$\mu_{{{rank + 1}}}$"
                ),
                storage=hist.storage.Double(),
            )
            h.fill(feature=x, latent=y)
            filled[(rank, name)] = h
    return filled
