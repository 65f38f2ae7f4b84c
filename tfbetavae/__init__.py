"""tfbetavae: β-VAE (Higgins et al. 2017) for TensorFlow/Keras 3, with TFP distributions.

Public API: the model, its networks, ground-truth data and pipelines, and training runs.
"""

from tfbetavae.data import (
    DSpritesArrays,
    GroundTruthData,
    ProceduralDSprites,
    dsprites,
    training_dataset,
)
from tfbetavae.model import BetaVAE
from tfbetavae.networks import Decoder, Encoder
from tfbetavae.training import compile_model, train

__version__ = "0.1.0"

__all__ = [
    "BetaVAE",
    "DSpritesArrays",
    "Decoder",
    "Encoder",
    "GroundTruthData",
    "ProceduralDSprites",
    "compile_model",
    "dsprites",
    "train",
    "training_dataset",
]
