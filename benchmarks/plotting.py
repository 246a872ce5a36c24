"""Shared figure output: every figure of the suite is saved the same way (tight layout, 120 dpi)."""
from __future__ import annotations

from pathlib import Path


def save_figure(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
