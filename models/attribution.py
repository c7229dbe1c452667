"""Explain each latent of a trained model by the input features it encodes.

:func:`attribute_latents` writes each latent mean as the smallest linear
combination of input features that predicts it nearly as well as all features
together, and :func:`format_formula` prints it, for example
``z1 ≈ 0.70 (px_mu- − px_mu+), R² = 0.97``. :func:`correlate_observables`
tabulates how each latent follows physics observables.

All functions take plain numpy arrays with one row per event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

# Operator signs in printed formulas use U+2212 so that they cannot be confused
# with the ASCII hyphen in feature names such as ``px_mu-``.
MINUS = "\u2212"


@dataclass(frozen=True)
class FormulaTerm:
    """One term of a latent formula: ``coefficient * sum(sign * feature)``.

    ``signs`` is ``(1,)`` for a single feature, ``(1, -1)`` for the difference
    and ``(1, 1)`` for the sum of a mu-/mu+ pair of features.
    """

    coefficient: float
    names: tuple[str, ...]
    signs: tuple[int, ...]


@dataclass(frozen=True)
class LatentAttribution:
    """Sparse linear formula for one latent mean in terms of input features.

    Attributes:
        latent: Label of the latent, ``"z1"`` for the first column.
        terms: Terms of the formula, largest contribution to the latent's
            variance first.
        names: Chosen features, in input order.
        coefficients: Coefficient of each chosen feature, in latent units per
            feature unit (per GeV for momenta). A grouped pair shares one
            magnitude.
        intercept: Latent value when every chosen feature is zero.
        r2: Coefficient of determination of the printed formula.
        r2_full: Coefficient of determination of a linear fit on all features.
    """

    latent: str
    terms: tuple[FormulaTerm, ...]
    names: tuple[str, ...]
    coefficients: np.ndarray
    intercept: float
    r2: float
    r2_full: float


@dataclass(frozen=True)
class CorrelationTable:
    """Correlation coefficients of each latent with each observable.

    ``pearson`` and ``spearman`` have shape ``(n_latents, n_observables)``.
    An entry is NaN when the latent or the observable is constant.
    """

    latent_names: tuple[str, ...]
    observable_names: tuple[str, ...]
    pearson: np.ndarray
    spearman: np.ndarray

    def rows(self) -> list[tuple[str, str, float, float]]:
        """Return ``(latent, observable, pearson, spearman)`` for every pair."""
        return [
            (latent, observable, float(self.pearson[i, j]), float(self.spearman[i, j]))
            for i, latent in enumerate(self.latent_names)
            for j, observable in enumerate(self.observable_names)
        ]


def _check_features(features: np.ndarray, names: Sequence[str]) -> np.ndarray:
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2:
        msg = f"features has shape {array.shape}, expected (n_events, n_features)"
        raise ValueError(msg)
    if len(names) != array.shape[1]:
        msg = (
            f"got {len(names)} feature names for {array.shape[1]} feature columns; "
            "pass one name per column"
        )
        raise ValueError(msg)
    if not np.all(np.isfinite(array)):
        msg = "features contains NaN or infinite values; drop those events first"
        raise ValueError(msg)
    return array


def _check_latent(latent: np.ndarray, n_events: int, label: str) -> np.ndarray:
    values = np.asarray(latent, dtype=np.float64)
    if values.shape != (n_events,):
        msg = (
            f"latent {label} has shape {values.shape}, expected ({n_events},) "
            "to match the features"
        )
        raise ValueError(msg)
    if not np.all(np.isfinite(values)):
        msg = f"latent {label} contains NaN or infinite values"
        raise ValueError(msg)
    if np.ptp(values) == 0.0:
        msg = (
            f"latent {label} is constant ({values[0]:g} for every event), so no "
            "formula can explain it; drop inactive units before attributing"
        )
        raise ValueError(msg)
    return values


def _subset_r2(
    correlations: np.ndarray, target_correlations: np.ndarray, subset: list[int]
) -> float:
    """Return R² of the least-squares fit on ``subset`` from correlations alone.

    For standardized features the fit coefficients solve
    ``C[S, S] beta = c[S]`` and ``R² = c[S] . beta``.
    """
    if not subset:
        return 0.0
    block = correlations[np.ix_(subset, subset)]
    target = target_correlations[subset]
    beta = np.linalg.lstsq(block, target, rcond=None)[0]
    return float(target @ beta)


def _select_features_forward(
    features: np.ndarray, latent: np.ndarray, r2_tolerance: float
) -> tuple[list[int], float]:
    """Select features by greedy forward selection on standardized data.

    Returns the chosen column indices in selection order and the R² of the fit
    on all columns. Selection stops at the first set whose R² is within
    ``r2_tolerance`` of that full R². Greedy selection can miss a smaller set
    that only works jointly, but it is exact for independent features.
    """
    spread = features.std(axis=0)
    usable = np.flatnonzero(spread > 0.0)
    standardized = (features[:, usable] - features[:, usable].mean(axis=0)) / spread[
        usable
    ]
    latent_standardized = (latent - latent.mean()) / latent.std()

    n_events = len(latent)
    correlations = standardized.T @ standardized / n_events
    target_correlations = standardized.T @ latent_standardized / n_events

    all_columns = list(range(len(usable)))
    r2_full = _subset_r2(correlations, target_correlations, all_columns)
    target_r2 = r2_full - r2_tolerance

    chosen: list[int] = []
    r2 = 0.0
    while r2 < target_r2 and len(chosen) < len(usable):
        candidates = [column for column in all_columns if column not in chosen]
        scores = [
            _subset_r2(correlations, target_correlations, [*chosen, column])
            for column in candidates
        ]
        best = int(np.argmax(scores))
        chosen.append(candidates[best])
        r2 = scores[best]

    return [int(usable[column]) for column in chosen], r2_full


def _group_pairs(
    chosen: list[int],
    coefficients: np.ndarray,
    names: Sequence[str],
    pair_labels: tuple[str, str],
    relative_tolerance: float,
) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Group chosen mu-/mu+ partners with equal or opposite coefficients.

    Returns ``(columns, signs)`` for each term, ``columns`` being feature
    indices. Two partners form a difference when
    ``|c_minus + c_plus| <= relative_tolerance * max(|c_minus|, |c_plus|)``
    and a sum when the same holds for ``c_minus - c_plus``.
    """
    minus_label, plus_label = pair_labels
    position = {column: i for i, column in enumerate(chosen)}
    index_of_name = {names[column]: column for column in chosen}

    groups = []
    grouped: set[int] = set()
    for column in sorted(chosen):
        if column in grouped:
            continue
        name = names[column]
        partner = None
        if name.count(minus_label) == 1:
            partner = index_of_name.get(name.replace(minus_label, plus_label))

        if partner is not None and partner not in grouped:
            c_minus = coefficients[position[column]]
            c_plus = coefficients[position[partner]]
            scale = max(abs(c_minus), abs(c_plus))
            if abs(c_minus + c_plus) <= relative_tolerance * scale:
                groups.append(((column, partner), (1, -1)))
                grouped.update((column, partner))
                continue
            if abs(c_minus - c_plus) <= relative_tolerance * scale:
                groups.append(((column, partner), (1, 1)))
                grouped.update((column, partner))
                continue

        groups.append(((column,), (1,)))
        grouped.add(column)
    return groups


