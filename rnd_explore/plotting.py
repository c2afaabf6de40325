"""Matplotlib helpers shared by the result and verification plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnd_explore.atomic_io import atomic_write


def pyplot() -> Any:
    """Import ``matplotlib.pyplot`` with the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, path: Path, dpi: int = 110) -> Path:
    """Lay out ``figure``, write it as a PNG to ``path`` atomically and close it."""
    figure.tight_layout()
    atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=dpi))
    pyplot().close(figure)
    return path
