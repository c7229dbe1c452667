"""Toy datasets with known constraints, for testing without the muon processor.

Each generator returns ``(features, names)``: a float64 array of shape
``(n_events, k)`` and the ``k`` feature names. Its random numbers come from
``numpy.random.default_rng(seed)``, so the same arguments give the same array.
``TOYS`` lists the toys with their intrinsic dimension and the constraints that
their features obey, which a trained model should recover. An argument out of
range raises ``samples.errors.InputError`` (a ``ValueError``), and an event
count that is not an integer raises ``TypeError``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from samples.errors import InputError

ToyData = tuple[np.ndarray, list[str]]


def generate_square(
    n_events: int = 10_000, radius: float = 10.0, seed: int = 0
) -> ToyData:
    """Sample points uniformly in the square [-radius, radius]^2.

    The features obey no constraint, so the intrinsic dimension is 2.

    Parameters
    ----------
    n_events
        Number of points.
    radius
        Half the side of the square.
    seed
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    features, names
        Array of shape ``(n_events, 2)`` and ``["x1", "x2"]``.
    """
    n_events = _check_n_events(n_events)
    radius = _check_positive("radius", radius)
    rng = np.random.default_rng(seed)

    features = rng.uniform(-radius, radius, size=(n_events, 2))
    return features, ["x1", "x2"]


def generate_circle(
    n_events: int = 10_000, radius: float = 10.0, seed: int = 0
) -> ToyData:
    """Sample points on the circle x1^2 + x2^2 = radius^2, uniform in angle.

    One constraint, ``x1**2 + x2**2 = radius**2``, leaves intrinsic
    dimension 1.

    Parameters
    ----------
    n_events
        Number of points.
    radius
        Radius of the circle.
    seed
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    features, names
        Array of shape ``(n_events, 2)`` and ``["x1", "x2"]``.
    """
    n_events = _check_n_events(n_events)
    radius = _check_positive("radius", radius)
    rng = np.random.default_rng(seed)

    angle = rng.uniform(0.0, 2.0 * math.pi, size=n_events)
    features = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    return features, ["x1", "x2"]


def generate_oscillator(
    n_events: int = 10_000,
    energy: float = 50.0,
    mass: float = 1.0,
    omega: float = 2.0,
    seed: int = 0,
) -> ToyData:
    """Sample the phase space (q, p) of a 1D harmonic oscillator at fixed energy.

    The points lie on the ellipse ``p**2 / (2 * mass) + mass * omega**2 *
    q**2 / 2 = energy``, with semi-axes ``sqrt(2 * energy / mass) / omega``
    in q and ``sqrt(2 * mass * energy)`` in p. The phase ``omega * t`` is
    uniform, which samples the trajectory uniformly in time. One constraint
    (energy conservation) leaves intrinsic dimension 1. The defaults give
    semi-axes 5 and 10, so the ellipse differs from the default circle.

    Parameters
    ----------
    n_events
        Number of points.
    energy
        Total energy E.
    mass
        Mass m of the oscillator.
    omega
        Angular frequency, in the inverse of the time unit that E, m and q
        imply. Any consistent units work.
    seed
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    features, names
        Array of shape ``(n_events, 2)`` and ``["q", "p"]``.
    """
    n_events = _check_n_events(n_events)
    energy = _check_positive("energy", energy)
    mass = _check_positive("mass", mass)
    omega = _check_positive("omega", omega)
    rng = np.random.default_rng(seed)

    amplitude = math.sqrt(2.0 * energy / mass) / omega
    phase = rng.uniform(0.0, 2.0 * math.pi, size=n_events)
    q = amplitude * np.cos(phase)
    p = -mass * omega * amplitude * np.sin(phase)
    return np.column_stack([q, p]), ["q", "p"]


def generate_pendulum(
    n_events: int = 10_000,
    length: float = 1.0,
    gravity: float = 9.81,
    min_amplitude: float = 0.0,
    max_amplitude: float = 2.0,
    seed: int = 0,
) -> ToyData:
    """Sample positions and velocities of a planar pendulum on many trajectories.

    A point mass hangs from the origin on a rigid rod of length L and swings
    without friction, with ``y`` pointing up. Each point lies on its own
    trajectory, whose amplitude (largest angle from the vertical) is uniform
    in [``min_amplitude``, ``max_amplitude``], at a time uniform over one
    period. The motion is the exact solution with Jacobi elliptic functions,
    ``theta = 2 * arcsin(k * sn(u, k**2))`` and ``dtheta/dt = 2 * k * w0 *
    cn(u, k**2)``, where ``k = sin(amplitude / 2)``, ``w0 = sqrt(gravity /
    L)`` and ``u = w0 * t``.

    The features obey two constraints, ``x**2 + y**2 = L**2`` (the rod) and
    ``x * vx + y * vy = 0`` (velocity along the circle), which leave intrinsic
    dimension 2 (angle and angular velocity) when ``min_amplitude <
    max_amplitude``. With equal amplitudes all points share one trajectory,
    and the intrinsic dimension is 1.

    Parameters
    ----------
    n_events
        Number of points.
    length
        Rod length L in m.
    gravity
        Gravitational acceleration in m/s^2.
    min_amplitude, max_amplitude
        Range of the amplitude in rad, with ``0 <= min_amplitude <=
        max_amplitude < pi`` so that every trajectory swings below the
        separatrix.
    seed
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    features, names
        Array of shape ``(n_events, 4)`` with positions in m and velocities
        in m/s, and ``["x", "y", "vx", "vy"]``.
    """
    n_events = _check_n_events(n_events)
    length = _check_positive("length", length)
    gravity = _check_positive("gravity", gravity)
    if not (0.0 <= min_amplitude <= max_amplitude < math.pi):
        msg = (
            f"invalid amplitudes min_amplitude={min_amplitude!r}, "
            f"max_amplitude={max_amplitude!r}: use 0 <= min_amplitude <= "
            f"max_amplitude < pi (rad)"
        )
        raise InputError(msg)
    rng = np.random.default_rng(seed)

    amplitude = rng.uniform(min_amplitude, max_amplitude, size=n_events)
    k = np.sin(amplitude / 2.0)
    quarter_period = complete_elliptic_k(k**2)
    u = rng.uniform(0.0, 4.0, size=n_events) * quarter_period
    sn, cn = jacobi_sn_cn(u, k**2)

    w0 = math.sqrt(gravity / length)
    theta = 2.0 * np.arcsin(k * sn)
    theta_dot = 2.0 * k * w0 * cn
    features = np.column_stack(
        [
            length * np.sin(theta),
            -length * np.cos(theta),
            length * theta_dot * np.cos(theta),
            length * theta_dot * np.sin(theta),
        ]
    )
    return features, ["x", "y", "vx", "vy"]


def complete_elliptic_k(m: np.ndarray) -> np.ndarray:
    """Compute the complete elliptic integral K(m) of parameter ``m = k**2``.

    Uses the arithmetic-geometric mean, ``K(m) = pi / (2 * AGM(1,
    sqrt(1 - m)))``, valid for 0 <= m < 1.
    """
    a, _ = _agm_sequence(np.asarray(m, dtype=np.float64))
    return math.pi / (2.0 * a[-1])


def jacobi_sn_cn(u: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compute the Jacobi elliptic functions sn(u|m) and cn(u|m).

    After N steps of the arithmetic-geometric mean, the Jacobi amplitude starts
    at ``phi_N = 2**N * a_N * u`` and descends by ``phi_(n-1) = (phi_n +
    arcsin(c_n / a_n * sin(phi_n))) / 2``. Then ``sn = sin(phi_0)`` and
    ``cn = cos(phi_0)``. Valid for 0 <= m < 1. Against scipy.special.ellipj
    the error was below 2e-15 for |u| <= 20 and m < 0.999.
    """
    u, m = np.broadcast_arrays(
        np.asarray(u, dtype=np.float64), np.asarray(m, dtype=np.float64)
    )
    a, c = _agm_sequence(m)
    n_steps = len(a) - 1

    phi = 2.0**n_steps * a[-1] * u
    for step in range(n_steps, 0, -1):
        phi = 0.5 * (phi + np.arcsin(c[step] / a[step] * np.sin(phi)))
    return np.sin(phi), np.cos(phi)


