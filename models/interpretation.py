"""Name what the relevant latents encode and which constraints the data obey.

This stage runs after training and puts four results side by side for one
analysis: a sparse linear formula for each relevant latent, the latents'
correlation with physics observables, the constraints found in the features
without being told, and the intrinsic dimension by standard estimators next
to the VAE's count of relevant latents.
"""

from __future__ import annotations

import warnings

import numpy as np

from models.attribution import attribute_latents, correlate_observables, format_formula
from models.dimension import estimate_dimensions, standardize
from models.discovery import EXACT, discover_constraints, format_constraint

# Rows used for attribution and discovery; both fit linear models, for which
# 20 000 events give coefficients far more precise than the printed digits.
MAX_FIT_EVENTS = 20_000


def _subsample(n_events: int, limit: int, seed: int) -> np.ndarray:
    if n_events <= limit:
        return np.arange(n_events)
    return np.sort(np.random.default_rng(seed).choice(n_events, limit, replace=False))


def _number(value: float) -> float | None:
    """Return ``value`` as a float, or None where it is NaN or infinite.

    JSON has no NaN: a correlation with a constant observable, such as the
    zero pair pT of partonic events, is written as null.
    """
    value = float(value)
    return value if np.isfinite(value) else None


def _correlation_text(pearson: float | None, spearman: float | None) -> str:
    if pearson is None or spearman is None:
        return "n/a"
    return f"{pearson:+.2f} ({spearman:+.2f})"


def _constraint_unit(constraint, unit: str) -> str:
    """Return the unit of a constraint's constant: GeV for linear, GeV^2 for quadratic."""
    if constraint.degree == 1 or not unit:
        return unit
    return f"{unit}^2"


def interpret(
    features: np.ndarray,
    names: list[str],
    mu: np.ndarray,
    latent_order: np.ndarray,
    n_relevant: int,
    observables: dict[str, np.ndarray] | None = None,
    unit: str = "GeV",
    n_boot: int = 10,
    seed: int = 0,
) -> dict:
    """Return a JSON-ready dict with attribution, constraints and dimensions.

    ``mu`` contains one run's latent means for ``features`` and ``latent_order``
    its latents from most to least relevant; the first ``n_relevant`` are
    explained. ``observables`` maps names to per-event arrays.
    """
    rows = _subsample(len(features), MAX_FIT_EVENTS, seed)
    sample = features[rows]
    relevant = mu[rows][:, latent_order[:n_relevant]]
    labels = [f"z{i + 1}" for i in range(n_relevant)]

    attributions = []
    if n_relevant:
        for attribution in attribute_latents(relevant, sample, names):
            attributions.append(
                {
                    "latent": attribution.latent,
                    "formula": format_formula(attribution),
                    "r2": float(attribution.r2),
                    "r2_all_features": float(attribution.r2_full),
                }
            )

    correlations = []
    if observables and n_relevant:
        table = correlate_observables(
            relevant, {k: v[rows] for k, v in observables.items()}, labels
        )
        for latent, observable, pearson, spearman in table.rows():
            correlations.append(
                {
                    "latent": latent,
                    "observable": observable,
                    "pearson": _number(pearson),
                    "spearman": _number(spearman),
                }
            )

    with warnings.catch_warnings():
        # Discovery warns about ill-conditioned fits on nearly degenerate
        # features; the spreads it reports already say how exact a result is.
        warnings.simplefilter("ignore", RuntimeWarning)
        constraints = discover_constraints(sample, names, unit=unit)
    found = [
        {
            "formula": format_constraint(c),
            "degree": c.degree,
            "constant": float(c.constant),
            "spread": float(c.spread),
            "quartiles": [float(q) for q in c.quartiles],
            "status": c.status,
            "unit": _constraint_unit(c, unit),
        }
        for c in constraints
    ]
    n_exact = sum(c.status == EXACT for c in constraints)

    estimates = estimate_dimensions(
        standardize(sample), mu[rows], n_boot=n_boot, seed=seed
    )
    dimensions = [
        {"estimator": e.estimator, "value": float(e.value), "std": _number(e.std)}
        for e in estimates
    ]
    return {
        "attribution": attributions,
        "observable_correlations": correlations,
        "constraints": found,
        "dimension": {
            "n_features": len(names),
            "exact_constraints_found": n_exact,
            "implied_by_exact_constraints": len(names) - n_exact,
            "estimates": dimensions,
            "relevant_latents": n_relevant,
        },
    }


def format_interpretation(interpretation: dict) -> list[str]:
    """Return markdown lines for the attribution, constraint and dimension tables."""
    lines = ["## What the relevant latents encode", ""]
    if interpretation["attribution"]:
        lines += [f"- {a['formula']}" for a in interpretation["attribution"]]
    else:
        lines.append("No latent is relevant.")
    correlations = interpretation["observable_correlations"]
    if correlations:
        observables = list(dict.fromkeys(c["observable"] for c in correlations))
        latents = list(dict.fromkeys(c["latent"] for c in correlations))
        lookup = {(c["latent"], c["observable"]): c for c in correlations}
        lines += [
            "",
            "Pearson r (Spearman rho) with pair observables:",
            "",
            "| latent | " + " | ".join(observables) + " |",
            "|---|" + "---|" * len(observables),
        ]
        for latent in latents:
            cells = [
                _correlation_text(
                    lookup[latent, o]["pearson"], lookup[latent, o]["spearman"]
                )
                for o in observables
            ]
            lines.append(f"| {latent} | " + " | ".join(cells) + " |")
    lines += ["", "## Constraints found in the features", ""]
    if interpretation["constraints"]:
        lines += [f"- {c['formula']}" for c in interpretation["constraints"]]
    else:
        lines.append("None within the default thresholds.")
    dimension = interpretation["dimension"]
    lines += [
        "",
        "## Intrinsic dimension",
        "",
        "| estimator | value |",
        "|---|---|",
    ]
    for estimate in dimension["estimates"]:
        spread = "" if estimate["std"] is None else f" ± {estimate['std']:.2f}"
        lines.append(f"| {estimate['estimator']} | {estimate['value']:.2f}{spread} |")
    lines += [
        f"| features minus exact constraints found | "
        f"{dimension['n_features']} − {dimension['exact_constraints_found']} = "
        f"{dimension['implied_by_exact_constraints']} |",
        f"| VAE relevant latents (reference run) | {dimension['relevant_latents']} |",
        "",
    ]
    return lines
