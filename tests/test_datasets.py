"""The field's data sets: loaders on small files of the exact layout, the dSprites variants, names, the TFDS adapter."""

import functools

import numpy as np
import pytest

from tfbetavae.data import registry
from tfbetavae.data.cars3d import load_cars3d
from tfbetavae.data.dsprites import ProceduralDSprites
from tfbetavae.data.dsprites_variants import ColorDSprites, NoisyDSprites, ScreamDSprites
from tfbetavae.data.indexed import mixed_radix_bases
from tfbetavae.data.mpi3d import load_mpi3d
from tfbetavae.data.shapes3d import load_shapes3d
from tfbetavae.data.smallnorb import CHUNKS, load_smallnorb, read_binary_matrix


def _grid(sizes):
    """Every combination of classes, in mixed-radix order (last changes fastest)."""
    return np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1).astype(np.int64)


def _numbered_images(n, shape):
    """uint8 images whose first pixel spells the row number (base 256), so a fetched image names its row."""
    images = np.random.default_rng(0).integers(0, 256, size=(n, *shape), dtype=np.uint8)
    flat = images.reshape(n, -1)
    flat[:, 0], flat[:, 1] = np.arange(n) // 256, np.arange(n) % 256
    return images


def _row_of(images):
    flat = np.round(np.asarray(images).reshape(len(images), -1) * 255).astype(np.int64)
    return flat[:, 0] * 256 + flat[:, 1]


# ------------------------------------------------------------------------------------------------ Shapes3D
SHAPES_SIZES = (2, 3, 2, 2, 2, 3)


def _write_shapes3d(path, sizes=SHAPES_SIZES, shuffle=False, images_shape=None, compression=None):
    import h5py

    classes = _grid(sizes)
    values = [np.linspace(0, 0.9, 10), np.linspace(0, 0.9, 10), np.linspace(0, 0.9, 10), np.linspace(0.75, 1.25, 8),
              np.arange(4.0), np.linspace(-30, 30, 15)]
    labels = np.stack([values[k][classes[:, k]] for k in range(6)], axis=1)
    if shuffle:
        labels = labels[::-1]
    with h5py.File(path, "w") as handle:
        handle.create_dataset("images", data=_numbered_images(len(classes), images_shape or (64, 64, 3)),
                              compression=compression)
        handle["labels"] = labels
    return classes


@pytest.mark.parametrize("in_memory,compression", [(False, None), (True, None), (None, "gzip"), (None, None)])
def test_shapes3d_indexes_images_by_factors(tmp_path, in_memory, compression):
    classes = _write_shapes3d(tmp_path / "3dshapes.h5", compression=compression)
    data = load_shapes3d(tmp_path, in_memory=in_memory)
    loaded = isinstance(data._images, np.ndarray)
    assert loaded == (in_memory if in_memory is not None else compression is not None)
    assert type(data).__name__ == "Shapes3D"
    assert data.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert data.factor_sizes == SHAPES_SIZES and len(data) == len(classes) and data.observation_shape == (64, 64, 3)
    rng = np.random.default_rng(1)
    picks = rng.permutation(len(classes))[:20]  # unsorted, so h5py's increasing-index rule is exercised
    images = data.sample_observations_from_factors(classes[picks], rng)
    assert images.dtype == np.float32 and images.shape == (20, 64, 64, 3) and 0 <= images.min() <= images.max() <= 1
    np.testing.assert_array_equal(_row_of(images), picks)
    factors, images = data.sample(30, rng)
    np.testing.assert_array_equal(_row_of(images), factors @ mixed_radix_bases(SHAPES_SIZES))


