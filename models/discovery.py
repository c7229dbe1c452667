"""Discover the linear and quadratic constraints that events obey.

Nothing about the physics is assumed: the functions look for combinations of
the features, or of their pairwise products, that stay (nearly) constant from
event to event, and print them as formulas such as
``px_mu- + px_mu+ = 0.000 ± 0 GeV (exact)``.

Two measures decide whether a combination ``g = sum_i a_i m_i`` of terms
``m_i`` (features ``x_i`` or products ``x_i x_j``) is a constraint:

- the **cancellation** ``std(g) / sqrt(sum_i a_i² var(m_i))`` compares the
  spread of ``g`` with the spread its terms would give if they did not cancel.
  A constraint is **exact** when the cancellation is below ``exact_threshold``
  (default 1e-6), which leaves only rounding.
- the **relative spread** ``std(g) / |mean(g) - g*|`` compares the spread with
  the size of the constant. ``g*`` is the value of ``g`` where its gradient is
  smallest (see ``_critical_value``). It is 0 for forms without linear terms,
  such as ``x1² + x2²`` or an invariant mass squared, so their relative spread
  is ``std(g) / |mean(g)|``. A combination that is not exact is an
  **approximate** constraint when its relative spread is below
  ``approximate_threshold`` (default 5e-2), for example the invariant mass
  squared of pairs inside a narrow resonance peak. Measuring from ``g*``
  rather than from 0 rejects functions that are merely flat over the data,
  such as ``E (2 <E> - E)`` when E varies little. A quantity that varies by a
  sizeable fraction of its own value, such as a muon pT², does not pass.
- the **core relative spread** ``core(g) / |median(g) - g*|`` does the same
  for the bulk of the events. ``core(g)`` is the interquartile range over
  1.349, the standard deviation of a Gaussian with the same quartiles. The
  tails of a resonance can make the standard deviation of ``m²`` several
  times its core: the quartiles of a Breit-Wigner ``m²`` lie at
  ``m_Z² ± m_Z Γ_Z`` whatever the mass window. A combination whose core
  relative spread is below ``approximate_threshold`` is also an approximate
  constraint, but only when it reads with small integer coefficients. The
  quartiles ignore half of the events, so a fitted combination of many
  monomials can make them narrow without any constraint behind it.

Linear constraints are found from the principal components instead, see
:func:`find_linear_constraints`, and labelled by their cancellation.

Spreads are standard deviations over events and carry the unit of the
constraint: ``GeV`` for linear and ``GeV²`` for quadratic ones when the
features are momenta in GeV. Coefficients are only comparable when all
features share one unit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# Operator signs in printed formulas use U+2212 so that they cannot be confused
# with the ASCII hyphen in feature names such as ``px_mu-``.
MINUS = "\u2212"

EXACT = "exact"
APPROXIMATE = "approximate"

# Relative size below which a pivot, a singular value or a monomial standard
# deviation counts as zero in the linear algebra. Exact constraints on float64
# data leave singular values near 1e-16 relative, far below this.
_RANK_TOLERANCE = 1e-9

# Curvatures of a quadratic form below this fraction of its largest one count as
# flat when locating the point where its gradient is smallest.
_FLAT_CURVATURE = 0.05

# Interquartile range of a unit Gaussian: the core width is IQR over this.
_IQR_PER_SIGMA = 1.3489795003921634

# The approximate search examines a candidate only while its standard deviation
# stays below this fraction of its root mean square. This screen is looser
# than the relative-spread threshold that decides, because tails can inflate
# the standard deviation of a resonance's m² to several times its core width.
_APPROXIMATE_SCREEN = 0.3

# Largest integer coefficient, and largest multiple of a coefficient taken as
# the unit, when a formula is rewritten with integer coefficients.
_MAX_INTEGER_COEFFICIENT = 12
_MAX_MULTIPLIER = 4


@dataclass(frozen=True)
class Constraint:
    """A linear or quadratic combination of features that is (nearly) constant.

    Attributes:
        terms: ``(coefficient, feature names)`` of each monomial. One name is a
            linear term, two names a product (the same name twice a square).
        constant: Mean of the combination over events, the right-hand side.
        spread: Standard deviation of the combination over events.
        quartiles: First and third quartiles of the combination over events:
            half of the events lie between them.
        cancellation: Spread relative to the spread of the terms, see the
            module docstring.
        relative_spread: Spread relative to the constant, see the module
            docstring. Infinite when the constant equals ``g*``.
        core_relative_spread: The same from the quartiles and the median.
        status: ``"exact"`` or ``"approximate"``.
        unit: Unit of ``constant`` and ``spread``.
    """

    terms: tuple[tuple[float, tuple[str, ...]], ...]
    constant: float
    spread: float
    quartiles: tuple[float, float]
    cancellation: float
    relative_spread: float
    core_relative_spread: float
    status: str
    unit: str

    @property
    def core_spread(self) -> float:
        """Interquartile range over 1.349: the standard deviation of a
        Gaussian with the same quartiles."""
        return _core_width(*self.quartiles)

    @property
    def degree(self) -> int:
        """Highest degree of the terms: 1 for linear, 2 for quadratic."""
        return max(len(names) for _, names in self.terms)

    @property
    def expression(self) -> str:
        """Left-hand side as printed, e.g. ``px_mu-² + py_mu-² + pz_mu-²``."""
        return _format_expression(self.terms)

    def __str__(self) -> str:
        return format_constraint(self)


# --- input checks, monomials and measures ------------------------------------


def _check_features(features: np.ndarray, names: Sequence[str]) -> np.ndarray:
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2:
        msg = f"features has shape {array.shape}, expected (n_events, n_features)"
        raise ValueError(msg)
    n_events, n_features = array.shape
    if len(names) != n_features:
        msg = (
            f"got {len(names)} feature names for {n_features} feature columns; "
            "pass one name per column"
        )
        raise ValueError(msg)
    if len(set(names)) != len(names):
        msg = f"feature names must be unique, got {list(names)}"
        raise ValueError(msg)
    if n_events <= n_features:
        msg = (
            f"got {n_events} events for {n_features} features; pass more events "
            "than features, or every direction looks constrained"
        )
        raise ValueError(msg)
    if not np.all(np.isfinite(array)):
        msg = "features contains NaN or infinite values; drop those events first"
        raise ValueError(msg)
    return array


def _monomial_indices(n_features: int) -> list[tuple[int, ...]]:
    """List the monomials: products ``(i, j)`` with ``i <= j``, then ``(i,)``."""
    products = list(itertools.combinations_with_replacement(range(n_features), 2))
    return products + [(i,) for i in range(n_features)]


def _evaluate_monomials(
    features: np.ndarray, monomials: Sequence[tuple[int, ...]]
) -> np.ndarray:
    columns = [np.prod(features[:, list(index)], axis=1) for index in monomials]
    return np.column_stack(columns)


def _critical_value(
    coefficients: np.ndarray, monomials: Sequence[tuple[int, ...]], n_features: int
) -> float:
    """Return ``g*``, the value of ``g(x) = x.A x + b.x`` where its gradient
    ``2 A x + b`` is smallest.

    ``x*`` is the minimum-norm least-squares solution of ``2 A x = -b``. It is
    the stationary point when there is one, and 0 when ``g`` is linear.
    Curvatures (singular values of A) below ``_FLAT_CURVATURE`` times the
    largest are treated as zero, so that small coefficients left over from a
    fit cannot move ``x*`` far away.
    """
    quadratic = np.zeros((n_features, n_features))
    linear = np.zeros(n_features)
    for coefficient, index in zip(coefficients, monomials, strict=True):
        if len(index) == 1:
            linear[index[0]] += coefficient
        elif index[0] == index[1]:
            quadratic[index[0], index[0]] += coefficient
        else:
            quadratic[index[0], index[1]] += coefficient / 2
            quadratic[index[1], index[0]] += coefficient / 2

    if not np.any(linear) or not np.any(quadratic):
        return 0.0
    stationary = np.linalg.lstsq(2 * quadratic, -linear, rcond=_FLAT_CURVATURE)[0]
    return float(stationary @ quadratic @ stationary + linear @ stationary)


def _core_width(lower: float, upper: float) -> float:
    """Convert the quartiles to the standard deviation of a Gaussian with
    the same quartiles."""
    return (upper - lower) / _IQR_PER_SIGMA


class _Measures(NamedTuple):
    constant: float
    spread: float
    quartiles: tuple[float, float]
    cancellation: float
    relative_spread: float
    core_relative_spread: float


def _measure(
    values: np.ndarray,
    coefficients: np.ndarray,
    monomials: Sequence[tuple[int, ...]],
    n_features: int,
) -> _Measures:
    """Measure ``g = values @ coefficients``, ``values`` holding one monomial
    per column; see the module docstring for the definitions."""
    combination = values @ coefficients
    constant = float(combination.mean())
    spread = float(combination.std())
    lower, median, upper = (float(q) for q in np.percentile(combination, [25, 50, 75]))

    term_spread = math.sqrt(float(np.sum(coefficients**2 * values.var(axis=0))))
    cancellation = spread / term_spread if term_spread > 0.0 else math.inf

    critical = _critical_value(coefficients, monomials, n_features)
    size = abs(constant - critical)
    relative_spread = spread / size if size > 0.0 else math.inf
    core_size = abs(median - critical)
    core = _core_width(lower, upper)
    core_relative_spread = core / core_size if core_size > 0.0 else math.inf
    return _Measures(
        constant,
        spread,
        (lower, upper),
        cancellation,
        relative_spread,
        core_relative_spread,
    )


# --- readable coefficients ---------------------------------------------------


def _snap(values: np.ndarray, tolerance: float) -> np.ndarray:
    """Round each value within ``tolerance`` of an integer to that integer."""
    rounded = np.round(values)
    return np.where(np.abs(values - rounded) <= tolerance, rounded, values)


def _integer_forms(values: np.ndarray, tolerance: float) -> list[np.ndarray]:
    """Return the integer vectors proportional to ``values`` within
    ``tolerance``, smallest first.

    Each nonzero value in turn, times 1 to ``_MAX_MULTIPLIER``, is tried as the
    unit. This finds ``1, 2, 1`` from ``0.48, 1, 0.48`` (unit 1/2) as well as
    from ``0.5, 1, 0.5`` (unit 0.5).
    """
    forms: dict[tuple[float, ...], np.ndarray] = {}
    for unit in np.abs(values[values != 0.0]):
        for multiplier in range(1, _MAX_MULTIPLIER + 1):
            scaled = values * multiplier / unit
            rounded = np.round(scaled)
            if np.any(np.abs(scaled - rounded) > tolerance):
                continue
            if np.max(np.abs(rounded)) > _MAX_INTEGER_COEFFICIENT:
                continue
            forms.setdefault(tuple(rounded), rounded)
    return sorted(forms.values(), key=lambda form: float(np.sum(np.abs(form))))


def _is_small_integer_form(coefficients: np.ndarray) -> bool:
    """Check that every coefficient is an integer of at most
    ``_MAX_INTEGER_COEFFICIENT`` in magnitude."""
    return bool(
        np.all(coefficients == np.round(coefficients))
        and np.max(np.abs(coefficients)) <= _MAX_INTEGER_COEFFICIENT
    )


def _readable_coefficients(
    raw: np.ndarray,
    magnitudes: np.ndarray,
    scale_mask: np.ndarray,
    snap_tolerance: float,
    score: Callable[[np.ndarray], float],
    threshold: float,
) -> np.ndarray | None:
    """Rescale and round a constraint vector so that it reads well.

    The vector is scaled so that its largest coefficient among ``scale_mask``
    (the highest-degree terms) is 1. Three trimmed forms then drop small terms:

    - coefficients below ``snap_tolerance``, which keeps terms that are small
      but exact, such as px² next to a boosted E²;
    - terms whose contribution, the coefficient times ``magnitudes`` (the root
      mean square of the term), is below ``snap_tolerance`` times the largest
      contribution, which drops GeV terms with large coefficients next to GeV²
      terms;
    - every term outside ``scale_mask``.

    These candidates are tried in turn, and the first whose ``score`` on the
    data is below ``threshold`` is returned:

    1. integer vectors proportional to a trimmed form within
       ``snap_tolerance``, the smallest first, so that ``(a + b)²`` reads
       ``a² + 2 a·b + b²``;
    2. the same within three times ``snap_tolerance``, accepted only if the
       score is also no worse than that of the scaled vector;
    3. each coefficient within ``snap_tolerance`` of an integer rounded;
    4. the small terms dropped without rounding;
    5. the scaled vector as it is.

    Returns None when no form passes.
    """
    reference = raw[scale_mask] if np.any(raw[scale_mask] != 0.0) else raw
    scaled = raw / np.max(np.abs(reference))

    contributions = np.abs(scaled) * magnitudes
    small_coefficient = np.abs(scaled) <= snap_tolerance
    small_contribution = contributions <= snap_tolerance * contributions.max()
    trimmed_forms = [
        np.where(small_coefficient, 0.0, scaled),
        np.where(small_contribution, 0.0, scaled),
        np.where(small_coefficient | ~scale_mask, 0.0, scaled),
    ]

    def integer_candidates(tolerance: float) -> list[np.ndarray]:
        forms = [
            form
            for trimmed in trimmed_forms
            for form in _integer_forms(trimmed, tolerance)
        ]
        return sorted(forms, key=lambda form: float(np.sum(np.abs(form))))

    for candidate in integer_candidates(snap_tolerance):
        if score(candidate) < threshold:
            return candidate

    scaled_score = score(scaled)
    for candidate in integer_candidates(3 * snap_tolerance):
        candidate_score = score(candidate)
        if candidate_score < threshold and candidate_score <= scaled_score:
            return candidate

    fallbacks = [_snap(trimmed, snap_tolerance) for trimmed in trimmed_forms[:2]]
    fallbacks += [*trimmed_forms[:2], scaled]
    for candidate in fallbacks:
        if np.any(candidate != 0.0) and score(candidate) < threshold:
            return candidate
    return None


def _orient(
    coefficients: np.ndarray, magnitudes: np.ndarray, constant: float, spread: float
) -> float:
    """Return the sign that makes a clearly nonzero constant positive, or else
    the term with the largest contribution positive (``E² − px² − ...``)."""
    contributions = np.abs(coefficients) * magnitudes
    scale = math.sqrt(float(np.sum(contributions**2)))
    if abs(constant) > max(spread, _RANK_TOLERANCE * scale):
        return 1.0 if constant > 0.0 else -1.0
    # Among equal contributions, such as px_mu- + px_mu+, the first term wins.
    leading = int(np.argmax(contributions >= contributions.max() * (1 - 1e-9)))
    return 1.0 if coefficients[leading] > 0.0 else -1.0


def _build_constraint(
    values: np.ndarray,
    coefficients: np.ndarray,
    monomials: Sequence[tuple[int, ...]],
    names: Sequence[str],
    exact_threshold: float,
    unit: str,
) -> Constraint:
    measures = _measure(values, coefficients, monomials, len(names))
    magnitudes = np.sqrt(np.mean(values**2, axis=0))
    sign = _orient(coefficients, magnitudes, measures.constant, measures.spread)

    terms = tuple(
        (float(sign * coefficient), tuple(names[i] for i in index))
        for coefficient, index in zip(coefficients, monomials, strict=True)
        if coefficient != 0.0
    )
    degree = max(len(term_names) for _, term_names in terms)
    quartiles = tuple(sorted(sign * q for q in measures.quartiles))
    return Constraint(
        terms=terms,
        constant=sign * measures.constant,
        spread=measures.spread,
        quartiles=quartiles,
        cancellation=measures.cancellation,
        relative_spread=measures.relative_spread,
        core_relative_spread=measures.core_relative_spread,
        status=EXACT if measures.cancellation < exact_threshold else APPROXIMATE,
        unit=unit if degree == 1 or not unit else f"{unit}²",
    )


# --- linear constraints ------------------------------------------------------


def _reduced_row_echelon(rows: np.ndarray) -> np.ndarray:
    """Return the reduced row echelon form of ``rows`` with pivots taken in
    column order, so that each row has as few nonzero entries as that order
    allows."""
    matrix = rows.copy()
    n_rows, n_columns = matrix.shape
    tolerance = _RANK_TOLERANCE * np.max(np.abs(matrix))
    pivot_row = 0
    for column in range(n_columns):
        if pivot_row == n_rows:
            break
        best = pivot_row + int(np.argmax(np.abs(matrix[pivot_row:, column])))
        if abs(matrix[best, column]) <= tolerance:
            continue
        matrix[[pivot_row, best]] = matrix[[best, pivot_row]]
        matrix[pivot_row] /= matrix[pivot_row, column]
        for row in range(n_rows):
            if row != pivot_row:
                matrix[row] -= matrix[row, column] * matrix[pivot_row]
        pivot_row += 1
    return matrix[:pivot_row]


def find_linear_constraints(
    features: np.ndarray,
    names: Sequence[str],
    *,
    eigenvalue_threshold: float = 1e-6,
    exact_threshold: float = 1e-6,
    snap_tolerance: float = 0.05,
    unit: str = "GeV",
) -> list[Constraint]:
    """Find linear combinations of the features that are constant.

    The principal components of the centred features, in their original units,
    whose eigenvalue is below ``eigenvalue_threshold`` times the sum of all
    eigenvalues span the constraints. That null space is rotated to reduced
    row echelon form, so that each constraint involves few features
    (``px_mu- + px_mu+`` rather than a mixture of all balances). Each row is
    written with the smallest integer coefficients within ``snap_tolerance``
    of it, else with its largest coefficient scaled to 1 and coefficients
    within ``snap_tolerance`` of an integer rounded. A rounded form is kept
    only while its relative eigenvalue stays below the threshold. The
    constraint is labelled exact or approximate by its cancellation, see the
    module docstring.

    ``features`` has shape ``(n_events, n_features)``. ``constant`` and
    ``spread`` are in ``unit``. Returns the constraints in pivot order.
    """
    feature_array = _check_features(features, names)
    n_events, n_features = feature_array.shape

    centred = feature_array - feature_array.mean(axis=0)
    _, singular_values, right_vectors = np.linalg.svd(centred, full_matrices=False)
    eigenvalues = singular_values**2
    total = eigenvalues.sum()
    if total == 0.0:
        msg = "every feature is constant; there is no variation to analyse"
        raise ValueError(msg)

    null_rows = right_vectors[eigenvalues / total < eigenvalue_threshold]
    if len(null_rows) == 0:
        return []

    monomials = [(i,) for i in range(n_features)]
    magnitudes = np.sqrt(np.mean(feature_array**2, axis=0))

    def relative_eigenvalue(coefficients: np.ndarray) -> float:
        sum_of_squares = n_events * np.var(feature_array @ coefficients)
        return float(sum_of_squares / (total * np.sum(coefficients**2)))

    constraints = []
    for row in _reduced_row_echelon(null_rows):
        coefficients = _readable_coefficients(
            row,
            magnitudes,
            np.ones(n_features, dtype=bool),
            snap_tolerance,
            relative_eigenvalue,
            eigenvalue_threshold,
        )
        if coefficients is None:
            coefficients = row / np.max(np.abs(row))
        constraints.append(
            _build_constraint(
                feature_array, coefficients, monomials, names, exact_threshold, unit
            )
        )
    return constraints


# --- subspace helpers --------------------------------------------------------


def _orthonormal_basis(vectors: np.ndarray) -> np.ndarray:
    """Return an orthonormal basis, as columns, of the span of the columns."""
    if vectors.shape[1] == 0:
        return vectors
    left, singular_values, _ = np.linalg.svd(vectors, full_matrices=False)
    if singular_values[0] == 0.0:
        return vectors[:, :0]
    rank = int(np.sum(singular_values > _RANK_TOLERANCE * singular_values[0]))
    return left[:, :rank]


def _complement_basis(basis: np.ndarray, dimension: int) -> np.ndarray:
    """Return an orthonormal basis of the orthogonal complement of ``basis``."""
    if basis.shape[1] == 0:
        return np.eye(dimension)
    left = np.linalg.svd(basis, full_matrices=True)[0]
    return left[:, basis.shape[1] :]


def _restrict_subspace(basis: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Return an orthonormal basis of ``span(basis)`` intersected with the
    coordinate subspace of the rows ``inside``, in those rows' coordinates."""
    if basis.shape[1] == 0:
        return np.zeros((len(inside), 0))
    outside = np.setdiff1d(np.arange(basis.shape[0]), inside)
    if outside.size == 0:
        return basis[inside]
    _, singular_values, right = np.linalg.svd(basis[outside], full_matrices=True)
    rank = int(np.sum(singular_values > _RANK_TOLERANCE))
    combinations = right[rank:].T
    return _orthonormal_basis(basis[inside] @ combinations)


