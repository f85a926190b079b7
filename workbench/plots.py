"""Plotting is library code: arrays in, a matplotlib Figure out, one style applied once."""
from __future__ import annotations

import matplotlib.pyplot as plt

STYLE = {"figure.dpi": 110, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
         "grid.alpha": 0.3, "font.size": 10}


def _fig(w=5.0, h=3.6):
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(w, h))
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def bars(labels, values, *, ylabel="accuracy (%)", title="", errors=None):
    fig, ax = _fig()
    ax.bar(labels, values, yerr=errors, color=["#4c72b0", "#dd8452", "#dd8452", "#55a868"][: len(labels)] if len(labels) == 4 else "#4c72b0")
    for i, v in enumerate(values):
        ax.text(i, v, f"{v:.1f}", ha="center", va="bottom", fontsize=9)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return fig


def grouped_bars(labels, series: dict, *, ylabel="accuracy (%)", title=""):
    """One group of bars per label, one bar per series (name -> values, one per label)."""
    import numpy as np

    fig, ax = _fig(w=max(5.0, 0.9 * len(labels) * max(1, len(series)) / 3), h=3.8)
    x = np.arange(len(labels))
    w = 0.8 / max(1, len(series))
    for i, (name, vals) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * w, vals, w, label=name)
    ax.set_xticks(x, labels, fontsize=7)
    ax.set(ylabel=ylabel, title=title)
    ax.legend(frameon=False, fontsize=7, ncol=min(3, len(series)))
    return fig


def lines(x, series: dict, *, xlabel="", ylabel="", title="", logx=False):
    fig, ax = _fig()
    for name, ys in series.items():
        ax.plot(x, ys, marker="o", label=name)
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(frameon=False)
    return fig


def scatter_groups(groups: dict, *, xlabel="", ylabel="", title="", cbar_label=""):
    """groups: name -> (x, y) or (x, y, c); a group with `c` is coloured by value on one colour bar."""
    fig, ax = _fig(5.5, 4.2)
    markers = ["o", "^", "s", "x", "D"]
    coloured = None
    for i, (name, (x, y, *c)) in enumerate(groups.items()):
        m = markers[i % len(markers)]
        if c:
            coloured = ax.scatter(x, y, c=c[0], cmap="viridis", s=14, marker=m, label=name, alpha=0.8)
        else:
            ax.scatter(x, y, s=40, marker=m, label=name, alpha=0.9, edgecolors="k", linewidths=0.5)
    if coloured is not None:
        fig.colorbar(coloured, ax=ax, label=cbar_label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(frameon=False, fontsize=8)
    return fig


def heatmap(rows: dict, *, title="", xlabel="", cmap="coolwarm"):
    """rows: label -> 1-D array (equal lengths); one heat row each, one shared symmetric colour scale."""
    import numpy as np

    labels = list(rows)
    M = np.stack([np.asarray(rows[k], dtype=float) for k in labels])
    fig, ax = _fig(7.0, 0.35 * len(labels) + 1.2)
    lim = np.abs(M).max() or 1.0
    im = ax.imshow(M, aspect="auto", cmap=cmap, vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.grid(False)
    ax.set(title=title, xlabel=xlabel)
    fig.colorbar(im, ax=ax, fraction=0.03)
    return fig


def close(fig):
    plt.close(fig)
