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
from tfbetavae.data.pipeline import (
    array_dataset,
    dataset_pipeline,
    ground_truth_dataset,
    image_folder_dataset,
    training_dataset,
)
from tfbetavae.data.tfds import tfds_dataset

__all__ = [
    "DSpritesArrays",
    "array_dataset",
    "dataset_pipeline",
    "ground_truth_dataset",
    "image_folder_dataset",
    "training_dataset",
    "tfds_dataset",
    "GroundTruthData",
    "ProceduralDSprites",
    "check_images",
    "dsprites",
    "load_dsprites_hdf5",
    "load_dsprites_npz",
    "tfds_manual_path",
]