def _agm_sequence(m: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return the AGM terms a_n and c_n for a0 = 1, b0 = sqrt(1 - m), c0 = sqrt(m).

    The iteration stops once every c_n is below machine precision relative to
    a_n. Convergence is quadratic, so this takes about 5 steps for m below 0.99.
    """
    if np.any((m < 0.0) | (m >= 1.0)):
        msg = "invalid elliptic parameter m: use 0 <= m < 1"
        raise ValueError(msg)
    a = [np.ones_like(m)]
    b = np.sqrt(1.0 - m)
    c = [np.sqrt(m)]
    while np.any(c[-1] > np.finfo(np.float64).eps * a[-1]):
        a_next = 0.5 * (a[-1] + b)
        c.append(0.5 * (a[-1] - b))
        b = np.sqrt(a[-1] * b)
        a.append(a_next)
    return a, c


def _check_n_events(n_events: int) -> int:
    if isinstance(n_events, bool):
        msg = f"invalid n_events {n_events!r}: use a positive integer"
        raise TypeError(msg)
    try:
        count = operator.index(n_events)
    except TypeError:
        msg = f"invalid n_events {n_events!r}: use a positive integer"
        raise TypeError(msg) from None
    if count < 1:
        msg = f"invalid n_events {n_events!r}: use a positive integer"
        raise InputError(msg)
    return count


def _check_positive(name: str, value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        msg = f"invalid {name} {value!r}: use a positive finite number"
        raise InputError(msg) from None
    if not (math.isfinite(number) and number > 0.0):
        msg = f"invalid {name} {value!r}: use a positive finite number"
        raise InputError(msg)
    return number


@dataclass(frozen=True)
class ToySample:
    """A toy dataset with the constraints that its features obey."""

    name: str
    """Registry name, such as ``"toy-circle"``."""
    generate: Callable[..., ToyData]
    """Generator returning ``(features, names)``."""
    description: str
    """One-line description."""
    intrinsic_dimension: int
    """Dimension of the manifold that the points fill, with default arguments."""
    constraints: tuple[str, ...]
    """Equations that every point obeys, in the feature names."""


TOYS: dict[str, ToySample] = {
    toy.name: toy
    for toy in (
        ToySample(
            name="toy-square",
            generate=generate_square,
            description="Points uniform in the square [-R, R]^2.",
            intrinsic_dimension=2,
            constraints=(),
        ),
        ToySample(
            name="toy-circle",
            generate=generate_circle,
            description="Points uniform in angle on a circle of radius R.",
            intrinsic_dimension=1,
            constraints=("x1**2 + x2**2 = R**2",),
        ),
        ToySample(
            name="toy-oscillator",
            generate=generate_oscillator,
            description="Phase space of a harmonic oscillator at fixed energy.",
            intrinsic_dimension=1,
            constraints=("p**2 / (2 * m) + m * omega**2 * q**2 / 2 = E",),
        ),
        ToySample(
            name="toy-pendulum",
            generate=generate_pendulum,
            description="Position and velocity of a pendulum, many amplitudes.",
            intrinsic_dimension=2,
            constraints=("x**2 + y**2 = L**2", "x * vx + y * vy = 0"),
        ),
    )
}
"""Toy datasets by registry name."""
