"""One name for every data set with known factors: ``NAME`` or ``NAME:PATH``, the way ``--data`` spells it.

``data_set("shapes3d:/data/3dshapes.h5")``, ``data_set("color-dsprites")``: the CLI, studies and tuning all
resolve names here (through ``tfbetavae.data.sources.resolve_data``), so a name that works in one place works
everywhere. For ``dsprites``, ``shapes3d`` and ``smallnorb``, PATH may also be a TFDS ``data_dir`` in which that
data set is prepared; it is then read through the TFDS adapter.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tfbetavae.data.ground_truth import GroundTruthData

# The data sets TFDS can also serve offline: name → (TFDS name, split, image size) as the study used them
# (SmallNORB: both halves, resized to 64×64).
TFDS_NAMES = {
    "dsprites": ("dsprites", "train", None),
    "shapes3d": ("shapes3d", "train", None),
    "smallnorb": ("smallnorb", "train+test", 64),
}


def _dsprites(path: str | None) -> GroundTruthData:
    from tfbetavae.data.dsprites import dsprites

    return dsprites(path)


def _variant(cls_name: str) -> Callable[[str | None], GroundTruthData]:
    def load(path: str | None) -> GroundTruthData:
        from tfbetavae.data import dsprites_variants

        return getattr(dsprites_variants, cls_name)(_dsprites(path))

    return load


def _scream(path: str | None) -> GroundTruthData:
    from tfbetavae.data.dsprites_variants import ScreamDSprites

    if path is None:
        raise ValueError("scream-dsprites needs a background image: --data scream-dsprites:PATH/TO/The_Scream.jpg")
    return ScreamDSprites(path, _dsprites(None))


def _needs_path(name: str, loader: Callable[[str], GroundTruthData], what: str) -> Callable[[str | None], GroundTruthData]:
    def load(path: str | None) -> GroundTruthData:
        if path is None:
            raise ValueError(f"{name} is read from the file you hold: give --data {name}:PATH ({what})")
        return loader(path)

    return load


def _shapes3d(path: str) -> GroundTruthData:
    from tfbetavae.data.shapes3d import load_shapes3d

    return load_shapes3d(path)


def _mpi3d(path: str) -> GroundTruthData:
    from tfbetavae.data.mpi3d import load_mpi3d

    return load_mpi3d(path)


def _smallnorb(path: str) -> GroundTruthData:
    from tfbetavae.data.smallnorb import load_smallnorb

    return load_smallnorb(path)


def _cars3d(path: str) -> GroundTruthData:
    from tfbetavae.data.cars3d import load_cars3d

    return load_cars3d(path)


# name → (loader taking the PATH part or None, one line for help texts)
DATA_SETS: dict[str, tuple[Callable[[str | None], GroundTruthData], str]] = {
    "dsprites": (_dsprites, "dSprites: procedural, or the real .npz/.hdf5 (or $TFBETAVAE_DSPRITES)"),
    "procedural": (lambda path: _dsprites("procedural"), "the procedural dSprites renderer"),
    "color-dsprites": (_variant("ColorDSprites"), "dSprites with a random sprite colour"),
    "noisy-dsprites": (_variant("NoisyDSprites"), "dSprites on uniform noise"),
    "scream-dsprites": (_scream, "dSprites on patches of an image you supply (the study: The Scream)"),
    "shapes3d": (_needs_path("shapes3d", _shapes3d, "3dshapes.h5"), "Shapes3D from 3dshapes.h5"),
    "mpi3d": (_needs_path("mpi3d", _mpi3d, "mpi3d_toy/realistic/real.npz"), "MPI3D from its .npz"),
    "smallnorb": (_needs_path("smallnorb", _smallnorb, "the folder of the six NYU files"), "SmallNORB from NYU's files"),
    "cars3d": (_needs_path("cars3d", _cars3d, "the folder of car_XXX_mesh.mat files"), "Cars3D from its .mat files"),
}


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"NAME:PATH"`` → (name, path); ``"NAME"`` → (name, None). Names are case-insensitive."""
    name, _, path = str(spec).partition(":")
    return name.strip().lower(), (path or None)


def is_data_set_name(spec: str) -> bool:
    """Whether ``spec`` starts with a known data set name (``NAME`` or ``NAME:PATH``)."""
    return split_spec(spec)[0] in DATA_SETS


def data_set(spec: str) -> GroundTruthData:
    """The ground-truth data set ``spec`` names: ``NAME`` or ``NAME:PATH`` (see ``DATA_SETS``)."""
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"a data set is named by a string such as 'shapes3d:/data/3dshapes.h5', got {type(spec).__name__}")
    name, path = split_spec(os.fspath(spec))
    if name not in DATA_SETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATA_SETS)} (NAME or NAME:PATH)")
    if path is not None and name in TFDS_NAMES and _tfds_prepared(Path(path), TFDS_NAMES[name][0]) and not (
        name == "dsprites" and _dsprites_manual_file(Path(path))  # the bit-packed hdf5 loader needs 8× less memory
    ):
        from tfbetavae.data.tfds_adapter import tfds_ground_truth

        tfds_name, split, size = TFDS_NAMES[name]
        return tfds_ground_truth(tfds_name, data_dir=path, split=split, image_size=size)
    return DATA_SETS[name][0](path)


def _tfds_prepared(path: Path, tfds_name: str) -> bool:
    """A TFDS data_dir holding a prepared ``tfds_name`` (its ``dataset_info.json`` under ``<dir>/<name>/``)."""
    folder = path / tfds_name
    return folder.is_dir() and any(folder.rglob("dataset_info.json"))


def _dsprites_manual_file(path: Path) -> bool:
    from tfbetavae.data.dsprites import tfds_manual_path

    return tfds_manual_path(path).is_file()