def test_shapes3d_bad_files_say_what_is_wrong(tmp_path):
    import h5py

    _write_shapes3d(tmp_path / "rev.h5", shuffle=True)
    with pytest.raises(ValueError, match="not in Shapes3D order"):
        load_shapes3d(tmp_path / "rev.h5")
    _write_shapes3d(tmp_path / "small.h5", images_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=r"uint8 \[N, 64, 64, 3\]"):
        load_shapes3d(tmp_path / "small.h5")
    with h5py.File(tmp_path / "nolabels.h5", "w") as handle:
        handle["images"] = np.zeros((2, 64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="needs datasets 'images' and 'labels'"):
        load_shapes3d(tmp_path / "nolabels.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="corrupt or unreadable"):
        load_shapes3d(tmp_path / "junk.h5")
    with pytest.raises(FileNotFoundError, match="3dshapes.h5"):
        load_shapes3d(tmp_path / "missing")


# ------------------------------------------------------------------------------------------------ MPI3D
MPI_SIZES = (2, 2, 2, 1, 3, 2, 3)


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_mpi3d_indexes_images_by_factors(tmp_path, save):
    n = int(np.prod(MPI_SIZES))
    save(tmp_path / "mpi3d_toy.npz", images=_numbered_images(n, (64, 64, 3)))
    data = load_mpi3d(tmp_path / "mpi3d_toy.npz", factor_sizes=MPI_SIZES)
    assert isinstance(data._images, np.memmap) == (save is np.savez)  # uncompressed files are memory-mapped
    assert type(data).__name__ == "MPI3D" and data.factor_names[0] == "object_color" and data.factor_names[-1] == "vertical_axis"
    classes = _grid(MPI_SIZES)
    picks = np.random.default_rng(0).permutation(n)[:25]
    np.testing.assert_array_equal(_row_of(data.sample_observations_from_factors(classes[picks], None)), picks)


def test_mpi3d_bad_files_say_what_is_wrong(tmp_path):
    np.savez(tmp_path / "a.npz", images=np.zeros((10, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="1036800"):
        load_mpi3d(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", imgs=np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="no array 'images'"):
        load_mpi3d(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", images=np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(ValueError, match=r"uint8 \[N, 64, 64, 3\]"):
        load_mpi3d(tmp_path / "c.npz")
    (tmp_path / "d.npz").write_bytes(b"PK not a zip")
    with pytest.raises(ValueError, match="corrupt or unreadable"):
        load_mpi3d(tmp_path / "d.npz")
    np.savez(tmp_path / "e.npz", images=np.zeros((12, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="12 images, but the factor sizes"):
        load_mpi3d(tmp_path / "e.npz", factor_sizes=(1, 1, 1, 1, 1, 2, 3 + 2))


# ------------------------------------------------------------------------------------------------ SmallNORB
def _write_norb_matrix(path, array, magic=None):
    """NYU's binary matrix format, byte by byte: int32 magic, int32 rank, max(3, rank) int32 dims, C-order data."""
    array = np.ascontiguousarray(array)
    magic = magic if magic is not None else {np.dtype("u1"): 0x1E3D4C55, np.dtype("<i4"): 0x1E3D4C54}[array.dtype]
    dims = list(array.shape) + [1] * (3 - array.ndim)
    header = np.array([magic, array.ndim, *dims], "<i4").tobytes()
    path.write_bytes(header + array.tobytes())


def _norb_value(cat, inst, elev, az, light):
    """A distinct grey level per combination (flat images, so resizing keeps it)."""
    return 2 * ((((cat * 4 + inst) * 2 + elev) * 3 + az // 2) * 2 + light)


def _write_smallnorb(folder, dat_shape=(96, 96)):
    """2 categories × 4 instances (2, 3 in training; 0, 1 in testing) × 2 elevations × 3 azimuths × 2 lightings."""
    for chunk, instances in zip(CHUNKS, ((2, 3), (0, 1))):
        rows = [(c, i, e, a, li) for c in range(2) for i in instances for e in range(2) for a in (0, 2, 4) for li in range(2)]
        rows = [rows[k] for k in np.random.default_rng(len(instances)).permutation(len(rows))]  # NORB is not ordered
        dat = np.zeros((len(rows), 2, *dat_shape), np.uint8)
        for k, row in enumerate(rows):
            dat[k, 0] = _norb_value(*row)
            dat[k, 1] = 255 - _norb_value(*row)  # the second camera is not used
        _write_norb_matrix(folder / f"{chunk}-dat.mat", dat)
        _write_norb_matrix(folder / f"{chunk}-cat.mat", np.array([r[0] for r in rows], "<i4"))
        _write_norb_matrix(folder / f"{chunk}-info.mat", np.array([r[1:] for r in rows], "<i4"))


def test_smallnorb_files_are_written_as_tfds_reads_them(tmp_path):
    from tensorflow_datasets.datasets.smallnorb.smallnorb_dataset_builder import read_binary_matrix as tfds_read

    _write_smallnorb(tmp_path)
    for part in ("dat", "cat", "info"):
        path = tmp_path / f"{CHUNKS[0]}-{part}.mat"
        np.testing.assert_array_equal(read_binary_matrix(path), tfds_read(str(path)))


def test_smallnorb_indexes_images_by_factors_with_random_instance(tmp_path):
    _write_smallnorb(tmp_path)
    data = load_smallnorb(tmp_path)
    assert type(data).__name__ == "SmallNORB" and data.factor_names == ("category", "elevation", "azimuth", "lighting")
    assert data.factor_sizes == (2, 2, 3, 2) and data.observation_shape == (64, 64, 1)
    rng = np.random.default_rng(0)
    factors = np.repeat(_grid(data.factor_sizes), 40, axis=0)
    images = data.sample_observations_from_factors(factors, rng)
    assert images.shape == (len(factors), 64, 64, 1)
    assert np.all(images.max(axis=(1, 2, 3)) == images.min(axis=(1, 2, 3)))  # first camera, resized, still flat
    level = np.round(images[:, 0, 0, 0] * 255).astype(int)
    for (cat, elev, az, light), value in zip(factors, level):
        assert value in {_norb_value(cat, inst, elev, 2 * az, light) for inst in range(4)}
    seen = {(tuple(f), v) for f, v in zip(factors, level)}
    assert len(seen) == 4 * len(_grid(data.factor_sizes))  # each of the 4 instances was drawn for every combination

    exact = load_smallnorb(tmp_path, instance_factor=True)
    assert exact.factor_names[1] == "instance" and exact.factor_sizes == (2, 4, 2, 3, 2)
    f = np.array([[1, 2, 1, 2, 0]])
    assert round(float(exact.sample_observations_from_factors(f, rng)[0, 5, 5, 0]) * 255) == _norb_value(1, 2, 1, 4, 0)


def test_smallnorb_bad_files_say_what_is_wrong(tmp_path):
    _write_smallnorb(tmp_path)
    path = tmp_path / f"{CHUNKS[1]}-dat.mat"
    raw = path.read_bytes()
    path.write_bytes(raw[:-10])
    with pytest.raises(ValueError, match="but the file holds"):
        load_smallnorb(tmp_path)
    path.write_bytes(np.array([0x1234], "<i4").tobytes() + raw[4:])
    with pytest.raises(ValueError, match="not a NORB binary matrix"):
        load_smallnorb(tmp_path)
    _write_norb_matrix(path, np.zeros((48, 2, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"uint8 \[N, 2, 96, 96\]"):
        load_smallnorb(tmp_path)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="testing-dat.mat"):
        load_smallnorb(tmp_path)


# ------------------------------------------------------------------------------------------------ Cars3D
def _car_value(car, elev, az):
    return 3 * (car * 96 + az * 4 + elev) % 256


def _write_cars(folder, num_cars=2, size=16):
    import scipy.io

    for car in range(num_cars):
        im = np.zeros((size, size, 3, 24, 4), np.uint8)
        for az in range(24):
            for elev in range(4):
                im[:, :, 0, az, elev] = _car_value(car, elev, az)
                im[:, :, 1, az, elev] = car
                im[:, :, 2, az, elev] = elev * 10 + 1
        scipy.io.savemat(folder / f"car_{car + 1:03d}_mesh.mat", {"im": im})


def test_cars3d_indexes_images_by_factors(tmp_path):
    _write_cars(tmp_path)
    data = load_cars3d(tmp_path)
    assert type(data).__name__ == "Cars3D" and data.factor_names == ("elevation", "azimuth", "car") and data.factor_sizes == (4, 24, 2)
    factors = _grid(data.factor_sizes)
    images = np.round(data.sample_observations_from_factors(factors, None) * 255).astype(int)
    assert images.shape == (192, 64, 64, 3)
    expected = np.array([[_car_value(car, e, a), car, e * 10 + 1] for e, a, car in factors])
    np.testing.assert_array_equal(images[:, 31, 17, :], expected)


def test_cars3d_bad_files_say_what_is_wrong(tmp_path):
    import scipy.io

    with pytest.raises(ValueError, match="no .mat files"):
        load_cars3d(tmp_path)
    scipy.io.savemat(tmp_path / "car_001_mesh.mat", {"im": np.zeros((8, 8, 3, 24, 3), np.uint8)})
    with pytest.raises(ValueError, match=r"\[H, W, 3, 24, 4\]"):
        load_cars3d(tmp_path)
    scipy.io.savemat(tmp_path / "car_001_mesh.mat", {"images": np.zeros((8, 8, 3, 24, 4), np.uint8)})
    with pytest.raises(ValueError, match="no array 'im'"):
        load_cars3d(tmp_path)
    (tmp_path / "car_001_mesh.mat").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt or unreadable"):
        load_cars3d(tmp_path)


# ------------------------------------------------------------------------------------------------ variants
@pytest.fixture(scope="module")
def sprite_factors():
    return ProceduralDSprites().sample_factors(200, np.random.default_rng(3))


def test_color_dsprites_colours_the_sprite_only(sprite_factors):
    base = ProceduralDSprites()
    masks = base.sample_observations_from_factors(sprite_factors, None)[..., 0] == 1
    images = ColorDSprites(base).sample_observations_from_factors(sprite_factors, np.random.default_rng(0))
    assert images.shape == (200, 64, 64, 3)
    assert np.all(images[~masks] == 0)
    colours = np.array([img[m].mean(axis=0) for img, m in zip(images, masks)])
    assert np.all([np.ptp(img[m], axis=0).max() == 0 for img, m in zip(images, masks)])  # one colour per sprite
    assert 0.5 <= colours.min() and colours.max() <= 1.0
    assert abs(colours.mean() - 0.75) < 0.02 and abs(colours.var() - 0.25**2 / 12 * 4) < 0.01  # U(0.5, 1)


def test_noisy_dsprites_puts_a_white_sprite_on_uniform_noise(sprite_factors):
    base = ProceduralDSprites()
    masks = base.sample_observations_from_factors(sprite_factors, None)[..., 0] == 1
    images = NoisyDSprites(base).sample_observations_from_factors(sprite_factors, np.random.default_rng(0))
    assert np.all(images[masks] == 1.0)
    background = images[~masks]
    assert abs(background.mean() - 0.5) < 0.005 and abs(background.var() - 1 / 12) < 0.002
    assert abs(np.corrcoef(background[:-1, 0], background[1:, 0])[0, 1]) < 0.01  # independent per pixel


def test_scream_dsprites_inverts_a_tinted_patch_under_the_sprite(sprite_factors):
    base = ProceduralDSprites()
    masks = base.sample_observations_from_factors(sprite_factors, None)[..., 0] == 1
    ramp = np.arange(120, dtype=np.float32) / 119  # background brightness grows down the rows
    data = ScreamDSprites(ramp[:, None, None] * np.ones((120, 90, 3), np.float32), base)
    assert data.background.shape == (120, 90, 3)  # already inside 350×274: not shrunk
    images = data.sample_observations_from_factors(sprite_factors, np.random.default_rng(0))
    assert images.shape == (200, 64, 64, 3) and 0.0 <= images.min() and images.max() <= 1.0
    recovered = np.where(masks[..., None], 1 - images, images)  # undo the inversion under the sprite
    # (patch + tint) / 2: down the rows the patch's ramp, halved; across a row nothing changes
    np.testing.assert_allclose(recovered - recovered[:, :1, :1], np.broadcast_to(
        (np.arange(64) / 119 / 2)[None, :, None, None], recovered.shape), atol=3e-3)
    tops = []
    for image in recovered:  # the tint is U(0, 1)³: channel differences have variance 1/6
        tops.append(image[0, 0])
    tops = np.array(tops)
    differences = 2 * (tops[:, 0] - tops[:, 1])
    assert abs(differences.var() - 1 / 6) < 0.04 and abs(differences.mean()) < 0.1
    starts = 2 * tops.mean(axis=1) - 0.5  # patch top row ≈ 2·pixel − mean tint
    assert starts.min() > -0.6 and starts.max() < 56 / 119 + 0.6


def test_variants_keep_the_factors_and_repeat_for_a_seed(tmp_path):
    from PIL import Image

    big = (np.random.default_rng(0).random((400, 500, 3)) * 255).astype(np.uint8)
    Image.fromarray(big).save(tmp_path / "scream.png")
    scream = ScreamDSprites(tmp_path / "scream.png")
    assert scream.background.shape == (274, 342, 3)  # shrunk to fit 350×274, aspect kept
    for data in (ColorDSprites(), NoisyDSprites(), scream):
        assert data.factor_names == ProceduralDSprites.factor_names and data.observation_shape == (64, 64, 3)
        a = data.sample(5, np.random.default_rng(7))
        b = data.sample(5, np.random.default_rng(7))
        np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="larger than 64x64"):
        ScreamDSprites(np.zeros((50, 300, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="background image not found"):
        ScreamDSprites(tmp_path / "nope.jpg")


# ------------------------------------------------------------------------------------------------ names
def test_names_resolve_everywhere_through_one_function(tmp_path):
    from tfbetavae.data.sources import resolve_data
    from tfbetavae.studies.runner import resolve_study_data

    _write_shapes3d(tmp_path / "3dshapes.h5")
    assert isinstance(resolve_data("color-dsprites"), ColorDSprites)
    assert isinstance(resolve_study_data("noisy-dsprites"), NoisyDSprites)
    assert resolve_data(f"shapes3d:{tmp_path / '3dshapes.h5'}").factor_sizes == SHAPES_SIZES
    assert isinstance(resolve_data("dsprites"), ProceduralDSprites) or "TFBETAVAE_DSPRITES" in __import__("os").environ
    with pytest.raises(ValueError, match="give --data shapes3d:PATH"):
        resolve_data("shapes3d")
    with pytest.raises(ValueError, match="needs a background image"):
        resolve_data("scream-dsprites")
    with pytest.raises(ValueError, match="unknown data set 'nope'"):
        registry.data_set("nope:x")


def test_a_loaded_data_set_feeds_the_training_pipeline(tmp_path):
    from tfbetavae.data import training_dataset

    _write_shapes3d(tmp_path / "3dshapes.h5")
    data = registry.data_set(f"shapes3d:{tmp_path / '3dshapes.h5'}")
    batch = next(iter(training_dataset(data, batch_size=8, seed=0)))
    assert batch.shape == (8, 64, 64, 3) and batch.dtype.name == "float32"


# ------------------------------------------------------------------------------------------------ TFDS
@functools.cache  # TFDS registers a builder class by name once per process
def _tiny_builder_class():
    import tensorflow_datasets as tfds

    class TinyFactorsForTfbetavae(tfds.core.GeneratorBasedBuilder):
        """Two label factors (3 × 2) and an unlabelled 'instance' (2), images spelling all three."""

        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict({
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label_size": tfds.features.ClassLabel(num_classes=3),
                    "label_tone": tfds.features.ClassLabel(num_classes=2),
                    "instance": tfds.features.ClassLabel(num_classes=2),
                }),
            )

        def _split_generators(self, dl_manager):
            del dl_manager
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for key, (size, tone, inst) in enumerate(_grid((3, 2, 2))[::-1]):
                image = np.full((8, 8, 1), 10 * (size * 4 + tone * 2 + inst) + 5, np.uint8)
                yield key, {"image": image, "label_size": size, "label_tone": tone, "instance": inst}

    return TinyFactorsForTfbetavae


def test_tfds_adapter_names_the_factors_of_a_data_set_prepared_offline(tmp_path):
    from tfbetavae.data.tfds_adapter import tfds_ground_truth

    builder = _tiny_builder_class()(data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not prepared"):
        tfds_ground_truth("tiny_factors_for_tfbetavae", data_dir=tmp_path)
    builder.download_and_prepare()
    data = tfds_ground_truth("tiny_factors_for_tfbetavae", data_dir=tmp_path)
    assert data.factor_names == ("size", "tone") and data.factor_sizes == (3, 2) and data.observation_shape == (8, 8, 1)
    factors = np.repeat(_grid((3, 2)), 30, axis=0)
    levels = np.round(data.sample_observations_from_factors(factors, np.random.default_rng(0))[:, 0, 0, 0] * 255)
    instance = (levels.astype(int) - 5) // 10 % 2
    np.testing.assert_array_equal((levels.astype(int) - 5) // 10 // 2, factors[:, 0] * 2 + factors[:, 1])
    assert 0.3 < instance.mean() < 0.7  # the unlabelled variable is drawn at random
    with pytest.raises(ValueError, match="no class feature 'label_colour'"):
        tfds_ground_truth("tiny_factors_for_tfbetavae", data_dir=tmp_path, factors=["colour"])


# ------------------------------------------------------------------------------------------------ CLI
@pytest.mark.slow
def test_cli_trains_and_scores_on_a_named_data_set_under_the_literature_protocol(tmp_path, capsys):
    import json

    from tfbetavae.cli import main

    _write_shapes3d(tmp_path / "3dshapes.h5")
    spec = f"shapes3d:{tmp_path / '3dshapes.h5'}"
    run = tmp_path / "run"
    assert main(["train", "--data", spec, "--steps", "2", "--batch-size", "8", "--latent-dim", "3", "--out", str(run)]) == 0
    out = tmp_path / "scores.json"
    code = main(["evaluate", "--model", str(run), "--data", spec, "--metrics", "sap,dci", "--num-train", "60",
                 "--protocol", "disentanglement_lib", "--json", str(out)])
    assert code == 0
    assert "disentanglement_lib protocol" in capsys.readouterr().out
    scores = json.loads(out.read_text())
    assert set(scores) == {"sap", "dci_disentanglement", "dci_completeness", "dci_informativeness_train",
                           "dci_informativeness_test", "protocol", "metric_sizes", "seed"}
    assert scores["protocol"] == "disentanglement_lib"  # the scores say how they were made
    assert main(["evaluate", "--model", str(run), "--data", "shapes3d"]) == 2
    assert "give --data shapes3d:PATH" in capsys.readouterr().err


def test_variants_over_the_real_dsprites_file(tmp_path):
    import itertools

    classes = np.array(list(itertools.product(range(1), range(3), range(2), range(2), range(2), range(2))))
    images = (np.random.default_rng(0).random((len(classes), 64, 64)) > 0.7).astype(np.uint8)
    np.savez(tmp_path / "d.npz", imgs=images, latents_classes=classes)
    data = registry.data_set(f"noisy-dsprites:{tmp_path / 'd.npz'}")
    assert data.factor_sizes == (3, 2, 2, 2, 2)
    factors = data.sample_factors(10, np.random.default_rng(0))
    sprites = images[factors @ mixed_radix_bases((3, 2, 2, 2, 2))] == 1
    noisy = data.sample_observations_from_factors(factors, np.random.default_rng(1))
    assert np.all(noisy[sprites] == 1.0) and noisy[~sprites].mean() < 0.55


def test_tfds_data_dir_behind_a_data_set_name_with_resizing(tmp_path, monkeypatch):
    builder = _tiny_builder_class()(data_dir=str(tmp_path))
    builder.download_and_prepare()
    monkeypatch.setitem(registry.TFDS_NAMES, "shapes3d", ("tiny_factors_for_tfbetavae", "train", 16))
    data = registry.data_set(f"shapes3d:{tmp_path}")  # a TFDS data_dir, not a 3dshapes.h5
    assert data.factor_names == ("size", "tone") and data.observation_shape == (16, 16, 1)
    image = data.sample_observations_from_factors(np.array([[2, 1]]), np.random.default_rng(0))
    assert round(float(image[0, 7, 7, 0]) * 255) in {10 * (2 * 4 + 1 * 2 + inst) + 5 for inst in (0, 1)}


def test_dsprites_prefers_tfds_manual_hdf5_over_a_prepared_tfds_copy(tmp_path):
    import itertools

    import h5py

    from tfbetavae.data import DSpritesArrays, tfds_manual_path

    classes = np.array(list(itertools.product(range(1), range(3), range(2), range(2), range(2), range(2))))
    manual = tfds_manual_path(tmp_path)
    manual.parent.mkdir(parents=True)
    with h5py.File(manual, "w") as handle:
        handle["imgs"] = np.zeros((len(classes), 64, 64), np.uint8)
        handle["latents/classes"] = classes
    (tmp_path / "dsprites" / "2.0.0").mkdir(parents=True)
    (tmp_path / "dsprites" / "2.0.0" / "dataset_info.json").write_text("{}")
    assert isinstance(registry.data_set(f"dsprites:{tmp_path}"), DSpritesArrays)


def test_tune_takes_the_protocol_to_its_metric():
    from tfbetavae.cli import build_parser
    from tfbetavae.cli.tune_command import _search_kwargs
    from tfbetavae.metrics.evaluation import route_kwargs

    args = build_parser().parse_args(["tune", "--objective", "sap", "--protocol", "disentanglement_lib", "--dir", "x"])
    metric_kwargs = _search_kwargs(args)["metric_kwargs"]
    assert route_kwargs(["sap"], metric_kwargs)["sap"]["protocol"] == "disentanglement_lib"
    default = _search_kwargs(build_parser().parse_args(["tune", "--objective", "sap", "--dir", "x"]))["metric_kwargs"]
    assert "protocol" not in default


@pytest.mark.slow
def test_a_study_runs_on_a_user_file_named_by_data_set(tmp_path):
    import json

    from tfbetavae.cli import main

    _write_shapes3d(tmp_path / "3dshapes.h5")
    spec = f"shapes3d:{tmp_path / '3dshapes.h5'}"
    folder = tmp_path / "study"
    assert main(["study", str(folder), "--betas", "1", "--seeds", "0", "--steps", "4", "--fast", "--data", spec,
                 "--scores", "mig", "--batch-size", "8", "--latent-dim", "3"]) == 0
    assert json.loads((folder / "study.json").read_text())["data"] == spec  # the plan names the data by its spec
    (row,) = json.loads((folder / "results.json").read_text())
    assert row["step"] == 4 and 0.0 <= row["mig"] <= 1.0 and row["reconstruction"] > 0
