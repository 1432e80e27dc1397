"""Figures of single runs (matplotlib, written atomically as PNG)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from nrep.core.results import atomic_write_bytes


def loop_snapshot(x: np.ndarray, path: Path, title: str = "", loop_spacing: int | None = None) -> None:
    """A 3-D view of a bead chain coloured from first to last bead, like the paper's Fig. 2.

    Loop pairs (i, i + loop_spacing) are drawn as thin grey lines when given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    fig = plt.figure(figsize=(5, 5), dpi=120)
    ax = fig.add_subplot(projection="3d")
    if loop_spacing:
        loops = np.stack([x[:-loop_spacing], x[loop_spacing:]], axis=1)
        ax.add_collection3d(Line3DCollection(loops, colors="0.8", linewidths=0.3))
    colours = plt.cm.viridis(np.linspace(0, 1, len(x)))
    bonds = np.stack([x[:-1], x[1:]], axis=1)
    ax.add_collection3d(Line3DCollection(bonds, colors=colours[:-1], linewidths=1.2))
    ax.scatter(x[:, 0], x[:, 1], x[:, 2], c=colours, s=4)
    ax.set_title(title, fontsize=9)
    ax.set_box_aspect((1, 1, 1))
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_ticklabels([])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
