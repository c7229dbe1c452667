"""Estimate how many dimensions the events, or a model's latents, really use.

The intrinsic dimension estimators run on standardized features (each column
centred and divided by its standard deviation; constant columns dropped):

- PCA: the number of principal components that explain a given fraction of
  the variance (99 % by default). It counts the dimensions of the smallest
  linear subspace that contains the data, so a sphere in R³ counts 3.
- TwoNN (Facco et al., Sci. Rep. 7 (2017) 12140), from the ratio of each
  point's second to first nearest-neighbour distance.
- MLE (Levina & Bickel, NIPS 2004), from the distances to the k nearest
  neighbours of each point.

The last two follow the manifold, so a sphere counts 2. They come from
``skdim.id.TwoNN`` and ``skdim.id.MLE`` of scikit-dimension. For the latents,
:func:`active_units` counts the units whose mean varies across events (Burda,
Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016).

Every estimate comes with a bootstrap standard deviation from ``n_boot``
resamplings of the events, drawn with a seeded generator.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import skdim


@dataclass(frozen=True)
class DimensionEstimate:
    """One estimate of a dimension.

    Attributes:
        estimator: Name of the estimator and its main setting.
        value: The estimate on the full (or subsampled) data.
        std: Standard deviation of the estimate over bootstrap resamplings,
            NaN when ``n_boot`` is below 2.
    """

    estimator: str
    value: float
    std: float


def standardize(features: np.ndarray) -> np.ndarray:
    """Centre each column and divide it by its standard deviation.

    Constant columns carry no dimension and are dropped. Raises ValueError for
    an array that is not 2D, contains NaN or infinity, or has no varying
    column.
    """
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2:
        msg = f"features has shape {array.shape}, expected (n_events, n_features)"
        raise ValueError(msg)
    if not np.all(np.isfinite(array)):
        msg = "features contains NaN or infinite values; drop those events first"
        raise ValueError(msg)

    spread = array.std(axis=0)
    varying = spread > 0.0
    if not np.any(varying):
        msg = "every feature is constant, so the data have dimension 0"
        raise ValueError(msg)
    return (array[:, varying] - array[:, varying].mean(axis=0)) / spread[varying]


def _bootstrap_std(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) >= 2 else float("nan")


def _count_components(standardized: np.ndarray, variance_fraction: float) -> int:
    centred = standardized - standardized.mean(axis=0)
    singular_values = np.linalg.svd(centred, compute_uv=False)
    explained = np.cumsum(singular_values**2) / np.sum(singular_values**2)
    # A tiny tolerance keeps a fraction reached exactly from needing one more.
    return int(np.searchsorted(explained, variance_fraction - 1e-12) + 1)


def pca_dimension(
    features: np.ndarray,
    *,
    variance_fraction: float = 0.99,
    n_boot: int = 20,
    seed: int = 0,
) -> DimensionEstimate:
    """Count the principal components that explain ``variance_fraction`` of the
    variance of the standardized features."""
    if not 0.0 < variance_fraction <= 1.0:
        msg = f"variance_fraction must be in (0, 1], got {variance_fraction}"
        raise ValueError(msg)
    standardized = standardize(features)
    value = _count_components(standardized, variance_fraction)

    rng = np.random.default_rng(seed)
    n_events = len(standardized)
    replicates = [
        _count_components(
            standardized[rng.integers(0, n_events, n_events)], variance_fraction
        )
        for _ in range(n_boot)
    ]
    return DimensionEstimate(
        estimator=f"PCA ({variance_fraction:.0%} variance)",
        value=float(value),
        std=_bootstrap_std(replicates),
    )


def _drop_duplicates(points: np.ndarray) -> np.ndarray:
    """Drop repeated points, which have a nearest-neighbour distance of zero
    and make both nearest-neighbour estimators degenerate."""
    unique = np.unique(points, axis=0)
    n_repeated = len(points) - len(unique)
    if n_repeated:
        warnings.warn(
            f"dropped {n_repeated} repeated events before estimating the "
            "intrinsic dimension, because a repeated point has a nearest-neighbour "
            "distance of zero",
            # Point at the caller of twonn_dimension or mle_dimension.
            stacklevel=4,
        )
    return unique


def _nearest_neighbour_estimate(
    features: np.ndarray,
    estimate,
    max_points: int,
    n_boot: int,
    seed: int,
) -> tuple[float, float]:
    """Run ``estimate(points)`` on a seeded subsample of at most ``max_points``
    standardized events, and on ``n_boot`` bootstrap resamplings of that size.

    A bootstrap resampling repeats events, so each is reduced to its distinct
    events, about 63 % of the draws when all events are drawn.
    """
    if max_points < 3:
        msg = f"max_points must be at least 3 for nearest neighbours, got {max_points}"
        raise ValueError(msg)
    standardized = _drop_duplicates(standardize(features))
    n_events = len(standardized)
    n_points = min(n_events, max_points)
    rng = np.random.default_rng(seed)

    subsample = rng.choice(n_events, size=n_points, replace=False)
    value = estimate(standardized[subsample])

    replicates = []
    for _ in range(n_boot):
        drawn = np.unique(rng.integers(0, n_events, n_points))
        replicates.append(estimate(standardized[drawn]))
    return float(value), _bootstrap_std(replicates)


def twonn_dimension(
    features: np.ndarray,
    *,
    discard_fraction: float = 0.1,
    max_points: int = 5000,
    n_boot: int = 20,
    seed: int = 0,
) -> DimensionEstimate:
    """Estimate the intrinsic dimension with TwoNN (``skdim.id.TwoNN``).

    ``discard_fraction`` of the largest distance ratios are left out of the
    fit, as Facco et al. recommend. At most ``max_points`` events, drawn with
    ``seed``, enter each estimate.
    """

    def estimate(points: np.ndarray) -> float:
        return skdim.id.TwoNN(discard_fraction=discard_fraction).fit(points).dimension_

    value, std = _nearest_neighbour_estimate(
        features, estimate, max_points, n_boot, seed
    )
    return DimensionEstimate(estimator="TwoNN", value=value, std=std)


def mle_dimension(
    features: np.ndarray,
    *,
    n_neighbors: int = 20,
    max_points: int = 5000,
    n_boot: int = 20,
    seed: int = 0,
) -> DimensionEstimate:
    """Estimate the intrinsic dimension with the Levina-Bickel MLE
    (``skdim.id.MLE``).

    Each point's estimate uses its ``n_neighbors`` nearest neighbours, and the
    estimates are combined by skdim's default, the inverse of the mean of their
    inverses. At most ``max_points`` events, drawn with ``seed``, enter each
    estimate.
    """

    def estimate(points: np.ndarray) -> float:
        return skdim.id.MLE().fit(points, n_neighbors=n_neighbors).dimension_

    value, std = _nearest_neighbour_estimate(
        features, estimate, max_points, n_boot, seed
    )
    return DimensionEstimate(estimator=f"MLE (k={n_neighbors})", value=value, std=std)


def _check_latent_means(mu: np.ndarray) -> np.ndarray:
    array = np.asarray(mu, dtype=np.float64)
    if array.ndim != 2:
        msg = f"mu has shape {array.shape}, expected (n_events, n_latents)"
        raise ValueError(msg)
    if not np.all(np.isfinite(array)):
        msg = "mu contains NaN or infinite values; check the encoder outputs"
        raise ValueError(msg)
    return array


def active_unit_mask(mu: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Return which latent units are active: the variance over events of their
    encoder mean ``mu`` (shape ``(n_events, n_latents)``) exceeds ``threshold``.
    """
    return _check_latent_means(mu).var(axis=0) > threshold


