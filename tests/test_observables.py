"""Dimuon observables on hand-built events with known values."""

import math

import numpy as np
import pytest
import vector

from processors.observables import (
    OBSERVABLE_UNITS,
    collins_soper_angles,
    compute_observables,
    evaluate_observables,
    to_momentum4d,
)

Z_MASS = 91.1876


def _decay_at_rest(direction: np.ndarray, mass: float = Z_MASS):
    """Return massless (mu-, mu+) four-momenta of a pair at rest, the mu-
    flying along ``direction`` (rows of unit 3-vectors)."""
    direction = np.atleast_2d(direction)
    momentum = direction * mass / 2
    energy = np.full((len(direction), 1), mass / 2)
    return np.hstack([momentum, energy]), np.hstack([-momentum, energy])


def _boost(four_momenta: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Boost ``(n, 4)`` four-momenta by the velocity ``beta`` (a 3-vector)."""
    momenta = to_momentum4d(four_momenta)
    velocity = vector.obj(x=beta[0], y=beta[1], z=beta[2])
    boosted = momenta.boost_beta3(velocity)
    return np.column_stack([boosted.px, boosted.py, boosted.pz, boosted.E])


def _direction(cos_theta: float, phi: float) -> np.ndarray:
    sin_theta = math.sqrt(1 - cos_theta**2)
    return np.array([[sin_theta * math.cos(phi), sin_theta * math.sin(phi), cos_theta]])


def test_z_at_rest_decaying_along_x():
    mu_minus, mu_plus = _decay_at_rest(np.array([[1.0, 0.0, 0.0]]))

    values = compute_observables(mu_minus, mu_plus)

    assert values["m_mumu"][0] == pytest.approx(Z_MASS, abs=1e-9)
    assert values["pt_mumu"][0] == pytest.approx(0.0, abs=1e-12)
    assert values["y_mumu"][0] == pytest.approx(0.0, abs=1e-12)
    # mu- perpendicular to the beam: theta = 90 degrees, along the lab x axis.
    assert values["cos_theta_cs"][0] == pytest.approx(0.0, abs=1e-12)
    assert values["phi_cs"][0] == pytest.approx(0.0, abs=1e-12)
    assert values["delta_phi"][0] == pytest.approx(math.pi, abs=1e-12)


def test_observables_return_float64_arrays():
    mu_minus, mu_plus = _decay_at_rest(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))

    values = compute_observables(mu_minus, mu_plus)

    assert set(values) == set(OBSERVABLE_UNITS)
    for name, array in values.items():
        assert array.dtype == np.float64, name
        assert array.shape == (2,), name


@pytest.mark.parametrize(
    ("direction", "expected_cos_theta"),
    [([0.0, 0.0, 1.0], 1.0), ([0.0, 0.0, -1.0], -1.0)],
)
def test_z_at_rest_decaying_along_beam(direction, expected_cos_theta):
    mu_minus, mu_plus = _decay_at_rest(np.array([direction]))

    cos_theta, _ = collins_soper_angles(mu_minus, mu_plus)

    assert cos_theta[0] == pytest.approx(expected_cos_theta, abs=1e-12)


@pytest.mark.parametrize("rapidity", [1.2, -1.2])
def test_longitudinally_boosted_pair(rapidity):
    cos_theta_rest, phi_rest = 0.5, math.pi / 6
    mu_minus, mu_plus = _decay_at_rest(_direction(cos_theta_rest, phi_rest))
    beta = np.array([0.0, 0.0, math.tanh(rapidity)])
    mu_minus, mu_plus = _boost(mu_minus, beta), _boost(mu_plus, beta)

    values = compute_observables(mu_minus, mu_plus)

    assert values["y_mumu"][0] == pytest.approx(rapidity, abs=1e-12)
    assert values["m_mumu"][0] == pytest.approx(Z_MASS, abs=1e-9)
    assert values["pt_mumu"][0] == pytest.approx(0.0, abs=1e-9)
    # A boost along the beam leaves the rest-frame angles unchanged, but a pair
    # moving towards -z takes the z axis along -z, which flips both signs.
    sign = 1.0 if rapidity > 0 else -1.0
    assert values["cos_theta_cs"][0] == pytest.approx(sign * cos_theta_rest, abs=1e-9)
    assert values["phi_cs"][0] == pytest.approx(sign * phi_rest, abs=1e-9)


@pytest.mark.parametrize(
    ("rest_direction", "expected_cos_theta", "expected_phi"),
    [
        ([0.0, 0.0, 1.0], 1.0, None),
        ([0.0, 1.0, 0.0], 0.0, math.pi / 2),
        ([1.0, 0.0, 0.0], 0.0, 0.0),
        ([0.0, -1.0, 0.0], 0.0, -math.pi / 2),
    ],
)
def test_pair_with_transverse_momentum(
    rest_direction, expected_cos_theta, expected_phi
):
    # A pair moving along +x: the Collins-Soper x axis is along the pair pT.
    mu_minus, mu_plus = _decay_at_rest(np.array([rest_direction]))
    beta = np.array([0.6, 0.0, 0.0])
    mu_minus, mu_plus = _boost(mu_minus, beta), _boost(mu_plus, beta)

    values = compute_observables(mu_minus, mu_plus)

    assert values["pt_mumu"][0] == pytest.approx(Z_MASS * 0.6 / 0.8, rel=1e-12)
    assert values["cos_theta_cs"][0] == pytest.approx(expected_cos_theta, abs=1e-9)
    if expected_phi is not None:
        assert values["phi_cs"][0] == pytest.approx(expected_phi, abs=1e-9)


def test_collins_soper_matches_lab_frame_formulas():
    rng = np.random.default_rng(7)
    momenta = rng.normal(0.0, 30.0, size=(2, 500, 3))
    energies = np.linalg.norm(momenta, axis=2, keepdims=True)
    mu_minus, mu_plus = np.concatenate([momenta, energies], axis=2)

    cos_theta, phi = collins_soper_angles(mu_minus, mu_plus)

    # Closed forms in lab momenta: cos(theta) from light-cone components
    # P± = (E ± pz)/sqrt(2), and phi from Delta = p(mu-) - p(mu+) projected on
    # the pair pT direction and on the transverse part of P_A × Q.
    pair = mu_minus + mu_plus
    mass2 = pair[:, 3] ** 2 - np.sum(pair[:, :3] ** 2, axis=1)
    pt2 = pair[:, 0] ** 2 + pair[:, 1] ** 2
    beam_sign = np.sign(pair[:, 2])

    def light_cone(p, sign):
        return (p[:, 3] + sign * p[:, 2]) / math.sqrt(2)

    expected_cos = (
        beam_sign
        * 2
        * (
            light_cone(mu_minus, 1) * light_cone(mu_plus, -1)
            - light_cone(mu_minus, -1) * light_cone(mu_plus, 1)
        )
        / np.sqrt(mass2 * (mass2 + pt2))
    )
    assert np.allclose(cos_theta, expected_cos, atol=1e-10)

    delta = mu_minus[:, :3] - mu_plus[:, :3]
    pt_direction = pair[:, :2] / np.sqrt(pt2)[:, None]
    # The transverse part of P_A × Q, with P_A = (0, 0, beam_sign).
    normal = beam_sign[:, None] * np.column_stack([-pair[:, 1], pair[:, 0]])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    expected_phi = np.arctan2(
        np.sqrt(mass2 + pt2) * np.sum(delta[:, :2] * normal, axis=1),
        np.sqrt(mass2) * np.sum(delta[:, :2] * pt_direction, axis=1),
    )
    difference = np.angle(np.exp(1j * (phi - expected_phi)))
    assert np.max(np.abs(difference)) < 1e-9


def test_delta_phi_is_absolute_and_wrapped():
    mu_minus = np.array([[10.0, 0.0, 0.0, 10.0], [0.0, 10.0, 0.0, 10.0]])
    # Azimuths 0 - 350 degrees and 90 - 180 degrees.
    angles = np.radians([350.0, 180.0])
    mu_plus = np.column_stack(
        [10 * np.cos(angles), 10 * np.sin(angles), np.zeros(2), np.full(2, 10.0)]
    )

    delta_phi = compute_observables(mu_minus, mu_plus)["delta_phi"]

    assert delta_phi == pytest.approx(np.radians([10.0, 90.0]), abs=1e-12)


def test_evaluate_observables_passes_vector_arrays():
    mu_minus, mu_plus = _decay_at_rest(np.array([[0.0, 0.0, 1.0]]))
    mu_minus = _boost(mu_minus, np.array([0.0, 0.0, 0.5]))
    mu_plus = _boost(mu_plus, np.array([0.0, 0.0, 0.5]))

    values = evaluate_observables(
        mu_minus,
        mu_plus,
        {
            "pz_mumu": lambda minus, plus: (minus + plus).pz,
            "e_ratio": lambda minus, plus: minus.E / plus.E,
        },
    )

    gamma = 1 / math.sqrt(1 - 0.5**2)
    assert values["pz_mumu"][0] == pytest.approx(gamma * 0.5 * Z_MASS, rel=1e-12)
    # E = gamma (E* + beta pz*), with pz* = +E* for the mu- and -E* for the mu+.
    assert values["e_ratio"][0] == pytest.approx(1.5 / 0.5, rel=1e-12)


def test_evaluate_observables_rejects_wrong_shape():
    mu_minus, mu_plus = _decay_at_rest(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))

    with pytest.raises(ValueError, match="observable 'total' returned shape"):
        evaluate_observables(
            mu_minus, mu_plus, {"total": lambda minus, plus: np.sum(minus.E)}
        )


def test_input_with_three_columns_is_rejected():
    with pytest.raises(ValueError, match=r"mu_minus has shape \(2, 3\)"):
        compute_observables(np.zeros((2, 3)), np.zeros((2, 4)))


def test_input_with_nan_is_rejected():
    mu_minus, mu_plus = _decay_at_rest(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    mu_plus[1, 2] = np.nan

    with pytest.raises(ValueError, match=r"mu_plus contains non-finite values"):
        compute_observables(mu_minus, mu_plus)


def test_inputs_of_different_lengths_are_rejected():
    mu_minus, mu_plus = _decay_at_rest(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))

    with pytest.raises(ValueError, match="mu_minus has 2 events but mu_plus has 1"):
        compute_observables(mu_minus, mu_plus[:1])
