"""One way to draw and save a picture: an Agg figure that touches no global pyplot state, saved atomically.

viz, the tuner's trade-off plot and the studies' report all draw with ``figure`` and write with ``save_figure``
(PNG through matplotlib) or ``save_image`` (a Pillow image: PNG or an animated GIF), so a picture a user opens
while a study redraws it is the old one or the new one, never half of one, and no backend is switched
process-wide (``matplotlib.use`` would change a user's own plots).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tfbetavae.runs import atomic_write

__all__ = ["figure", "save_figure", "save_image"]


def figure(width: float, height: float, dpi: int = 100):
    """A matplotlib ``Figure`` with its own Agg canvas (no pyplot, no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    made = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(made)
    return made


def save_figure(made, path: str | os.PathLike, dpi: int = 110, **kwargs: Any) -> Path:
    """Writes a figure as PNG, atomically."""
    return atomic_write(path, lambda temporary: made.savefig(temporary, format="png", dpi=dpi, **kwargs))


def save_image(image, path: str | os.PathLike, format: str = "PNG", **kwargs: Any) -> Path:  # noqa: A002 - Pillow's name
    """Writes a Pillow image (``format`` "PNG", or "GIF" with ``save_all=True`` for frames), atomically."""
    return atomic_write(path, lambda temporary: image.save(temporary, format=format, **kwargs))