# --- quadratic constraints ---------------------------------------------------


@dataclass
class _QuadraticProblem:
    """Monomials of the features, standardized, with their QR factors.

    Coordinates ``u`` are coefficients of the standardized monomials, so a
    constraint with coefficients ``a`` in original units has ``u = a * scale``.
    ``centred_r`` is the R factor of the centred standardized monomials and
    ``raw_r`` that of the standardized monomials before centring, so that
    ``|centred_r u|² / n`` is the variance and ``|raw_r u|² / n`` the mean
    square of the combination.
    """

    monomials: list[tuple[int, ...]]
    values: np.ndarray
    scale: np.ndarray
    magnitudes: np.ndarray
    centred_r: np.ndarray
    raw_r: np.ndarray
    n_events: int
    n_features: int


def _prepare_quadratic(features: np.ndarray) -> _QuadraticProblem:
    all_monomials = _monomial_indices(features.shape[1])
    values = _evaluate_monomials(features, all_monomials)
    spread = values.std(axis=0)
    magnitude = np.sqrt(np.mean(values**2, axis=0))

    # Monomials that are constant (up to rounding) only shift the constant.
    varying = spread > _RANK_TOLERANCE * np.maximum(magnitude, np.finfo(float).tiny)
    monomials = [
        index for index, keep in zip(all_monomials, varying, strict=True) if keep
    ]
    values = values[:, varying]

    standardized = values / spread[varying]
    centred = standardized - standardized.mean(axis=0)
    return _QuadraticProblem(
        monomials=monomials,
        values=values,
        scale=spread[varying],
        magnitudes=magnitude[varying],
        centred_r=np.linalg.qr(centred, mode="r"),
        raw_r=np.linalg.qr(standardized, mode="r"),
        n_events=len(features),
        n_features=features.shape[1],
    )


