"""Plots of an analysis, styled with mplhep and written as PNG files."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import mplhep
import numpy as np

from models.relevance import sort_decreasing, summarize_runs

STYLE = mplhep.style.ROOT


def _populated_range(h):
    """Return the x range of the non-empty bins of 1D histogram ``h``, or None."""
    values = h.values()
    filled = np.flatnonzero(values > 0)
    if not filled.size:
        return None
    edges = h.axes[0].edges
    low, high = edges[filled[0]], edges[filled[-1] + 1]
    pad = 0.05 * (high - low) or 0.5 * (edges[1] - edges[0])
    return low - pad, high + pad


def _flow_note(h) -> str:
    flow = h.values(flow=True)
    under, over = flow[0], flow[-1]
    parts = []
    if under:
        parts.append(f"underflow {under:.0f}")
    if over:
        parts.append(f"overflow {over:.0f}")
    return ", ".join(parts)


def _label(ax, text: str) -> None:
    ax.text(0.02, 1.01, text, transform=ax.transAxes, fontsize="small", va="bottom")


def plot_relevance(
    relevance: np.ndarray, path: Path, title: str, threshold: float = 1.0
) -> None:
    """Plot the relevance ranking: mean and spread over runs, every run faint.

    ``relevance`` has shape ``(runs, latent_dim)``.
    """
    ranked = sort_decreasing(relevance)
    mean, std = summarize_runs(relevance)
    ranks = np.arange(1, ranked.shape[1] + 1)
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(8, 6))
        for i, row in enumerate(ranked):
            ax.plot(
                ranks,
                row,
                color="0.75",
                marker=".",
                lw=0.8,
                zorder=1,
                label="single runs" if i == 0 else None,
            )
        ax.errorbar(
            ranks,
            mean,
            yerr=std,
            fmt="o-",
            color="C0",
            capsize=4,
            label=f"mean ± std over {ranked.shape[0]} runs",
            zorder=3,
        )
        ax.axhline(threshold, color="C3", ls="--", label=f"threshold {threshold:g}")
        ax.set_yscale("log")
        ax.set_xticks(ranks)
        ax.set_xlabel("latent, by decreasing relevance")
        ax.set_ylabel(r"relevance = std($\mu$) / mean($\sigma$)")
        ax.legend(loc="lower left", fontsize="small")
        _label(ax, title)
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)


def plot_latent_grid(histograms: dict, feature_names, relevance_row, path, title):
    """Draw latent means (rows, by decreasing relevance) against each feature.

    ``histograms`` maps ``(rank, feature)`` to 2D histograms as returned by
    :func:`processors.histograms.latent_feature_histograms`;
    ``relevance_row`` holds the sorted relevance of the run shown.
    """
    n_rows = len(relevance_row)
    n_cols = len(feature_names)
    with plt.style.context(STYLE):
        # Every row shares its latent's binning and every column its feature's,
        # so the panels share axes and only the outer ones carry tick labels.
        # A fixed layout replaces constrained_layout, which took more than
        # half of the time of an 8 x 8 grid.
        fig, axes = plt.subplots(
            n_rows,
            n_cols,
            figsize=(2.2 * n_cols, 2.0 * n_rows),
            squeeze=False,
            sharex="col",
            sharey="row",
        )
        fig.subplots_adjust(
            left=0.9 / (2.2 * n_cols),
            right=0.99,
            bottom=0.6 / (2.0 * n_rows),
            top=1 - 0.5 / (2.0 * n_rows),
            wspace=0.08,
            hspace=0.08,
        )
        for rank in range(n_rows):
            for column, name in enumerate(feature_names):
                ax = axes[rank, column]
                mplhep.hist2dplot(histograms[(rank, name)], ax=ax, cbar=False, cmin=1)
                ax.set_xlabel(name if rank == n_rows - 1 else "", fontsize=9)
                ax.set_ylabel(
                    rf"$\mu_{{{rank + 1}}}$, rel. {relevance_row[rank]:.2g}"
                    if column == 0
                    else "",
                    fontsize=9,
                )
                ax.tick_params(labelsize=6)
                ax.label_outer()
        fig.suptitle(title, fontsize=12)
        fig.savefig(path, dpi=80)
        plt.close(fig)


def plot_constraints(histograms: dict, names, path, title) -> None:
    """Draw one panel per constraint histogram, on a log scale."""
    n_cols = 4
    n_rows = int(np.ceil(len(names) / n_cols))
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(
            n_rows,
            n_cols,
            figsize=(5 * n_cols, 4 * n_rows),
            squeeze=False,
            constrained_layout=True,
        )
        for ax, name in zip(axes.flat, names):
            h = histograms[name]
            mplhep.histplot(h, ax=ax, histtype="fill", alpha=0.6)
            ax.set_xlabel(h.axes[0].label, fontsize=10)
            ax.set_ylabel(f"events / {h.axes[0].widths[0]:g}", fontsize=10)
            shown = _populated_range(h)
            if shown is not None:
                ax.set_xlim(*shown)
            note = _flow_note(h)
            if note:
                ax.text(
                    0.98, 0.95, note, transform=ax.transAxes, ha="right", fontsize=8
                )
            if h.values().sum() > 0:
                ax.set_yscale("log")
            ax.tick_params(labelsize=8)
        for ax in list(axes.flat)[len(names) :]:
            ax.set_visible(False)
        fig.suptitle(title, fontsize=14)
        fig.savefig(path, dpi=80)
        plt.close(fig)


def plot_mass(histogram, path, title) -> None:
    """Draw the dimuon invariant mass distribution."""
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(8, 6))
        mplhep.histplot(histogram, ax=ax, histtype="errorbar", color="k", label=title)
        ax.set_xlabel(histogram.axes[0].label)
        ax.set_ylabel(f"events / {histogram.axes[0].widths[0]:g} GeV")
        shown = _populated_range(histogram)
        if shown is not None:
            ax.set_xlim(max(shown[0], histogram.axes[0].edges[0]), shown[1])
        ax.legend(fontsize="small")
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
