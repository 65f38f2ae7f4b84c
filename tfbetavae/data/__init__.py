"""Ground-truth data sets (known factors) and tf.data pipelines."""

from tfbetavae.data.cars3d import Cars3D, load_cars3d
from tfbetavae.data.dsprites import (
    DSpritesArrays,
    ProceduralDSprites,
    dsprites,
    load_dsprites_hdf5,
    load_dsprites_npz,
    tfds_manual_path,
)
from tfbetavae.data.dsprites_variants import ColorDSprites, NoisyDSprites, ScreamDSprites
from tfbetavae.data.ground_truth import GroundTruthData, check_images
from tfbetavae.data.indexed import IndexedImages
from tfbetavae.data.mpi3d import MPI3D, load_mpi3d
from tfbetavae.data.pairs import GroundTruthPairs, differing_factors, pairs_dataset
from tfbetavae.data.pipeline import (
    array_dataset,
    dataset_pipeline,
    ground_truth_dataset,
    image_folder_dataset,
    training_dataset,
)
from tfbetavae.data.registry import DATA_SETS, data_set
from tfbetavae.data.shapes3d import Shapes3D, load_shapes3d
from tfbetavae.data.smallnorb import SmallNORB, load_smallnorb
from tfbetavae.data.tfds import tfds_dataset
from tfbetavae.data.tfds_adapter import tfds_ground_truth

__all__ = [
    "SmallNORB",
    "Shapes3D",
    "MPI3D",
    "Cars3D",
    "DATA_SETS",
    "ColorDSprites",
    "IndexedImages",
    "NoisyDSprites",
    "ScreamDSprites",
    "data_set",
    "load_cars3d",
    "load_mpi3d",
    "load_shapes3d",
    "load_smallnorb",
    "tfds_ground_truth",
    "DSpritesArrays",
    "array_dataset",
    "dataset_pipeline",
    "ground_truth_dataset",
    "image_folder_dataset",
    "training_dataset",
    "tfds_dataset",
    "GroundTruthData",
    "GroundTruthPairs",
    "differing_factors",
    "pairs_dataset",
    "ProceduralDSprites",
    "check_images",
    "dsprites",
    "load_dsprites_hdf5",
    "load_dsprites_npz",
    "tfds_manual_path",
]
