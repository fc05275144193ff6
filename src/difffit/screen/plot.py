"""``scores.png``: the library's score distribution, its null model and the hits (matplotlib)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from difffit.io.atomic import atomic_path
from difffit.screen.confidence import CORRELATION_METRICS, MIN_LIBRARY
from difffit.screen.workflow import ScreenResult

__all__ = ["LARGE_LIBRARY", "plot_scores", "significance_title"]

#: Above this many candidates the histogram's counts are drawn on a log scale (the null's tail
#: and the hits stay visible beside the bulk) and the scatter's points are small and faint.
LARGE_LIBRARY = 500


def significance_title(n_candidates: int, n_significant: int, alpha: float, null) -> str:
    """The histogram's title: what was called, or that nothing was tested (no null model)."""
    if null is None:
        return (
            f"{n_candidates} candidates, not tested for significance (fewer than "
            f"{MIN_LIBRARY} fitted: no library null)"
        )
    return f"{n_candidates} candidates, {n_significant} significant at FDR {alpha:g}"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "matplotlib is not installed (pip install 'difffit[plot]' to get scores.png)"
        ) from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_scores(result: ScreenResult, path: str | os.PathLike[str], *, n_labels: int = 6) -> Path:
    """Write a PNG of a screen.

    Left: the histogram of the library's size-normalised scores (what ranks the candidates) with
    the fitted Gumbel null, the significant candidates in red. Right: each candidate's best score
    against its size, with the null's median and the first call's threshold (``p = alpha / n``)
    as curves of equal normalised score — what the size normalisation does.

    Raises
    ------
    ImportError
        matplotlib is missing (the message says how to install it).
    """
    plt = _pyplot()
    from matplotlib.ticker import NullFormatter

    path = Path(path)
    metric = result.config.metric
    ranked = result.ranked
    u = np.array([c.norm_score for c in ranked], dtype=float)
    scores = np.array([c.record.score for c in ranked], dtype=float)
    atoms = np.array([max(c.record.n_atoms, 1) for c in ranked], dtype=float)
    sig = np.array([c.significant for c in ranked], dtype=bool)
    null = result.null
    corr = metric in CORRELATION_METRICS
    rest_label = "not significant" if null is not None else "not tested (no null model)"
    # BH calls the best candidate when its p-value is below alpha / n
    first_call_p = result.config.alpha / max(len(u), 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.4), constrained_layout=True)
    try:
        if len(u):
            lo, hi = float(u.min()), float(u.max())
            pad = 0.05 * max(hi - lo, 1e-3)
            # bin width from the bulk (Freedman-Diaconis), so far-out hits do not squash it
            width = np.diff(np.histogram_bin_edges(u, bins="fd"))[0] if len(u) > 3 else 1.0
            n_bins = int(np.clip(np.ceil((hi - lo + 2 * pad) / max(width, 1e-9)), 10, 200))
            bins = np.linspace(lo - pad, hi + pad, n_bins + 1)
            ax1.hist(u[~sig], bins=bins, color="0.7", edgecolor="0.4", label=rest_label)
            if sig.any():
                ax1.hist(u[sig], bins=bins, color="C3", edgecolor="0.3", label="significant")
            if null is not None:
                ax1.axvline(null.u_at(first_call_p), color="C3", lw=1, ls=":",
                            label="p = alpha / n (first call)")  # fmt: skip
                x = np.linspace(bins[0], max(bins[-1], null.u_at(first_call_p) * 1.05), 600)
                width = bins[1] - bins[0]
                ax1.plot(x, null.pdf(x) * len(u) * width, color="C0", lw=1.5,
                         label="null (Gumbel, library quartiles)")  # fmt: skip
            for i in np.flatnonzero(sig)[:n_labels]:
                ax1.annotate(ranked[i].record.name, (u[i], 1.0), xytext=(0, 6),
                             textcoords="offset points", rotation=90, ha="center", va="bottom",
                             fontsize=7, color="C3")  # fmt: skip
            ax1.margins(y=0.35)
            if len(u) > LARGE_LIBRARY:  # the null's tail and a few hits beside 10^4 decoys
                ax1.set_yscale("log")
                ax1.set_ylim(0.5, 50.0 * float(np.histogram(u, bins=bins)[0].max()))
        ax1.set_xlabel(f"atanh({metric}) x sqrt(atoms)" if corr else f"best {metric}")
        ax1.set_ylabel("candidates")
        ax1.set_title(significance_title(len(u), int(sig.sum()), result.config.alpha, null))
        ax1.legend(fontsize=8, loc="upper right")

        big = len(u) > LARGE_LIBRARY
        ax2.scatter(atoms[~sig], scores[~sig], s=3 if big else 12, color="0.5",
                    alpha=0.35 if big else 1.0, linewidths=0, label=rest_label)  # fmt: skip
        ax2.scatter(atoms[sig], scores[sig], s=24, color="C3", label="significant")
        for i in range(min(n_labels, len(ranked))):
            ax2.annotate(ranked[i].record.name, (atoms[i], scores[i]), fontsize=7,
                         xytext=(3, 3), textcoords="offset points")  # fmt: skip
        if corr and null is not None and len(atoms):
            n = np.geomspace(atoms.min() * 0.8, atoms.max() * 1.25, 200)
            ax2.plot(n, np.tanh(null.median / np.sqrt(n)), color="C0", lw=1, ls="--",
                     label="null median")  # fmt: skip
            ax2.plot(n, np.tanh(null.u_at(first_call_p) / np.sqrt(n)), color="C3", lw=1, ls=":",
                     label="p = alpha / n (first call)")  # fmt: skip
        ax2.set_xscale("log")
        if len(atoms):
            lo, hi = ax2.get_xlim()
            ticks = [t for t in (100, 200, 500, 1000, 2000, 5000, 10000, 20000) if lo <= t <= hi]
            ax2.set_xticks(ticks, [str(t) for t in ticks])
        ax2.xaxis.set_minor_formatter(NullFormatter())
        ax2.set_xlabel("heavy atoms")
        ax2.set_ylabel(f"best {metric}")
        ax2.set_title("best score against candidate size")
        ax2.legend(fontsize=8)
        with atomic_path(path, keep_suffix=True) as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
    return path