def _implied_by_linear(
    problem: _QuadraticProblem,
    linear_constraints: Sequence[Constraint],
    names: Sequence[str],
) -> np.ndarray:
    """Return, as standardized columns, the quadratic combinations that linear
    constraints imply: each ``L = l.x - c`` itself and ``L * x_j`` for every j."""
    position = {index: k for k, index in enumerate(problem.monomials)}
    name_index = {name: i for i, name in enumerate(names)}

    vectors = []
    for constraint in linear_constraints:
        if constraint.degree != 1:
            continue
        linear = np.zeros(problem.n_features)
        for coefficient, (name,) in constraint.terms:
            linear[name_index[name]] = coefficient
        involved = np.flatnonzero(linear)

        itself = np.zeros(len(problem.monomials))
        for i in involved:
            if (i,) in position:
                itself[position[(i,)]] += linear[i]
        vectors.append(itself)

        for j in range(problem.n_features):
            product = np.zeros(len(problem.monomials))
            for i in involved:
                index = (min(i, j), max(i, j))
                if index in position:
                    product[position[index]] += linear[i]
            if (j,) in position:
                product[position[(j,)]] -= constraint.constant
            vectors.append(product)

    if not vectors:
        return np.zeros((len(problem.monomials), 0))
    return np.column_stack(vectors) * problem.scale[:, None]


