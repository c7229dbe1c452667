"""Evidence and plots for the reproduction report of the paper's experiments.

The experiments are those of V. Sanz, "Learning symmetries in datasets",
arXiv:2504.05174: two toys (square, circle), e+e- -> mu+mu- at fixed energy
and pp -> gamma*/Z -> mu+mu-.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import mplhep
import numpy as np
from sklearn.isotonic import IsotonicRegression

from models.relevance import sort_decreasing, summarize_runs

STYLE = mplhep.style.ROOT


def monotonic_r2(x: np.ndarray, y: np.ndarray) -> float:
    """Return the larger R^2 of an increasing or a decreasing isotonic fit of y(x)."""
    best = 0.0
    total = np.square(y - y.mean()).sum()
    if total == 0:
        return 0.0
    for increasing in (True, False):
        fit = IsotonicRegression(increasing=increasing).fit_transform(x, y)
        best = max(best, 1.0 - np.square(y - fit).sum() / total)
    return float(best)


def correlation_table(latents: np.ndarray, targets: dict[str, np.ndarray]) -> dict:
    """Pearson r and monotonic-fit R^2 of each latent column against each target.

    ``latents`` is ``(n_events, k)``. Returns ``{"pearson": (k, t) array,
    "monotonic_r2": (k, t) array, "targets": names}``; an entry is NaN
    where the latent or the target is constant.
    """
    names = list(targets)
    pearson = np.full((latents.shape[1], len(names)), np.nan)
    monotonic = np.full_like(pearson, np.nan)
    for i in range(latents.shape[1]):
        for j, name in enumerate(names):
            x = np.asarray(targets[name], dtype=np.float64)
            y = latents[:, i].astype(np.float64)
            if x.std() == 0 or y.std() == 0:
                continue
            pearson[i, j] = np.corrcoef(x, y)[0, 1]
            monotonic[i, j] = monotonic_r2(x, y)
    return {"pearson": pearson, "monotonic_r2": monotonic, "targets": names}


def one_to_one_match(table: dict, threshold: float = 0.9) -> bool:
    """Tell whether each latent matches a distinct target strongly.

    A latent matches a target when ``|r| >= threshold`` or the monotonic-fit
    R^2 is at least ``threshold``; every latent must match a different target.
    """
    strong = (np.nan_to_num(np.abs(table["pearson"])) >= threshold) | (
        np.nan_to_num(table["monotonic_r2"]) >= threshold
    )
    n_latents, n_targets = strong.shape
    if n_latents > n_targets:
        return False

    def assign(row, taken):
        if row == n_latents:
            return True
        for column in range(n_targets):
            if (
                strong[row, column]
                and column not in taken
                and assign(row + 1, taken | {column})
            ):
                return True
        return False

    return assign(0, frozenset())


def plot_rankings(rankings: dict[str, np.ndarray], path: Path, title: str) -> None:
    """Plot several relevance rankings (mean and spread over runs) on one axis."""
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(8, 6))
        for i, (label, relevance) in enumerate(rankings.items()):
            mean, std = summarize_runs(relevance)
            ranks = np.arange(1, len(mean) + 1)
            ax.errorbar(
                ranks + 0.05 * i,
                mean,
                yerr=std,
                fmt="o-",
                capsize=4,
                label=f"{label} ({relevance.shape[0]} runs)",
            )
        ax.axhline(1.0, color="0.5", ls="--", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("latent, by decreasing relevance")
        ax.set_ylabel(r"relevance = std($\mu$) / mean($\sigma$)")
        ax.legend(fontsize="small")
        ax.text(0.02, 1.01, title, transform=ax.transAxes, fontsize="small")
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)


def plot_leading_latent_plane(toys: dict, path: Path) -> None:
    """Colour the (x1, x2) plane by the leading latent's mean, one panel per toy.

    ``toys`` maps a label to ``(features, mu_leading)``.
    """
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(1, len(toys), figsize=(7 * len(toys), 6))
        for ax, (label, (features, mu)) in zip(np.atleast_1d(axes), toys.items()):
            points = ax.scatter(
                features[:, 0], features[:, 1], c=mu, s=3, cmap="coolwarm"
            )
            fig.colorbar(points, ax=ax, label=r"$\mu_1$ (leading latent)")
            ax.set_xlabel("$x_1$")
            ax.set_ylabel("$x_2$")
            ax.set_aspect("equal")
            ax.set_title(label, fontsize="medium")
        fig.savefig(path, dpi=80, bbox_inches="tight")
        plt.close(fig)


def plot_latents_vs_targets(
    latents: np.ndarray, targets: dict[str, np.ndarray], relevance_row, path, title
) -> None:
    """Scatter each latent mean (rows) against each target quantity (columns)."""
    names = list(targets)
    n_rows = latents.shape[1]
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(
            n_rows,
            len(names),
            figsize=(2.6 * len(names), 2.2 * n_rows),
            squeeze=False,
            constrained_layout=True,
        )
        for i in range(n_rows):
            for j, name in enumerate(names):
                ax = axes[i, j]
                ax.scatter(targets[name], latents[:, i], s=1, alpha=0.3)
                ax.tick_params(labelsize=6)
                if i == n_rows - 1:
                    ax.set_xlabel(name, fontsize=9)
                if j == 0:
                    ax.set_ylabel(
                        rf"$\mu_{{{i + 1}}}$ ({relevance_row[i]:.2g})", fontsize=9
                    )
        fig.suptitle(title, fontsize=12)
        fig.savefig(path, dpi=80)
        plt.close(fig)


def correlation_cell(pearson: float, monotonic: float) -> str:
    """Format a Pearson r and monotonic-fit R^2 pair; n/a for a constant target."""
    if np.isnan(pearson):
        return "n/a"
    return f"{pearson:+.2f} / {monotonic:.2f}"


def relevance_cell(relevance: np.ndarray) -> str:
    """Format mean ± std per latent for a markdown table cell."""
    mean, std = summarize_runs(relevance)
    return ", ".join(f"{m:.2f}±{s:.2f}" for m, s in zip(mean, std))


def count_distribution(n_relevant) -> str:
    """Format how many runs found each number of relevant latents."""
    counts = np.bincount(np.asarray(n_relevant))
    return ", ".join(f"{n}: {c}" for n, c in enumerate(counts) if c)


__all__ = [
    "correlation_table",
    "count_distribution",
    "monotonic_r2",
    "one_to_one_match",
    "plot_latents_vs_targets",
    "plot_leading_latent_plane",
    "plot_rankings",
    "relevance_cell",
    "sort_decreasing",
]
