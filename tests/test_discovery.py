"""Constraint discovery on synthetic events whose constraints are known."""

import math

import numpy as np
import pytest
import vector

from models.discovery import (
    APPROXIMATE,
    EXACT,
    Constraint,
    discover_constraints,
    find_linear_constraints,
    find_quadratic_constraints,
    format_constraint,
)

Z_MASS = 91.1876
Z_WIDTH = 2.4952
THREE_MOMENTA = ["px_mu-", "py_mu-", "pz_mu-", "px_mu+", "py_mu+", "pz_mu+"]
FOUR_MOMENTA = [
    "px_mu-",
    "py_mu-",
    "pz_mu-",
    "E_mu-",
    "px_mu+",
    "py_mu+",
    "pz_mu+",
    "E_mu+",
]


def _isotropic_directions(rng, n_events):
    cos_theta = rng.uniform(-1.0, 1.0, n_events)
    phi = rng.uniform(0.0, 2 * math.pi, n_events)
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    return np.column_stack(
        [sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta]
    )


def _circle_events(n_events=10_000, radius=10.0, seed=0):
    angle = np.random.default_rng(seed).uniform(0.0, 2 * math.pi, n_events)
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def _ee_to_mumu_events(n_events=5000, sqrt_s=80.0, seed=0):
    """e+e- -> mu+mu- at fixed sqrt(s): massless muons back to back, each
    with |p| = sqrt(s)/2, columns (px, py, pz) of the mu- then the mu+."""
    rng = np.random.default_rng(seed)
    momentum = _isotropic_directions(rng, n_events) * sqrt_s / 2
    return np.hstack([momentum, -momentum])


def _breit_wigner_masses(rng, n_events, half_window):
    """Draw masses from a Breit-Wigner (Cauchy) line shape around the Z mass,
    truncated to Z_MASS ± half_window, by inverting its cumulative function."""
    half_width = Z_WIDTH / 2
    edge = math.atan(half_window / half_width)
    return Z_MASS + half_width * np.tan(rng.uniform(-edge, edge, n_events))


def _drell_yan_events(n_events=10_000, half_window=5.0, max_rapidity=2.4, seed=0):
    """Partonic pp -> Z -> mu+mu- with zero pair pT: massless muons decaying
    isotropically in the pair rest frame, then boosted along the beam with a
    rapidity uniform in ±max_rapidity. Returns the (px, py, pz, E) of the mu-
    then the mu+, and the generated masses."""
    rng = np.random.default_rng(seed)
    mass = _breit_wigner_masses(rng, n_events, half_window)
    rapidity = rng.uniform(-max_rapidity, max_rapidity, n_events)
    momentum = _isotropic_directions(rng, n_events) * (mass / 2)[:, None]
    energy = mass / 2

    def boost_along_beam(p):
        pz = np.cosh(rapidity) * p[:, 2] + np.sinh(rapidity) * energy
        e = np.cosh(rapidity) * energy + np.sinh(rapidity) * p[:, 2]
        return np.column_stack([p[:, 0], p[:, 1], pz, e])

    features = np.hstack([boost_along_beam(momentum), boost_along_beam(-momentum)])
    return features, mass


def _expressions(constraints, status=None, degree=None):
    return [
        constraint.expression
        for constraint in constraints
        if (status is None or constraint.status == status)
        and (degree is None or constraint.degree == degree)
    ]


def test_circle_has_one_quadratic_constraint():
    constraints = discover_constraints(_circle_events(), ["x1", "x2"], unit="")

    assert _expressions(constraints) == ["x1² + x2²"]
    (circle,) = constraints
    assert circle.status == EXACT
    assert circle.degree == 2
    assert circle.constant == pytest.approx(100.0, abs=1e-9)
    assert circle.spread < 1e-9


def test_ee_momentum_conservation_and_energy():
    sqrt_s = 80.0
    constraints = discover_constraints(_ee_to_mumu_events(sqrt_s=sqrt_s), THREE_MOMENTA)

    assert _expressions(constraints, degree=1) == [
        "px_mu- + px_mu+",
        "py_mu- + py_mu+",
        "pz_mu- + pz_mu+",
    ]
    assert _expressions(constraints, degree=2) == ["px_mu-² + py_mu-² + pz_mu-²"]
    assert all(constraint.status == EXACT for constraint in constraints)

    for balance in constraints[:3]:
        assert balance.constant == pytest.approx(0.0, abs=1e-9)
        assert balance.spread < 1e-9
        assert balance.unit == "GeV"

    energy = constraints[3]
    assert energy.constant == pytest.approx((sqrt_s / 2) ** 2, rel=1e-12)
    assert energy.spread < 1e-9
    assert energy.unit == "GeV²"


