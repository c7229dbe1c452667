"""Relevance of each latent direction and the count of relevant latents.

Following V. Sanz, "Learning symmetries in datasets", arXiv:2504.05174, the
relevance of latent j is the spread of the encoder means over events divided
by the mean posterior width::

    relevance_j = std_x(mu_j(x)) / mean_x(sigma_j(x)),   sigma = exp(logvar / 2)

with the population standard deviation (``ddof=0``). An unused latent has
mu_j close to 0 and sigma_j close to 1 for every event, so its relevance is
near 0.
"""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 1.0
ACTIVE_UNITS_THRESHOLD = 0.01


def relevance(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Return the relevance of each latent from per-event encoder outputs.

    ``mu`` and ``logvar`` have shape ``(..., n_events, latent_dim)``; the
    result has shape ``(..., latent_dim)``.
    """
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.exp(0.5 * np.asarray(logvar, dtype=np.float64))
    return mu.std(axis=-2) / sigma.mean(axis=-2)


def sort_decreasing(values: np.ndarray) -> np.ndarray:
    """Sort each run's relevance values (last axis) from largest to smallest."""
    return -np.sort(-np.asarray(values, dtype=np.float64), axis=-1)


def count_relevant(values: np.ndarray, threshold: float = DEFAULT_THRESHOLD):
    """Count, per run, the latents with relevance above ``threshold``.

    The default threshold 1 keeps a latent when its means spread over more
    than one posterior width, that is, when it separates events at all.
    """
    return (np.asarray(values) > threshold).sum(axis=-1)


def summarize_runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean and standard deviation over runs of sorted relevance.

    ``values`` has shape ``(runs, latent_dim)``; each run is sorted first, so
    position i is the i-th most relevant latent of every run. The standard
    deviation uses ``ddof=1`` (0 for a single run).
    """
    ranked = sort_decreasing(values)
    ddof = 1 if ranked.shape[0] > 1 else 0
    return ranked.mean(axis=0), ranked.std(axis=0, ddof=ddof)


def active_units(mu_variance: np.ndarray, threshold: float = ACTIVE_UNITS_THRESHOLD):
    """Count latents whose mean varies over events by more than ``threshold``.

    This is the "active units" measure of Burda, Grosse and Salakhutdinov,
    "Importance Weighted Autoencoders" (2016): ``Var_x(mu_j(x)) > 0.01``.
    """
    return (np.asarray(mu_variance) > threshold).sum(axis=-1)
