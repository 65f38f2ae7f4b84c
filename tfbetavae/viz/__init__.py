"""Pictures of what a β-VAE has learnt: latent traversals, reconstructions, KL per dimension.

A *latent traversal* takes one seed image, encodes it to its posterior mean, and then sweeps one latent
dimension at a time over a range (``limits``, in units of the N(0, 1) prior) while every other dimension
stays at the seed's mean; each swept code is decoded. One row per dimension shows what that dimension
controls. Rows are ordered by the dimension's average KL divergence from the prior (most informative
first); a dimension whose KL is below ``ACTIVE_KL_THRESHOLD`` carries no information and is marked
*inactive* — its row should not change across the columns.

Three modules: ``traversal`` (the traversal as arrays, and which dimensions to show), ``pictures`` (labelled
pictures, PNG and GIF files, the KL bar chart) and ``callback`` (``TraversalCallback``); every name is here too.

Every function takes a model as ``tfbetavae.load`` returns it (a ``BetaVAE``, a ``SavedModelVAE``, or any
object speaking the protocol ``tfbetavae.loading.VAEModel``), or a path, which it opens with ``tfbetavae.load``.

Functions:
    traverse / traversal_grid   the traversal as arrays (numpy, no drawing)
    traversal_image             the labelled traversal picture (a PIL image)
    save_traversal              ... written as PNG
    save_traversal_gif          an animated GIF sweeping all dimensions at once
    save_reconstructions        inputs over their reconstructions, as PNG
    save_kl_bar_chart           bar chart of the KL of each dimension, as PNG (matplotlib)
    TraversalCallback           traversal and reconstruction grids in TensorBoard during ``fit``
"""

from __future__ import annotations

from tfbetavae.loading import closed_form_kl
from tfbetavae.model import ACTIVE_KL_THRESHOLD
from tfbetavae.viz.callback import TraversalCallback
from tfbetavae.viz.pictures import (  # noqa: F401 - the layout constants too, outside __all__ as before
    GAP,
    HEADER_HEIGHT,
    LABEL_WIDTH,
    TITLE_HEIGHT,
    picture_size,
    save_kl_bar_chart,
    save_reconstructions,
    save_traversal,
    save_traversal_gif,
    traversal_image,
)
from tfbetavae.viz.traversal import Traversal, reconstruction_grid, tile, traversal_grid, traverse

__all__ = [
    "ACTIVE_KL_THRESHOLD",
    "Traversal",
    "TraversalCallback",
    "closed_form_kl",
    "picture_size",
    "reconstruction_grid",
    "save_kl_bar_chart",
    "save_reconstructions",
    "save_traversal",
    "save_traversal_gif",
    "tile",
    "traversal_grid",
    "traversal_image",
    "traverse",
]


# --------------------------------------------------------------------------- old names
def load_model(path):
    """Deprecated alias of ``tfbetavae.load``."""
    import warnings

    from tfbetavae.loading import load

    warnings.warn("tfbetavae.viz.load_model is deprecated; use tfbetavae.load", DeprecationWarning, stacklevel=2)
    return load(path)


def __getattr__(name: str):
    if name == "ExportedModel":  # the old SavedModel wrapper: now tfbetavae.loading.SavedModelVAE
        import warnings

        from tfbetavae.loading import SavedModelVAE

        warnings.warn("tfbetavae.viz.ExportedModel is deprecated; use tfbetavae.load", DeprecationWarning, stacklevel=2)
        return SavedModelVAE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