def test_drell_yan_balances_masses_and_resonance():
    features, mass = _drell_yan_events()

    constraints = discover_constraints(features, FOUR_MOMENTA)

    assert _expressions(constraints, degree=1) == [
        "px_mu- + px_mu+",
        "py_mu- + py_mu+",
    ]
    assert _expressions(constraints, status=EXACT, degree=2) == [
        "E_mu-² − px_mu-² − py_mu-² − pz_mu-²",
        "E_mu+² − px_mu+² − py_mu+² − pz_mu+²",
    ]
    # (E1 + E2)² − (pz1 + pz2)² is m² once the pair pT is zero.
    assert _expressions(constraints, status=APPROXIMATE) == [
        "E_mu-² + 2 E_mu-·E_mu+ + E_mu+² − pz_mu-² − 2 pz_mu-·pz_mu+ − pz_mu+²"
    ]

    for exact in constraints[:4]:
        assert exact.status == EXACT
        assert exact.constant == pytest.approx(0.0, abs=1e-6)
        assert exact.spread < 1e-6

    resonance = constraints[4]
    lower, median, upper = np.percentile(mass**2, [25, 50, 75])
    assert resonance.constant == pytest.approx(np.mean(mass**2), rel=1e-9)
    assert resonance.spread == pytest.approx(np.std(mass**2), rel=1e-6)
    assert resonance.quartiles == pytest.approx((lower, upper), rel=1e-9)
    assert resonance.core_spread == pytest.approx((upper - lower) / 1.34898, rel=1e-5)
    assert resonance.relative_spread == pytest.approx(
        np.std(mass**2) / np.mean(mass**2), rel=1e-6
    )
    assert resonance.relative_spread < 0.05
    assert resonance.core_relative_spread == pytest.approx(
        (upper - lower) / 1.34898 / median, rel=1e-5
    )


def test_resonance_peak_found_despite_tails():
    # In a ±30 GeV window the tails give m² a standard deviation of about 11 %
    # of its mean, but half of the events stay within m_Z ± Γ_Z/2.
    half_window = 30.0
    features, mass = _drell_yan_events(n_events=5000, half_window=half_window)

    constraints = discover_constraints(features, FOUR_MOMENTA)

    assert _expressions(constraints, status=APPROXIMATE) == [
        "E_mu-² + 2 E_mu-·E_mu+ + E_mu+² − pz_mu-² − 2 pz_mu-·pz_mu+ − pz_mu+²"
    ]
    resonance = constraints[-1]
    assert resonance.spread == pytest.approx(np.std(mass**2), rel=1e-6)
    assert resonance.relative_spread > 0.1
    assert resonance.core_relative_spread < 0.05
    # The quartiles of the Breit-Wigner cut at ±30 GeV lie at
    # m_Z ± Γ_Z/2 tan(edge/2), so those of m² lie about 2 m_Z times that apart.
    edge = math.atan(half_window / (Z_WIDTH / 2))
    half_iqr = 2 * Z_MASS * (Z_WIDTH / 2) * math.tan(edge / 2)
    lower, upper = resonance.quartiles
    assert (upper - lower) / 2 == pytest.approx(half_iqr, rel=0.05)


def test_flat_mass_spectrum_has_no_mass_constraint():
    # Scaling each event's four-momenta scales its mass: the masses of the
    # ±5 GeV peak times a uniform factor spread over about 60-120 GeV, no peak.
    features, _ = _drell_yan_events(n_events=5000)
    rng = np.random.default_rng(4)
    mass = rng.uniform(60.0, 120.0, len(features))
    features = features * (mass / Z_MASS)[:, None]

    constraints = discover_constraints(features, FOUR_MOMENTA)

    assert _expressions(constraints, status=APPROXIMATE) == []
    assert len(constraints) == 4


def test_pair_with_pt_gives_minkowski_product():
    features, mass = _drell_yan_events(n_events=5000, seed=1)
    rng = np.random.default_rng(5)
    pair_pt = rng.exponential(5.0, len(mass))
    azimuth = rng.uniform(0.0, 2 * math.pi, len(mass))
    transverse_mass = np.sqrt(mass**2 + pair_pt**2)
    velocity = vector.array(
        {
            "x": pair_pt * np.cos(azimuth) / transverse_mass,
            "y": pair_pt * np.sin(azimuth) / transverse_mass,
            "z": np.zeros(len(mass)),
        }
    )

    def boost(columns):
        momenta = vector.array(
            dict(zip(["px", "py", "pz", "E"], columns.T, strict=True))
        ).boost_beta3(velocity)
        return np.column_stack([momenta.px, momenta.py, momenta.pz, momenta.E])

    boosted = np.hstack([boost(features[:, :4]), boost(features[:, 4:])])

    constraints = discover_constraints(boosted, FOUR_MOMENTA)

    # With pT the balances are gone, and m²/2 = E1 E2 − p1.p2 stays.
    assert _expressions(constraints, degree=1) == []
    assert _expressions(constraints, status=APPROXIMATE) == [
        "E_mu-·E_mu+ − px_mu-·px_mu+ − py_mu-·py_mu+ − pz_mu-·pz_mu+"
    ]
    product = constraints[-1]
    assert product.spread == pytest.approx(np.std(mass**2) / 2, rel=1e-6)


