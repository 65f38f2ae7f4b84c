"""The reference models shipped in the repository's ``exported_models/``: a trained VAE and β-VAE, ready to load.

They come from the paper study (docs/reproduction.md; made by ``scripts/ship_reference_models.py``), and their
model cards hold the scores the study measured, the setting, seed and steps. ``load_reference("beta-vae")``
opens one as a ``tfbetavae.loading.SavedModelVAE`` — or use ``tfbetavae.load("exported_models/beta-vae")`` or a
bare ``tf.saved_model.load("exported_models/beta-vae/1")``.
"""

from __future__ import annotations

import os
from pathlib import Path

from tfbetavae.loading import ModelLoadError, SavedModelVAE, load, numeric_versions

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "exported_models"
REFERENCE_NAMES = ("vae", "beta-vae")


def reference_dir() -> Path:
    """Where the shipped models are: ``$TFBETAVAE_REFERENCE_DIR``, else the repository's ``exported_models/``."""
    return Path(os.environ.get("TFBETAVAE_REFERENCE_DIR") or REFERENCE_DIR)


def reference_models() -> list[str]:
    """The names of the shipped models present (each a SavedModel base folder with numeric versions)."""
    folder = reference_dir()
    return [name for name in REFERENCE_NAMES if numeric_versions(folder / name)]


def load_reference(name: str = "beta-vae", version: int | None = None) -> SavedModelVAE:
    """A shipped reference model by name (``"vae"`` or ``"beta-vae"``), its newest version unless ``version``."""
    shipped = reference_models()
    if name not in shipped:
        listed = ", ".join(shipped) or "none"
        raise ModelLoadError(f"no shipped reference model {name!r} in {reference_dir()} (shipped: {listed})")
    return load(reference_dir() / name, version)