def _fit_least_squares(
    design: np.ndarray, latent: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """Fit ``latent ≈ design @ coefficients + intercept``; return them and R²."""
    with_intercept = np.column_stack([design, np.ones(len(latent))])
    solution = np.linalg.lstsq(with_intercept, latent, rcond=None)[0]
    residual = latent - with_intercept @ solution
    total = np.sum((latent - latent.mean()) ** 2)
    r2 = 1.0 - float(np.sum(residual**2) / total)
    return solution[:-1], float(solution[-1]), r2


def attribute_latent(
    latent: np.ndarray,
    features: np.ndarray,
    names: Sequence[str],
    *,
    label: str = "z1",
    r2_tolerance: float = 0.01,
    pair_labels: tuple[str, str] = ("mu-", "mu+"),
    relative_tolerance: float = 0.1,
) -> LatentAttribution:
    """Find the sparse linear formula of input features that predicts one latent.

    The method has three steps:

    1. Greedy forward selection on standardized features picks the smallest
       set whose R² is within ``r2_tolerance`` of the fit on all features.
       Constant features are never chosen.
    2. Plain least squares with an intercept refits the chosen features in
       their original units.
    3. Chosen partners named alike except for ``pair_labels`` (``px_mu-`` and
       ``px_mu+``) whose coefficients are opposite, or equal, within
       ``relative_tolerance`` become one difference, or sum, term. Least
       squares then refits with one shared coefficient per term, so ``r2`` is
       the R² of the printed formula.

    ``latent`` has shape ``(n,)`` and ``features`` shape ``(n, k)``; coefficients
    are in latent units per feature unit. Raises ValueError for mismatched
    shapes, non-finite values or a constant latent.
    """
    feature_array = _check_features(features, names)
    values = _check_latent(latent, len(feature_array), label)

    chosen, r2_full = _select_features_forward(feature_array, values, r2_tolerance)
    if not chosen:
        return LatentAttribution(
            latent=label,
            terms=(),
            names=(),
            coefficients=np.zeros(0),
            intercept=float(values.mean()),
            r2=0.0,
            r2_full=r2_full,
        )

    chosen = sorted(chosen)
    first_fit, _, _ = _fit_least_squares(feature_array[:, chosen], values)
    groups = _group_pairs(chosen, first_fit, names, pair_labels, relative_tolerance)

    term_columns = [
        feature_array[:, list(columns)] @ np.array(signs, dtype=np.float64)
        for columns, signs in groups
    ]
    design = np.column_stack(term_columns)
    term_coefficients, intercept, r2 = _fit_least_squares(design, values)

    contributions = np.abs(term_coefficients) * design.std(axis=0)
    order = np.argsort(-contributions, kind="stable")
    terms = tuple(
        FormulaTerm(
            coefficient=float(term_coefficients[i]),
            names=tuple(names[column] for column in groups[i][0]),
            signs=groups[i][1],
        )
        for i in order
    )

    feature_coefficient = {}
    for (columns, signs), coefficient in zip(groups, term_coefficients, strict=True):
        for column, sign in zip(columns, signs, strict=True):
            feature_coefficient[column] = sign * coefficient

    return LatentAttribution(
        latent=label,
        terms=terms,
        names=tuple(names[column] for column in chosen),
        coefficients=np.array([feature_coefficient[column] for column in chosen]),
        intercept=intercept,
        r2=r2,
        r2_full=r2_full,
    )


def attribute_latents(
    latents: np.ndarray,
    features: np.ndarray,
    names: Sequence[str],
    **options,
) -> list[LatentAttribution]:
    """Attribute every column of ``latents`` (shape ``(n, d)``) to the features.

    Columns are labelled ``z1`` to ``zd``. ``options`` go to
    :func:`attribute_latent`.
    """
    latent_array = np.asarray(latents, dtype=np.float64)
    if latent_array.ndim != 2:
        msg = f"latents has shape {latent_array.shape}, expected (n_events, n_latents)"
        raise ValueError(msg)
    return [
        attribute_latent(
            latent_array[:, j], features, names, label=f"z{j + 1}", **options
        )
        for j in range(latent_array.shape[1])
    ]


def _format_significant(value: float, digits: int) -> str:
    """Format ``|value|`` with ``digits`` significant digits, keeping zeros."""
    magnitude = abs(value)
    if magnitude == 0.0:
        return "0"
    # Round first, so that 0.99996 becomes 1.0 and not 1.00.
    rounded = round(magnitude, digits - 1 - math.floor(math.log10(magnitude)))
    decimals = max(0, digits - 1 - math.floor(math.log10(rounded)))
    return f"{rounded:.{decimals}f}"


def _format_term(term: FormulaTerm, digits: int) -> str:
    coefficient = _format_significant(term.coefficient, digits)
    if len(term.names) == 1:
        return f"{coefficient} {term.names[0]}"
    operator = f" {MINUS} " if term.signs[1] < 0 else " + "
    return f"{coefficient} ({term.names[0]}{operator}{term.names[1]})"


def format_formula(
    attribution: LatentAttribution, *, digits: int = 2, intercept_decimals: int = 2
) -> str:
    """Return the printable formula with its R², such as
    ``z1 ≈ 0.70 (px_mu- − px_mu+), R² = 0.97``.

    Coefficients are printed with ``digits`` significant digits and minus signs
    as U+2212. The intercept is printed with ``intercept_decimals`` decimals and
    left out when it rounds to zero, unless the formula has no other term.
    """
    pieces = []
    for term in attribution.terms:
        text = _format_term(term, digits)
        if not pieces:
            pieces.append(f"{MINUS}{text}" if term.coefficient < 0 else text)
        else:
            operator = MINUS if term.coefficient < 0 else "+"
            pieces.append(f"{operator} {text}")

    intercept_text = f"{abs(attribution.intercept):.{intercept_decimals}f}"
    intercept_is_zero = float(intercept_text) == 0.0
    if not pieces:
        sign = MINUS if attribution.intercept < 0 and not intercept_is_zero else ""
        pieces.append(f"{sign}{intercept_text}")
    elif not intercept_is_zero:
        operator = MINUS if attribution.intercept < 0 else "+"
        pieces.append(f"{operator} {intercept_text}")

    return f"{attribution.latent} ≈ {' '.join(pieces)}, R² = {attribution.r2:.2f}"


def _correlation_columns(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Return the Pearson r of every column of ``left`` with every column of
    ``right``; NaN where a column is constant."""
    left_centred = left - left.mean(axis=0)
    right_centred = right - right.mean(axis=0)
    left_norm = np.linalg.norm(left_centred, axis=0)
    right_norm = np.linalg.norm(right_centred, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (left_centred.T @ right_centred) / np.outer(left_norm, right_norm)


def correlate_observables(
    latents: np.ndarray,
    observables: Mapping[str, np.ndarray],
    latent_names: Sequence[str] | None = None,
) -> CorrelationTable:
    """Compute the Pearson r and Spearman rho of each latent with each observable.

    ``latents`` has shape ``(n, d)``; each observable is an array of shape
    ``(n,)``, for example from ``processors.observables.compute_observables``.
    Spearman's rho is the Pearson r of the ranks, with ties given their mean
    rank. Latents are named ``z1`` to ``zd`` unless ``latent_names`` is given.
    """
    latent_array = np.asarray(latents, dtype=np.float64)
    if latent_array.ndim != 2:
        msg = f"latents has shape {latent_array.shape}, expected (n_events, n_latents)"
        raise ValueError(msg)
    n_events, n_latents = latent_array.shape
    if latent_names is None:
        latent_names = [f"z{j + 1}" for j in range(n_latents)]
    if len(latent_names) != n_latents:
        msg = f"got {len(latent_names)} latent names for {n_latents} latent columns"
        raise ValueError(msg)
    if not observables:
        msg = "observables is empty; pass at least one name -> array entry"
        raise ValueError(msg)

    columns = []
    for name, values in observables.items():
        column = np.asarray(values, dtype=np.float64)
        if column.shape != (n_events,):
            msg = (
                f"observable {name!r} has shape {column.shape}, expected "
                f"({n_events},) to match the latents"
            )
            raise ValueError(msg)
        if not np.all(np.isfinite(column)):
            msg = (
                f"observable {name!r} has {np.sum(~np.isfinite(column))} non-finite "
                "values; drop those events from the latents and the observables"
            )
            raise ValueError(msg)
        columns.append(column)
    observable_array = np.column_stack(columns)

    pearson = _correlation_columns(latent_array, observable_array)
    spearman = _correlation_columns(
        rankdata(latent_array, axis=0), rankdata(observable_array, axis=0)
    )
    return CorrelationTable(
        latent_names=tuple(latent_names),
        observable_names=tuple(observables),
        pearson=pearson,
        spearman=spearman,
    )
