"""tfbetavae: β-VAE (Higgins et al. 2017) for TensorFlow/Keras 3, with TFP distributions.

Every public name loads its module on first use (``tfbetavae.BetaVAE`` imports ``tfbetavae.model``,
``tfbetavae.beta_vae_score`` imports ``tfbetavae.metrics``), so ``import tfbetavae`` and the command line's
``--help`` do not import TensorFlow, and KerasTuner is only imported by those who tune.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "tfbetavae.data": ("DSpritesArrays", "GroundTruthData", "ProceduralDSprites", "dsprites", "training_dataset"),
    "tfbetavae.model": ("BetaVAE",),
    "tfbetavae.networks": ("Decoder", "Encoder"),
    "tfbetavae.training": ("compile_model", "load_model", "make_deterministic", "make_strategy", "train"),
    "tfbetavae.loading": ("load",),
    "tfbetavae.metrics": (
        "beta_vae_batches", "beta_vae_score", "factor_vae_score", "mig", "dci", "sap", "evaluate",
        "DisentanglementCallback",
    ),
    "tfbetavae.export": ("export_saved_model", "load_exported"),
    "tfbetavae.viz": ("save_traversal", "save_reconstructions", "traversal_grid", "TraversalCallback"),
    "tfbetavae.tuning": ("BetaVAEHyperModel", "search"),
    "tfbetavae.studies": ("study",),
    "tfbetavae.reference": ("load_reference", "reference_models"),
    "tfbetavae.objectives": ("BetaTCVAE", "FactorVAE"),
}
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str):
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'tfbetavae' has no attribute {name!r}")


__all__ = [*_LAZY_NAMES]


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_NAMES})
