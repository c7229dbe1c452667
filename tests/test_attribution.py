"""Sparse formulas for latents, and their correlations with observables."""

import numpy as np
import pytest

from models.attribution import (
    attribute_latent,
    attribute_latents,
    correlate_observables,
    format_formula,
)

NAMES = ["px_mu-", "py_mu-", "pz_mu-", "px_mu+", "py_mu+", "pz_mu+"]


@pytest.fixture
def features():
    rng = np.random.default_rng(11)
    return rng.normal(0.0, 20.0, size=(4000, len(NAMES)))


def _noise_with_r2(features, signal, r2, seed=3):
    """Return noise orthogonal to the features and the intercept, scaled so
    that the least-squares fit of ``signal + noise`` has exactly ``r2``."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=len(signal))
    design = np.column_stack([features, np.ones(len(signal))])
    noise -= design @ np.linalg.lstsq(design, noise, rcond=None)[0]
    target_variance = signal.var() * (1 - r2) / r2
    return noise * np.sqrt(target_variance / noise.var())


def test_difference_of_pair_reads_as_one_term(features):
    signal = 0.7 * (features[:, 0] - features[:, 3])
    latent = signal + _noise_with_r2(features, signal, 0.97)

    attribution = attribute_latent(latent, features, NAMES)

    assert format_formula(attribution) == "z1 ≈ 0.70 (px_mu- − px_mu+), R² = 0.97"
    assert attribution.names == ("px_mu-", "px_mu+")
    assert attribution.coefficients == pytest.approx([0.7, -0.7], rel=1e-9)
    assert attribution.r2 == pytest.approx(0.97, abs=1e-9)


def test_sum_of_pair_reads_as_one_term(features):
    latent = 0.05 * (features[:, 2] + features[:, 5])

    attribution = attribute_latent(latent, features, NAMES, label="z2")

    assert format_formula(attribution) == "z2 ≈ 0.050 (pz_mu- + pz_mu+), R² = 1.00"


def test_terms_are_ordered_by_contribution(features):
    latent = -0.7 * (features[:, 0] - features[:, 3]) + 0.2 * features[:, 2] + 1.5

    attribution = attribute_latent(latent, features, NAMES)

    assert format_formula(attribution) == (
        "z1 ≈ −0.70 (px_mu- − px_mu+) + 0.20 pz_mu- + 1.50, R² = 1.00"
    )
    assert attribution.intercept == pytest.approx(1.5, abs=1e-9)


def test_unequal_pair_coefficients_stay_separate(features):
    latent = 0.7 * features[:, 0] - 0.5 * features[:, 3]

    attribution = attribute_latent(latent, features, NAMES)

    assert format_formula(attribution) == ("z1 ≈ 0.70 px_mu- − 0.50 px_mu+, R² = 1.00")


def test_pair_within_tolerance_shares_coefficient(features):
    latent = 0.70 * features[:, 0] - 0.66 * features[:, 3]

    attribution = attribute_latent(latent, features, NAMES)

    assert format_formula(attribution) == "z1 ≈ 0.68 (px_mu- − px_mu+), R² = 1.00"
    # The shared coefficient costs a little of the fit on all features.
    assert attribution.r2 < attribution.r2_full
    assert attribution.r2 > 0.99


def test_selection_stops_within_r2_tolerance(features):
    # pz_mu+ explains 0.5 % of the variance, below the default 0.01 tolerance.
    latent = features[:, 1] + 0.071 * features[:, 5]

    attribution = attribute_latent(latent, features, NAMES)

    assert attribution.names == ("py_mu-",)
    assert attribution.r2_full == pytest.approx(1.0, abs=1e-12)
    assert attribution.r2 > attribution.r2_full - 0.01


def test_coefficients_are_in_feature_units(features):
    # The same physics with features in MeV instead of GeV.
    latent = 0.7 * (features[:, 0] - features[:, 3])

    attribution = attribute_latent(latent, features * 1000.0, NAMES)

    assert attribution.coefficients == pytest.approx([0.7e-3, -0.7e-3], rel=1e-9)
    assert format_formula(attribution) == ("z1 ≈ 0.00070 (px_mu- − px_mu+), R² = 1.00")


def test_unrelated_latent_has_no_terms(features):
    noise = np.random.default_rng(5).normal(size=len(features))
    latent = noise - noise.mean() + 0.25

    attribution = attribute_latent(latent, features, NAMES, label="z4")

    assert attribution.terms == ()
    assert attribution.r2_full < 0.01
    assert format_formula(attribution) == "z4 ≈ 0.25, R² = 0.00"


def test_attribute_latents_labels_columns(features):
    latents = np.column_stack([features[:, 0], -features[:, 4]])

    first, second = attribute_latents(latents, features, NAMES)

    assert format_formula(first) == "z1 ≈ 1.0 px_mu-, R² = 1.00"
    assert format_formula(second) == "z2 ≈ −1.0 py_mu+, R² = 1.00"


def test_constant_latent_is_rejected(features):
    with pytest.raises(ValueError, match="latent z3 is constant"):
        attribute_latent(np.full(len(features), 0.2), features, NAMES, label="z3")


def test_feature_names_must_match_columns(features):
    with pytest.raises(ValueError, match="got 5 feature names for 6 feature columns"):
        attribute_latent(features[:, 0], features, NAMES[:5])


def test_correlations_with_observables():
    rng = np.random.default_rng(2)
    observable = rng.normal(size=5000)
    latents = np.column_stack([observable, np.exp(observable), rng.normal(size=5000)])

    table = correlate_observables(latents, {"m_mumu": observable})

    assert table.latent_names == ("z1", "z2", "z3")
    assert table.observable_names == ("m_mumu",)
    assert table.pearson[0, 0] == pytest.approx(1.0, abs=1e-12)
    assert table.spearman[0, 0] == pytest.approx(1.0, abs=1e-12)
    # A monotonic but curved relation: rank correlation 1, linear below 1.
    assert table.spearman[1, 0] == pytest.approx(1.0, abs=1e-12)
    assert table.pearson[1, 0] < 0.8
    assert abs(table.pearson[2, 0]) < 0.05
    assert abs(table.spearman[2, 0]) < 0.05
    assert table.rows()[0] == ("z1", "m_mumu", pytest.approx(1.0), pytest.approx(1.0))


def test_constant_observable_gives_nan():
    latents = np.random.default_rng(4).normal(size=(100, 2))

    table = correlate_observables(latents, {"flat": np.ones(100)})

    assert np.all(np.isnan(table.pearson))
    assert np.all(np.isnan(table.spearman))


def test_observable_length_must_match():
    latents = np.zeros((10, 2))

    with pytest.raises(ValueError, match=r"observable 'y_mumu' has shape \(9,\)"):
        correlate_observables(latents, {"y_mumu": np.zeros(9)})
