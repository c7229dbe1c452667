"""Tests of the toy datasets against values computed by hand."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from samples.errors import InputError
from samples.toys import (
    TOYS,
    ToySample,
    complete_elliptic_k,
    generate_circle,
    generate_oscillator,
    generate_pendulum,
    generate_square,
    jacobi_sn_cn,
)

# Sample means are checked to within this many standard errors, so a correct
# generator fails a check with a probability below 1e-6.
N_SIGMA = 5.0


def test_square_shape_and_names():
    features, names = generate_square(n_events=500, radius=3.0, seed=1)

    assert features.shape == (500, 2)
    assert features.dtype == np.float64
    assert names == ["x1", "x2"]


def test_square_bounds():
    radius = 3.0
    features, _ = generate_square(n_events=1000, radius=radius, seed=1)

    assert features.min() >= -radius
    assert features.max() <= radius


def test_square_moments():
    # Uniform on [-R, R]: mean 0, variance R^2 / 3, and the variance of x^2
    # is R^4 / 5 - R^4 / 9 = 4 R^4 / 45.
    n, radius = 1000, 3.0
    features, _ = generate_square(n_events=n, radius=radius, seed=2)

    mean_tolerance = N_SIGMA * radius / math.sqrt(3.0 * n)
    square_tolerance = N_SIGMA * radius**2 * math.sqrt(4.0 / 45.0 / n)
    for column in range(2):
        x = features[:, column]
        assert abs(x.mean()) < mean_tolerance
        assert abs(np.mean(x**2) - radius**2 / 3.0) < square_tolerance


def test_circle_radius_exact():
    radius = 7.5
    features, names = generate_circle(n_events=1000, radius=radius, seed=3)

    assert names == ["x1", "x2"]
    assert features.shape == (1000, 2)
    distance = np.hypot(features[:, 0], features[:, 1])
    np.testing.assert_allclose(distance, radius, rtol=1e-12, atol=0.0)


def test_circle_moments():
    # Uniform angle: mean of x1 is 0 with variance R^2 / 2, and x1^2 has
    # mean R^2 / 2 with variance R^4 (3/8 - 1/4) = R^4 / 8.
    n, radius = 1000, 7.5
    features, _ = generate_circle(n_events=n, radius=radius, seed=4)

    mean_tolerance = N_SIGMA * radius / math.sqrt(2.0 * n)
    square_tolerance = N_SIGMA * radius**2 / math.sqrt(8.0 * n)
    for column in range(2):
        x = features[:, column]
        assert abs(x.mean()) < mean_tolerance
        assert abs(np.mean(x**2) - radius**2 / 2.0) < square_tolerance


def test_oscillator_energy_exact():
    energy, mass, omega = 3.0, 0.5, 4.0
    features, names = generate_oscillator(
        n_events=1000, energy=energy, mass=mass, omega=omega, seed=5
    )

    assert names == ["q", "p"]
    q, p = features[:, 0], features[:, 1]
    total = p**2 / (2.0 * mass) + mass * omega**2 * q**2 / 2.0
    np.testing.assert_allclose(total, energy, rtol=1e-12, atol=0.0)


def test_oscillator_time_average():
    # Uniform in time, the kinetic and potential energies each average E / 2
    # (virial theorem). With q = A cos(phase), q^2 has mean A^2 / 2 and
    # standard deviation A^2 / sqrt(8).
    n, energy, mass, omega = 1000, 3.0, 0.5, 4.0
    features, _ = generate_oscillator(
        n_events=n, energy=energy, mass=mass, omega=omega, seed=6
    )

    q, p = features[:, 0], features[:, 1]
    amplitude_squared = 2.0 * energy / (mass * omega**2)
    tolerance = N_SIGMA * amplitude_squared / math.sqrt(8.0 * n)
    assert abs(np.mean(q**2) - amplitude_squared / 2.0) < tolerance
    assert abs(q.mean()) < N_SIGMA * math.sqrt(amplitude_squared / 2.0 / n)
    assert abs(p.mean()) < N_SIGMA * math.sqrt(mass * energy / n)


def test_pendulum_constraints_exact():
    length = 2.0
    features, names = generate_pendulum(n_events=1000, length=length, seed=7)

    assert names == ["x", "y", "vx", "vy"]
    assert features.shape == (1000, 4)
    x, y, vx, vy = features.T
    np.testing.assert_allclose(x**2 + y**2, length**2, rtol=1e-12, atol=0.0)
    speed_scale = np.hypot(vx, vy).max() * length
    assert np.abs(x * vx + y * vy).max() < 1e-12 * speed_scale


def test_pendulum_single_trajectory_energy():
    # Energy per unit mass, v^2 / 2 + g y, equals -g L cos(amplitude) at every
    # point of one trajectory.
    length, gravity, amplitude = 1.5, 9.81, 2.5
    features, _ = generate_pendulum(
        n_events=1000,
        length=length,
        gravity=gravity,
        min_amplitude=amplitude,
        max_amplitude=amplitude,
        seed=8,
    )

    _, y, vx, vy = features.T
    energy = 0.5 * (vx**2 + vy**2) + gravity * y
    expected = -gravity * length * math.cos(amplitude)
    np.testing.assert_allclose(energy, expected, rtol=0.0, atol=1e-12 * gravity)


def test_pendulum_amplitudes_uniform():
    # The amplitude follows from the energy per unit mass,
    # cos(amplitude) = -(v^2 / 2 + g y) / (g L), and should be uniform.
    n, length, gravity = 1000, 1.0, 9.81
    low, high = 0.5, 2.5
    features, _ = generate_pendulum(
        n_events=n,
        length=length,
        gravity=gravity,
        min_amplitude=low,
        max_amplitude=high,
        seed=9,
    )

    _, y, vx, vy = features.T
    energy = 0.5 * (vx**2 + vy**2) + gravity * y
    amplitude = np.arccos(np.clip(-energy / (gravity * length), -1.0, 1.0))
    assert amplitude.min() >= low - 1e-6
    assert amplitude.max() <= high + 1e-6
    tolerance = N_SIGMA * (high - low) / math.sqrt(12.0 * n)
    assert abs(amplitude.mean() - (low + high) / 2.0) < tolerance


def _time_fraction_below_half_amplitude(amplitude: float) -> float:
    """Return the fraction of a period with |theta| < amplitude / 2.

    The time from theta = 0 to theta = alpha is proportional to the
    integral of 1 / sqrt(1 - k^2 sin^2 phi) from 0 to
    arcsin(sin(alpha / 2) / k), with k = sin(amplitude / 2). The integrand is
    smooth, so the trapezoidal rule on a fine grid is exact to far better
    than the statistical tolerance.
    """
    k = math.sin(amplitude / 2.0)

    def integral(upper: float) -> float:
        phi = np.linspace(0.0, upper, 200_001)
        return float(np.trapezoid(1.0 / np.sqrt(1.0 - (k * np.sin(phi)) ** 2), phi))

    half = math.asin(math.sin(amplitude / 4.0) / k)
    return integral(half) / integral(math.pi / 2.0)


def test_pendulum_sampled_uniform_in_time():
    # At an amplitude of 3 rad the pendulum lingers near its turning points:
    # it spends about 21% of the time at |theta| < 1.5 rad, against 1/3 for a
    # harmonic oscillator and 1/2 for points uniform in angle.
    n, amplitude = 4000, 3.0
    features, _ = generate_pendulum(
        n_events=n, min_amplitude=amplitude, max_amplitude=amplitude, seed=10
    )

    x, y = features[:, 0], features[:, 1]
    theta = np.arctan2(x, -y)
    observed = np.mean(np.abs(theta) < amplitude / 2.0)
    expected = _time_fraction_below_half_amplitude(amplitude)
    tolerance = N_SIGMA * math.sqrt(expected * (1.0 - expected) / n)
    assert abs(expected - 1.0 / 3.0) > 2.0 * tolerance
    assert abs(observed - expected) < tolerance


def test_jacobi_functions_known_values():
    # sn and cn reduce to sin and cos at m = 0, and to tanh and sech at m -> 1.
    # sn(K(m) | m) = 1 for every m.
    u = np.linspace(-5.0, 5.0, 11)
    sn, cn = jacobi_sn_cn(u, np.zeros_like(u))
    np.testing.assert_allclose(sn, np.sin(u), atol=1e-15)
    np.testing.assert_allclose(cn, np.cos(u), atol=1e-15)

    m_near_one = 1.0 - 1e-14
    sn, cn = jacobi_sn_cn(u, np.full_like(u, m_near_one))
    np.testing.assert_allclose(sn, np.tanh(u), atol=1e-6)
    np.testing.assert_allclose(cn, 1.0 / np.cosh(u), atol=1e-6)

    m = np.array([0.1, 0.5, 0.9, 0.99])
    sn, cn = jacobi_sn_cn(complete_elliptic_k(m), m)
    np.testing.assert_allclose(sn, 1.0, atol=1e-12)
    np.testing.assert_allclose(cn, 0.0, atol=1e-7)


def test_complete_elliptic_k_values():
    # K(0) = pi / 2, and K(1/2) = Gamma(1/4)^2 / (4 sqrt(pi)).
    np.testing.assert_allclose(complete_elliptic_k(np.array(0.0)), math.pi / 2.0)
    expected = math.gamma(0.25) ** 2 / (4.0 * math.sqrt(math.pi))
    np.testing.assert_allclose(complete_elliptic_k(np.array(0.5)), expected)


@pytest.mark.parametrize("name", sorted(TOYS))
def test_toy_same_seed_same_data(name):
    generate = TOYS[name].generate
    first, _ = generate(n_events=200, seed=11)
    second, _ = generate(n_events=200, seed=11)
    other, _ = generate(n_events=200, seed=12)

    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_registry_names():
    assert set(TOYS) == {"toy-square", "toy-circle", "toy-oscillator", "toy-pendulum"}
    for name, toy in TOYS.items():
        assert toy.name == name


@pytest.mark.parametrize("name", sorted(TOYS))
def test_registry_dimensions_add_up(name):
    # Each independent constraint removes one dimension from the features.
    toy = TOYS[name]
    features, names = toy.generate(n_events=200)

    assert features.shape == (200, len(names))
    assert toy.intrinsic_dimension + len(toy.constraints) == len(names)


def test_registry_entries_frozen():
    toy = TOYS["toy-circle"]

    assert isinstance(toy, ToySample)
    with pytest.raises(dataclasses.FrozenInstanceError):
        toy.intrinsic_dimension = 2


@pytest.mark.parametrize("n_events", [0, -5])
def test_nonpositive_event_count_rejected(n_events):
    with pytest.raises(InputError, match="invalid n_events"):
        generate_square(n_events=n_events)


def test_non_integer_event_count_rejected():
    with pytest.raises(TypeError, match="invalid n_events 2.5"):
        generate_circle(n_events=2.5)


@pytest.mark.parametrize("radius", [0.0, -1.0, math.inf, math.nan])
def test_invalid_radius_rejected(radius):
    with pytest.raises(InputError, match="invalid radius"):
        generate_circle(n_events=10, radius=radius)


@pytest.mark.parametrize(
    ("low", "high"), [(-0.1, 1.0), (1.0, 0.5), (0.0, math.pi), (0.0, 4.0)]
)
def test_pendulum_invalid_amplitudes_rejected(low, high):
    with pytest.raises(InputError, match="invalid amplitudes"):
        generate_pendulum(n_events=10, min_amplitude=low, max_amplitude=high)
