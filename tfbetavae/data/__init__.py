"""Ground-truth data sets (known factors) and tf.data pipelines."""

from tfbetavae.data.dsprites import (
    DSpritesArrays,
    ProceduralDSprites,
    dsprites,
    load_dsprites_hdf5,
    load_dsprites_npz,
    tfds_manual_path,
)
from tfbetavae.data.ground_truth import GroundTruthData, check_images

__all__ = [
    "DSpritesArrays",
    "GroundTruthData",
    "ProceduralDSprites",
    "check_images",
    "dsprites",
    "load_dsprites_hdf5",
    "load_dsprites_npz",
    "tfds_manual_path",
]
