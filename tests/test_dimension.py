"""Dimension estimators on point clouds of known dimension.

The tolerances come from 20 seeds of 2000 points each. Around the true 2,
TwoNN scattered with a standard deviation of 0.05 to 0.06 and MLE with 0.01 to
0.015. MLE came out about 0.04 low on the flat square, whose edges bias it.
"""

import math

import numpy as np
import pytest

from models.dimension import (
    DimensionEstimate,
    active_unit_mask,
    active_units,
    estimate_dimensions,
    mle_dimension,
    pca_dimension,
    standardize,
    twonn_dimension,
)

TWONN_TOLERANCE = 0.25
MLE_TOLERANCE = 0.15


def _random_rotation(rng, dimension):
    rotation, _ = np.linalg.qr(rng.normal(size=(dimension, dimension)))
    return rotation


def _sphere_in_6d(n_points, rng):
    """Points on the unit 2-sphere in R³, rotated into R⁶."""
    points = rng.normal(size=(n_points, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    padded = np.hstack([points, np.zeros((n_points, 3))])
    return padded @ _random_rotation(rng, 6).T


def _torus(n_points, rng, major_radius=2.0, minor_radius=1.0):
    """Points on a torus in R³, uniform in its two angles."""
    around, through = rng.uniform(0.0, 2 * math.pi, size=(2, n_points))
    ring = major_radius + minor_radius * np.cos(through)
    return np.column_stack(
        [ring * np.cos(around), ring * np.sin(around), minor_radius * np.sin(through)]
    )


def _plane_in_10d(n_points, rng):
    """Points uniform in a square, rotated into R¹⁰."""
    square = rng.uniform(-1.0, 1.0, size=(n_points, 2))
    padded = np.hstack([square, np.zeros((n_points, 8))])
    return padded @ _random_rotation(rng, 10).T


def _circle_in_3d(n_points, rng):
    angle = rng.uniform(0.0, 2 * math.pi, n_points)
    return np.column_stack(
        [np.cos(angle), np.sin(angle), np.cos(angle) + np.sin(angle)]
    )


CLOUDS = {
    "sphere in R6": (_sphere_in_6d, 2, 3),
    "torus in R3": (_torus, 2, 3),
    "plane in R10": (_plane_in_10d, 2, 2),
}


@pytest.mark.parametrize("cloud", CLOUDS)
def test_pca_counts_linear_span(cloud):
    make_points, _, linear_dimension = CLOUDS[cloud]
    points = make_points(2000, np.random.default_rng(1))

    estimate = pca_dimension(points, n_boot=5)

    assert estimate.value == linear_dimension
    assert estimate.std == 0.0


@pytest.mark.parametrize("cloud", CLOUDS)
def test_twonn_finds_manifold_dimension(cloud):
    make_points, intrinsic_dimension, _ = CLOUDS[cloud]
    points = make_points(2000, np.random.default_rng(1))

    estimate = twonn_dimension(points, n_boot=5)

    assert estimate.estimator == "TwoNN"
    assert estimate.value == pytest.approx(intrinsic_dimension, abs=TWONN_TOLERANCE)
    assert 0.0 < estimate.std < 0.2


@pytest.mark.parametrize("cloud", CLOUDS)
def test_mle_finds_manifold_dimension(cloud):
    make_points, intrinsic_dimension, _ = CLOUDS[cloud]
    points = make_points(2000, np.random.default_rng(1))

    estimate = mle_dimension(points, n_boot=5)

    assert estimate.estimator == "MLE (k=20)"
    assert estimate.value == pytest.approx(intrinsic_dimension, abs=MLE_TOLERANCE)
    assert 0.0 < estimate.std < 0.1


def test_nearest_neighbour_estimators_see_a_circle_as_1d():
    points = _circle_in_3d(2000, np.random.default_rng(2))

    assert twonn_dimension(points, n_boot=0).value == pytest.approx(1.0, abs=0.15)
    assert mle_dimension(points, n_boot=0).value == pytest.approx(1.0, abs=0.1)
    assert pca_dimension(points, n_boot=0).value == 2


def test_bootstrap_is_seeded():
    points = _torus(1000, np.random.default_rng(3))

    first = twonn_dimension(points, n_boot=4, seed=9)
    second = twonn_dimension(points, n_boot=4, seed=9)
    other_seed = twonn_dimension(points, n_boot=4, seed=10)

    assert first == second
    assert other_seed.std != first.std


def test_subsample_limits_points():
    points = _plane_in_10d(3000, np.random.default_rng(4))

    small = mle_dimension(points, max_points=500, n_boot=0)
    full = mle_dimension(points, max_points=3000, n_boot=0)

    assert small.value != full.value
    assert small.value == pytest.approx(2.0, abs=MLE_TOLERANCE)


def test_no_bootstrap_gives_nan_spread():
    estimate = pca_dimension(_torus(500, np.random.default_rng(5)), n_boot=0)

    assert math.isnan(estimate.std)


def test_repeated_events_are_dropped_with_warning():
    points = _sphere_in_6d(1000, np.random.default_rng(6))
    repeated = np.vstack([points, points[:100]])

    with pytest.warns(UserWarning, match="dropped 100 repeated events"):
        estimate = mle_dimension(repeated, n_boot=0)

    assert estimate.value == pytest.approx(2.0, abs=MLE_TOLERANCE)


def test_standardize_drops_constant_columns():
    features = np.column_stack([np.arange(5.0), np.full(5, 3.0), 10 * np.arange(5.0)])

    standardized = standardize(features)

    assert standardized.shape == (5, 2)
    assert standardized.mean(axis=0) == pytest.approx([0.0, 0.0], abs=1e-12)
    assert standardized.std(axis=0) == pytest.approx([1.0, 1.0])


def test_standardize_rejects_constant_data():
    with pytest.raises(ValueError, match="every feature is constant"):
        standardize(np.ones((10, 3)))


def test_active_units_count_varying_means():
    rng = np.random.default_rng(7)
    n_events = 3000
    mu = np.column_stack(
        [
            rng.normal(0.0, 1.0, n_events),
            rng.normal(0.0, 0.5, n_events),
            rng.normal(0.0, 0.05, n_events),  # variance 0.0025, below 0.01
            np.full(n_events, 0.3),
        ]
    )

    estimate = active_units(mu, n_boot=5)

    assert active_unit_mask(mu).tolist() == [True, True, False, False]
    assert estimate.value == 2
    assert estimate.std == 0.0
    assert active_units(mu, threshold=0.001, n_boot=0).value == 3


def test_active_units_reject_one_dimensional_input():
    with pytest.raises(ValueError, match=r"mu has shape \(10,\)"):
        active_units(np.zeros(10))


def test_estimate_dimensions_runs_all():
    points = _sphere_in_6d(1000, np.random.default_rng(8))
    mu = np.random.default_rng(9).normal(size=(1000, 4))

    estimates = estimate_dimensions(points, mu, n_boot=2)

    assert [estimate.estimator for estimate in estimates] == [
        "PCA (99% variance)",
        "TwoNN",
        "MLE (k=20)",
        "active units (variance > 0.01)",
    ]
    assert all(isinstance(estimate, DimensionEstimate) for estimate in estimates)
    assert estimates[3].value == 4
