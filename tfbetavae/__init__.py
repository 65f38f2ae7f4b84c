"""tfbetavae: β-VAE (Higgins et al. 2017) for TensorFlow/Keras 3, with TFP distributions.

The model, networks, data and training are imported with the package; metrics, export, pictures and
tuning load on first use (``tfbetavae.beta_vae_score`` imports ``tfbetavae.metrics``), so
``import tfbetavae`` stays quick and KerasTuner is only imported by those who tune.
"""

import importlib

from tfbetavae.data import (
    DSpritesArrays,
    GroundTruthData,
    ProceduralDSprites,
    dsprites,
    training_dataset,
)
from tfbetavae.model import BetaVAE
from tfbetavae.networks import Decoder, Encoder
from tfbetavae.training import compile_model, load_model, make_deterministic, make_strategy, train

__version__ = "0.1.0"

_LAZY = {
    "tfbetavae.metrics": (
        "beta_vae_batches", "beta_vae_score", "factor_vae_score", "mig", "dci", "sap", "evaluate",
        "DisentanglementCallback",
    ),
    "tfbetavae.export": ("export_saved_model", "load_exported"),
    "tfbetavae.viz": ("save_traversal", "save_reconstructions", "traversal_grid", "TraversalCallback"),
    "tfbetavae.tuning": ("BetaVAEHyperModel", "search"),
    "tfbetavae.objectives": ("BetaTCVAE", "FactorVAE"),
}
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str):
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'tfbetavae' has no attribute {name!r}")


__all__ = [
    "BetaVAE",
    "DSpritesArrays",
    "Decoder",
    "Encoder",
    "GroundTruthData",
    "ProceduralDSprites",
    "compile_model",
    "dsprites",
    "load_model",
    "make_deterministic",
    "make_strategy",
    "train",
    "training_dataset",
    *_LAZY_NAMES,
]