def active_units(
    mu: np.ndarray, threshold: float = 0.01, *, n_boot: int = 20, seed: int = 0
) -> DimensionEstimate:
    """Count the active latent units, see :func:`active_unit_mask`.

    The threshold 0.01 is that of Burda, Grosse & Salakhutdinov (2016), in the
    units of a latent whose prior is a standard normal.
    """
    means = _check_latent_means(mu)
    value = int(np.sum(means.var(axis=0) > threshold))

    rng = np.random.default_rng(seed)
    n_events = len(means)
    replicates = [
        int(np.sum(means[rng.integers(0, n_events, n_events)].var(axis=0) > threshold))
        for _ in range(n_boot)
    ]
    return DimensionEstimate(
        estimator=f"active units (variance > {threshold:g})",
        value=float(value),
        std=_bootstrap_std(replicates),
    )


def estimate_dimensions(
    features: np.ndarray,
    mu: np.ndarray | None = None,
    *,
    max_points: int = 5000,
    n_boot: int = 20,
    seed: int = 0,
) -> list[DimensionEstimate]:
    """Run PCA, TwoNN and MLE on the features, and count the active units of
    ``mu`` when given, each with its default settings."""
    estimates = [
        pca_dimension(features, n_boot=n_boot, seed=seed),
        twonn_dimension(features, max_points=max_points, n_boot=n_boot, seed=seed),
        mle_dimension(features, max_points=max_points, n_boot=n_boot, seed=seed),
    ]
    if mu is not None:
        estimates.append(active_units(mu, n_boot=n_boot, seed=seed))
    return estimates