def _subsets_by_size(n_features: int, max_size: int):
    """Yield feature subsets by size, then by the distance between their first
    and last feature, then in lexicographic order. With features grouped by
    particle, constraints are thus written with one particle's features when
    they can be."""
    for size in range(1, max_size + 1):
        subsets = list(itertools.combinations(range(n_features), size))
        subsets.sort(key=lambda subset: subset[-1] - subset[0])
        yield from subsets


def _smallest_directions(
    problem: _QuadraticProblem, inside: np.ndarray, basis: np.ndarray, exact: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Return the measures, smallest first, and the matching unit directions
    (columns, in the coordinates of ``inside``) over ``span(basis)``.

    For ``exact`` the measure is the cancellation. Otherwise it is ``r``, the
    spread over the root mean square of the combination. Minimizing ``r`` over
    a subspace is a generalized eigenvalue problem, and the relative spread
    measured from 0 is ``r / sqrt(1 - r²)``.
    """
    centred = problem.centred_r[:, inside] @ basis
    if exact:
        _, singular_values, right = np.linalg.svd(centred, full_matrices=False)
        order = np.argsort(singular_values)
        measures = singular_values[order] / math.sqrt(problem.n_events)
        return measures, basis @ right[order].T

    # Whiten by the mean-square form. A direction whose combination is zero for
    # every event is exact, so it belongs to the excluded span and is dropped.
    _, raw_values, raw_right = np.linalg.svd(
        problem.raw_r[:, inside] @ basis, full_matrices=False
    )
    keep = raw_values > _RANK_TOLERANCE * raw_values.max()
    whitening = basis @ raw_right[keep].T / raw_values[keep]
    _, singular_values, right = np.linalg.svd(
        problem.centred_r[:, inside] @ whitening, full_matrices=False
    )
    order = np.argsort(singular_values)
    directions = whitening @ right[order].T
    directions /= np.linalg.norm(directions, axis=0)
    return singular_values[order], directions


def _plain_representative(
    coefficients: np.ndarray,
    problem: _QuadraticProblem,
    inside: np.ndarray,
    excluded: np.ndarray,
) -> np.ndarray:
    """Return the combination equal to ``coefficients`` on the data, up to the
    excluded span, with the smallest coefficients in original units.

    Adding an excluded combination, which the data already satisfy, does not
    change a constraint's values, but the standardized search picks among such
    equivalents by the spreads of the monomials, which differ between
    particles by chance. With features in one unit, the smallest coefficients
    treat equivalent monomials alike, so that m² comes out as
    ``E1² + 2 E1·E2 + E2² − ...`` rather than a lopsided equivalent.
    """
    if excluded.shape[1] == 0:
        return coefficients
    plain = excluded / problem.scale[inside, None]
    local = coefficients[inside]
    shift, *_ = np.linalg.lstsq(plain, local, rcond=None)
    result = coefficients.copy()
    result[inside] = local - plain @ shift
    return result


def _count_exact(
    problem: _QuadraticProblem, excluded: np.ndarray, threshold: float
) -> int:
    """Count the directions outside ``excluded`` with cancellation below
    ``threshold``, over all monomials."""
    everything = np.arange(len(problem.monomials))
    complement = _complement_basis(excluded, len(everything))
    if complement.shape[1] == 0:
        return 0
    measures, _ = _smallest_directions(problem, everything, complement, exact=True)
    return int(np.sum(measures < threshold))


def _search_tier(
    problem: _QuadraticProblem,
    excluded: np.ndarray,
    max_subset_size: int,
    threshold: float,
    exact: bool,
    finalize: Callable[[np.ndarray], np.ndarray | None],
    target: int | None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Find the constraints of one tier, each on the smallest feature subset.

    Subsets are visited as :func:`_subsets_by_size` orders them, then the full
    set. In each, the directions outside the excluded span whose measure is
    below ``threshold`` are passed to ``finalize``, which returns readable
    coefficients in original units or None to reject the direction. The search
    stops after ``target`` constraints when given. Returns the coefficient
    vectors and the excluded span enlarged by them.
    """
    n_features = problem.n_features
    subsets = itertools.chain(
        _subsets_by_size(n_features, min(max_subset_size, n_features)),
        [tuple(range(n_features))],
    )
    found: list[np.ndarray] = []
    for subset in subsets:
        if target is not None and len(found) >= target:
            break
        members = set(subset)
        inside = np.array(
            [k for k, index in enumerate(problem.monomials) if set(index) <= members],
            dtype=int,
        )
        if inside.size == 0:
            continue
        local_excluded = _restrict_subspace(excluded, inside)
        local_basis = _complement_basis(local_excluded, inside.size)
        if local_basis.shape[1] == 0:
            continue

        measures, directions = _smallest_directions(problem, inside, local_basis, exact)
        for measure, direction in zip(measures, directions.T, strict=True):
            if measure >= threshold:
                break
            standardized = np.zeros(len(problem.monomials))
            standardized[inside] = direction
            raw = standardized / problem.scale
            coefficients = None
            if not exact:
                coefficients = finalize(
                    _plain_representative(raw, problem, inside, local_excluded)
                )
            if coefficients is None:
                coefficients = finalize(raw)
            if coefficients is None:
                continue

            enlarged = _orthonormal_basis(
                np.column_stack([excluded, coefficients * problem.scale])
            )
            # Rounding can in principle land on a combination already known.
            if enlarged.shape[1] > excluded.shape[1]:
                found.append(coefficients)
                excluded = enlarged
            if target is not None and len(found) >= target:
                break
    return found, excluded


def find_quadratic_constraints(
    features: np.ndarray,
    names: Sequence[str],
    *,
    linear_constraints: Sequence[Constraint] | None = None,
    exact_threshold: float = 1e-6,
    approximate_threshold: float = 5e-2,
    snap_tolerance: float = 0.05,
    max_subset_size: int = 6,
    unit: str = "GeV",
) -> list[Constraint]:
    """Find quadratic combinations of the features that are (nearly) constant.

    The candidates are the combinations of the monomials ``x_i x_j``
    (``i <= j``) and ``x_i``; the constant term is the mean. The method:

    1. Combinations that the linear constraints already imply, ``L`` and
       ``L * x_j`` for each linear constraint ``L = 0`` and feature ``x_j``,
       are excluded. ``linear_constraints`` defaults to
       :func:`find_linear_constraints` with its defaults.
    2. The singular values of the centred, standardized monomials outside the
       excluded span count the exact constraints (cancellation below
       ``exact_threshold``).
    3. To write each one readably, feature subsets are searched from the
       smallest, then the most compact in feature order, and each near-null
       direction of a subset's monomials outside the excluded span is kept,
       up to that count. It is rewritten with small integer coefficients, or
       with coefficients near an integer rounded, where the rounded form still
       passes (``snap_tolerance`` sets what counts as near). Each kept
       constraint joins the excluded span.
    4. Approximate constraints are searched the same way, with the smallest
       spread over root mean square in each subset as the candidate while that
       ratio stays below 0.3 (or the threshold, if larger), and kept when the
       relative spread of the readable form is below ``approximate_threshold``,
       or its core relative spread is and it has small integer coefficients
       (see the module docstring). Their number is not fixed in advance.

    Subsets of up to ``max_subset_size`` features are searched before the full
    set, each with a few SVDs of at most ``k (k + 3) / 2`` columns for k
    features; 8 features give 246 subsets. A constraint that needs more
    features than ``max_subset_size`` is written on all of them.

    NOTE: the search ranks candidates by their spread relative to 0, not to
    ``g*``, and examines only the best one per subset. An approximate
    constraint with linear terms, such as an off-centre ring, or one that
    shares its features with a flat but failing combination, can be missed.
    """
    feature_array = _check_features(features, names)
    n_events, n_features = feature_array.shape
    n_monomials = n_features * (n_features + 3) // 2
    if n_events <= n_monomials:
        msg = (
            f"got {n_events} events for the {n_monomials} monomials of "
            f"{n_features} features; pass more events than monomials, or every "
            "direction looks constrained"
        )
        raise ValueError(msg)

    if linear_constraints is None:
        linear_constraints = find_linear_constraints(
            feature_array, names, exact_threshold=exact_threshold, unit=unit
        )

    problem = _prepare_quadratic(feature_array)
    is_product = np.array([len(index) == 2 for index in problem.monomials])
    excluded = _orthonormal_basis(
        _implied_by_linear(problem, linear_constraints, names)
    )

    def measure(coefficients: np.ndarray) -> _Measures:
        return _measure(
            problem.values, coefficients, problem.monomials, problem.n_features
        )

    def finalize_exact(raw: np.ndarray) -> np.ndarray | None:
        return _readable_coefficients(
            raw,
            problem.magnitudes,
            is_product,
            snap_tolerance,
            lambda coefficients: measure(coefficients).cancellation,
            exact_threshold,
        )

    # For Gaussian residuals, a relative spread measured from 0 below the
    # threshold means a spread over root mean square below
    # threshold / sqrt(1 + threshold²).
    rms_threshold = approximate_threshold / math.sqrt(1.0 + approximate_threshold**2)

    def finalize_approximate(raw: np.ndarray) -> np.ndarray | None:
        combination = problem.values @ raw
        if combination.std() < rms_threshold * math.sqrt(np.mean(combination**2)):
            return _readable_coefficients(
                raw,
                problem.magnitudes,
                is_product,
                snap_tolerance,
                lambda coefficients: measure(coefficients).relative_spread,
                approximate_threshold,
            )
        # Only the screen's looser bound passed, so judge the core of the events.
        # NOTE: with initial- and final-state radiation on, e+e- events give
        # an integer mixture such as 3 py² + 4 pz² + ... here. The simpler
        # |p|² = s/4 has as narrow a core but is not the subset's least-spread
        # candidate.
        readable = _readable_coefficients(
            raw,
            problem.magnitudes,
            is_product,
            snap_tolerance,
            lambda coefficients: measure(coefficients).core_relative_spread,
            approximate_threshold,
        )
        if readable is None or not _is_small_integer_form(readable):
            return None
        return readable

    exact_vectors, excluded = _search_tier(
        problem,
        excluded,
        max_subset_size,
        exact_threshold,
        exact=True,
        finalize=finalize_exact,
        target=_count_exact(problem, excluded, exact_threshold),
    )

    # The screen lets candidates with heavier tails through to the core test.
    approximate_vectors, _ = _search_tier(
        problem,
        excluded,
        max_subset_size,
        max(rms_threshold, _APPROXIMATE_SCREEN),
        exact=False,
        finalize=finalize_approximate,
        target=None,
    )

    return [
        _build_constraint(
            problem.values,
            coefficients,
            problem.monomials,
            names,
            exact_threshold,
            unit,
        )
        for coefficients in exact_vectors + approximate_vectors
    ]


def discover_constraints(
    features: np.ndarray,
    names: Sequence[str],
    *,
    eigenvalue_threshold: float = 1e-6,
    exact_threshold: float = 1e-6,
    approximate_threshold: float = 5e-2,
    snap_tolerance: float = 0.05,
    max_subset_size: int = 6,
    unit: str = "GeV",
) -> list[Constraint]:
    """Find the linear, then the quadratic constraints of the features.

    See :func:`find_linear_constraints` and :func:`find_quadratic_constraints`
    for the method and the options.
    """
    linear = find_linear_constraints(
        features,
        names,
        eigenvalue_threshold=eigenvalue_threshold,
        exact_threshold=exact_threshold,
        snap_tolerance=snap_tolerance,
        unit=unit,
    )
    quadratic = find_quadratic_constraints(
        features,
        names,
        linear_constraints=linear,
        exact_threshold=exact_threshold,
        approximate_threshold=approximate_threshold,
        snap_tolerance=snap_tolerance,
        max_subset_size=max_subset_size,
        unit=unit,
    )
    return linear + quadratic


# --- formatting --------------------------------------------------------------


def _format_coefficient(magnitude: float) -> str:
    if magnitude == round(magnitude):
        return "" if magnitude == 1.0 else f"{magnitude:.0f} "
    return f"{magnitude:.3g} "


def _format_monomial(names: tuple[str, ...]) -> str:
    if len(names) == 2 and names[0] == names[1]:
        return f"{names[0]}²"
    return "·".join(names)


def _format_expression(terms: tuple[tuple[float, tuple[str, ...]], ...]) -> str:
    """Print positive terms first, each group in monomial order."""
    ordered = [term for term in terms if term[0] > 0] + [
        term for term in terms if term[0] < 0
    ]
    pieces = []
    for coefficient, names in ordered:
        text = _format_coefficient(abs(coefficient)) + _format_monomial(names)
        if not pieces:
            pieces.append(text if coefficient > 0 else f"{MINUS}{text}")
        else:
            operator = "+" if coefficient > 0 else MINUS
            pieces.append(f"{operator} {text}")
    return " ".join(pieces)


def _format_spread(spread: float) -> str:
    """Print two significant digits, in scientific notation outside
    ``[1e-3, 1e5)``."""
    if spread == 0.0:
        return "0"
    if not 1e-3 <= spread < 1e5:
        return f"{spread:.1e}"
    decimals = 1 - math.floor(math.log10(spread))
    return f"{round(spread, decimals):.{max(decimals, 0)}f}"


def format_constraint(constraint: Constraint) -> str:
    """Return the constraint as text, such as
    ``px_mu- + px_mu+ = 0.000 ± 0 GeV (exact)``.

    The constant is the mean and ``±`` the standard deviation, printed to the
    last digit of the spread with at most three decimals. An approximate
    constraint also gives its quartiles, which the tails of a resonance leave
    in place: ``... = 8243 ± 1000 GeV² (approximate, interquartile 8056 to
    8516)``.
    """
    if constraint.spread > 0.0:
        decimals = min(3, max(0, 1 - math.floor(math.log10(constraint.spread))))
    else:
        decimals = 3

    def number(value: float) -> str:
        value = round(value, decimals)
        text = f"{abs(value):.{decimals}f}"
        return f"{MINUS}{text}" if value < 0.0 else text

    unit = f" {constraint.unit}" if constraint.unit else ""
    status = constraint.status
    if status == APPROXIMATE:
        lower, upper = constraint.quartiles
        status += f", interquartile {number(lower)} to {number(upper)}"
    return (
        f"{constraint.expression} = {number(constraint.constant)} ± "
        f"{_format_spread(constraint.spread)}{unit} ({status})"
    )