def test_independent_features_have_no_constraint():
    features = np.random.default_rng(1).uniform(-10.0, 10.0, size=(10_000, 2))

    assert discover_constraints(features, ["x1", "x2"], unit="") == []


def test_flat_quadratic_is_not_a_constraint():
    rng = np.random.default_rng(3)
    features = np.column_stack(
        [rng.uniform(40.0, 60.0, 5000), rng.uniform(-10.0, 10.0, 5000)]
    )

    # 100 x − x² varies by only 1.2 % of its mean, but only because x stays
    # near 50, where its gradient vanishes: measured from its maximum 2500
    # the spread is about 90 % of the value, so it is rejected.
    assert discover_constraints(features, ["x", "y"], unit="") == []


def test_small_noise_makes_balance_approximate():
    features = _ee_to_mumu_events()
    features[:, 3] += np.random.default_rng(2).normal(0.0, 1e-3, len(features))

    constraints = find_linear_constraints(features, THREE_MOMENTA)

    assert _expressions(constraints) == [
        "px_mu- + px_mu+",
        "py_mu- + py_mu+",
        "pz_mu- + pz_mu+",
    ]
    assert constraints[0].status == APPROXIMATE
    assert constraints[0].spread == pytest.approx(1e-3, rel=0.05)
    assert constraints[1].status == EXACT


def test_eigenvalue_threshold_controls_linear_search():
    features = _ee_to_mumu_events()
    features[:, 3] += np.random.default_rng(2).normal(0.0, 1.0, len(features))

    default = find_linear_constraints(features, THREE_MOMENTA)
    looser = find_linear_constraints(features, THREE_MOMENTA, eigenvalue_threshold=1e-3)

    # The px balance now spreads by 1 GeV, a relative eigenvalue near 2e-4.
    assert _expressions(default) == ["py_mu- + py_mu+", "pz_mu- + pz_mu+"]
    assert "px_mu- + px_mu+" in _expressions(looser)


def test_quadratic_search_uses_given_linear_constraints():
    features = _ee_to_mumu_events()

    constraints = find_quadratic_constraints(
        features, THREE_MOMENTA, linear_constraints=[]
    )

    # Without the balances, their products with each feature look like new
    # quadratic constraints, so more than the energy constraint is found.
    assert len(constraints) > 1
    assert "px_mu-² + py_mu-² + pz_mu-²" in _expressions(constraints)


def test_format_constraint_text():
    balance = Constraint(
        terms=((1.0, ("px_mu-",)), (1.0, ("px_mu+",))),
        constant=-2e-14,
        spread=3.1e-13,
        quartiles=(-1e-13, 1e-13),
        cancellation=1e-14,
        relative_spread=math.inf,
        core_relative_spread=math.inf,
        status=EXACT,
        unit="GeV",
    )
    resonance = Constraint(
        terms=((2.0, ("E_mu-", "E_mu+")), (-2.0, ("pz_mu-", "pz_mu+"))),
        constant=8316.84,
        spread=323.7,
        quartiles=(8131.2, 8502.96),
        cancellation=0.004,
        relative_spread=0.039,
        core_relative_spread=0.033,
        status=APPROXIMATE,
        unit="GeV²",
    )
    negative = Constraint(
        terms=((-0.5, ("x1", "x1")), (1.0, ("x2",))),
        constant=-1.23456,
        spread=0.0123,
        quartiles=(-1.2429, -1.2274),
        cancellation=0.1,
        relative_spread=0.01,
        core_relative_spread=0.009,
        status=APPROXIMATE,
        unit="",
    )

    assert format_constraint(balance) == "px_mu- + px_mu+ = 0.000 ± 3.1e-13 GeV (exact)"
    assert str(resonance) == (
        "2 E_mu-·E_mu+ − 2 pz_mu-·pz_mu+ = 8317 ± 320 GeV² "
        "(approximate, interquartile 8131 to 8503)"
    )
    assert str(negative) == (
        "x2 − 0.5 x1² = −1.235 ± 0.012 (approximate, interquartile −1.243 to −1.227)"
    )


def test_feature_names_must_be_unique():
    with pytest.raises(ValueError, match="feature names must be unique"):
        discover_constraints(np.zeros((10, 2)), ["x", "x"])


def test_too_few_events_are_rejected():
    with pytest.raises(ValueError, match="got 3 events for 6 features"):
        discover_constraints(np.ones((3, 6)), THREE_MOMENTA)


def test_too_few_events_for_monomials_are_rejected():
    features = _ee_to_mumu_events(n_events=20)

    with pytest.raises(ValueError, match="got 20 events for the 27 monomials"):
        find_quadratic_constraints(features, THREE_MOMENTA, linear_constraints=[])


def test_nan_features_are_rejected():
    features = _circle_events(n_events=20)
    features[4, 1] = np.nan

    with pytest.raises(ValueError, match="NaN or infinite"):
        discover_constraints(features, ["x1", "x2"])
