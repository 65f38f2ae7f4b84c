"""Ground-truth data: the procedural renderer, the real-file loaders and the tf.data pipelines."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfbetavae.data import (
    DSpritesArrays,
    ProceduralDSprites,
    dsprites,
    load_dsprites_hdf5,
    load_dsprites_npz,
    tfds_dataset,
    tfds_manual_path,
    training_dataset,
)
from tfbetavae.data.dsprites import ENV_VAR, HDF5_FILENAME

# A small file in the real layout: colour 1, shape 3, scale 2, orientation 2, posX 2, posY 2 → 48 rows.
SMALL_SIZES = (1, 3, 2, 2, 2, 2)


def small_dsprites_arrays(seed=0):
    classes = np.array(list(itertools.product(*[range(s) for s in SMALL_SIZES])), dtype=np.int64)
    images = (np.random.default_rng(seed).random((len(classes), 64, 64)) > 0.7).astype(np.uint8)
    values = classes.astype(np.float64) / 2.0
    return images, classes, values


def write_npz(path, images, classes, values):
    np.savez_compressed(path, imgs=images, latents_classes=classes, latents_values=values)
    return path


def write_hdf5(path, images, classes, values):
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        handle["imgs"] = images
        handle["latents/classes"] = classes
        handle["latents/values"] = values
    return path


# --------------------------------------------------------------------------- procedural renderer
def render(sprites, rows):
    return sprites.sample_observations_from_factors(np.array(rows), np.random.default_rng(0))[..., 0]


def test_factor_structure(sprites):
    assert sprites.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert sprites.factor_sizes == (3, 6, 40, 32, 32)
    assert len(sprites) == 737_280
    assert sprites.observation_shape == (64, 64, 1)


def test_images_are_binary_and_non_empty(sprites):
    factors, images = sprites.sample(200, np.random.default_rng(1))
    assert images.dtype == np.float32 and images.shape == (200, 64, 64, 1)
    assert set(np.unique(images)) <= {0.0, 1.0}
    assert (images.sum(axis=(1, 2, 3)) > 10).all()


@pytest.mark.parametrize("factor", [0, 1, 3, 4])
def test_every_value_of_shape_scale_and_position_gives_a_distinct_image(sprites, factor):
    base = [1, 3, 5, 16, 16]
    rows = []
    for value in range(sprites.factor_sizes[factor]):
        row = list(base)
        row[factor] = value
        rows.append(row)
    images = render(sprites, rows).reshape(len(rows), -1)
    assert len({image.tobytes() for image in images}) == len(rows)


def test_changing_one_factor_changes_the_image(sprites):
    rng = np.random.default_rng(2)
    factors = sprites.sample_factors(100, rng)
    for k in (0, 1, 3, 4):
        changed = factors.copy()
        changed[:, k] = (changed[:, k] + 1) % sprites.factor_sizes[k]
        a, b = render(sprites, factors), render(sprites, changed)
        assert (np.abs(a - b).sum(axis=(1, 2)) > 0).all(), sprites.factor_names[k]


def test_orientation_turns_the_heart(sprites):
    images = render(sprites, [[2, 5, o, 16, 16] for o in (0, 5, 10)])
    assert np.abs(images[0] - images[1]).sum() > 0 and np.abs(images[0] - images[2]).sum() > 0
    # 0 and 2π are both in the grid, as in dSprites: the same picture.
    np.testing.assert_array_equal(*render(sprites, [[2, 5, 0, 16, 16], [2, 5, 39, 16, 16]]))


def test_position_moves_the_centre_of_mass(sprites):
    images = render(sprites, [[0, 5, 0, x, 16] for x in (0, 31)])
    cols = np.arange(64)
    centre = [(im.sum(axis=0) * cols).sum() / im.sum() for im in images]
    assert centre[1] - centre[0] > 30


def test_sampling_is_reproducible(sprites):
    a = sprites.sample(10, np.random.default_rng(7))
    b = sprites.sample(10, np.random.default_rng(7))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize(
    "factors, word",
    [
        (np.zeros((3, 4), int), "shape"),
        (np.zeros(5, int), "shape"),
        ([[3, 0, 0, 0, 0]], "'shape' value 3 is out of range"),
        ([[0, 0, 0, 0, -1]], "'posY'"),
        ([[0.5, 0, 0, 0, 0]], "integer"),
        ([[np.nan, 0, 0, 0, 0]], "integer"),
    ],
)
def test_bad_factors_raise_clear_errors(sprites, factors, word):
    with pytest.raises(ValueError, match=word):
        sprites.sample_observations_from_factors(factors, np.random.default_rng(0))


def test_factor_index(sprites):
    assert sprites.factor_index("scale") == 1 and sprites.factor_index(4) == 4
    with pytest.raises(ValueError, match="unknown factor 'colour'"):
        sprites.factor_index("colour")
    with pytest.raises(ValueError, match="unknown factor index 7"):
        sprites.factor_index(7)
    with pytest.raises(ValueError, match="non-negative integer"):
        sprites.sample_factors(-1, np.random.default_rng(0))


# --------------------------------------------------------------------------- real-layout files
def test_npz_loader_indexes_images_by_factor_classes(tmp_path):
    images, classes, values = small_dsprites_arrays()
    data = load_dsprites_npz(write_npz(tmp_path / "small.npz", images, classes, values))
    assert isinstance(data, DSpritesArrays)
    assert data.factor_sizes == (3, 2, 2, 2, 2) and len(data) == 48
    rng = np.random.default_rng(0)
    factors = data.sample_factors(20, rng)
    observed = data.sample_observations_from_factors(factors, rng)[..., 0]
    for row, image in zip(factors, observed):
        index = np.flatnonzero((classes[:, 1:] == row).all(axis=1))[0]
        np.testing.assert_array_equal(image, images[index])


def test_hdf5_loader_reads_the_tfds_manual_folder(tmp_path):
    images, classes, values = small_dsprites_arrays(1)
    write_hdf5(tfds_manual_path(tmp_path), images, classes, values)
    data = dsprites(tmp_path)  # a TFDS data_dir holding downloads/manual/<hdf5>
    np.testing.assert_array_equal(data.sample_observations_from_factors([[2, 1, 1, 1, 1]], None)[0, ..., 0], images[-1])
    direct = load_dsprites_hdf5(tfds_manual_path(tmp_path))
    assert direct.factor_sizes == (3, 2, 2, 2, 2)


def test_environment_variable_selects_the_real_file(tmp_path, monkeypatch):
    path = write_npz(tmp_path / "small.npz", *small_dsprites_arrays())
    monkeypatch.setenv(ENV_VAR, str(path))
    assert isinstance(dsprites(), DSpritesArrays)
    monkeypatch.delenv(ENV_VAR)
    assert isinstance(dsprites(), ProceduralDSprites)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="dSprites file not found"):
        load_dsprites_npz(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError, match=HDF5_FILENAME):
        load_dsprites_hdf5(tmp_path)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip file")
    with pytest.raises(ValueError, match="corrupt"):
        load_dsprites_npz(corrupt)
    truncated = tmp_path / "truncated.npz"
    good = write_npz(tmp_path / "good.npz", *small_dsprites_arrays())
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="corrupt|unreadable"):
        load_dsprites_npz(truncated)
    bad_h5 = tmp_path / "bad.hdf5"
    bad_h5.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="corrupt"):
        load_dsprites_hdf5(bad_h5)


def test_wrong_layouts_are_refused(tmp_path):
    images, classes, values = small_dsprites_arrays()
    np.savez(tmp_path / "nokey.npz", images=images)
    with pytest.raises(ValueError, match="missing arrays"):
        load_dsprites_npz(tmp_path / "nokey.npz")
    with pytest.raises(ValueError, match="dSprites order"):
        load_dsprites_npz(write_npz(tmp_path / "order.npz", images, classes[::-1], values))
    with pytest.raises(ValueError, match="binary"):
        load_dsprites_npz(write_npz(tmp_path / "grey.npz", images * 7, classes, values))
    with pytest.raises(ValueError, match="combinations"):
        load_dsprites_npz(write_npz(tmp_path / "short.npz", images[:40], classes[:40], values[:40]))
    with pytest.raises(ValueError, match=r"\[N, 64, 64\]"):
        DSpritesArrays(images[:, :, :, None], classes)


# --------------------------------------------------------------------------- pipelines
def test_ground_truth_pipeline_is_batched_and_reproducible(sprites):
    first = [b.numpy() for b in training_dataset(sprites, batch_size=16, seed=5).take(3)]
    again = [b.numpy() for b in training_dataset(sprites, batch_size=16, seed=5).take(3)]
    other = next(iter(training_dataset(sprites, batch_size=16, seed=6))).numpy()
    assert first[0].shape == (16, 64, 64, 1) and first[0].dtype == np.float32
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other)
    assert not np.array_equal(first[0], first[1])


def test_array_and_dataset_sources():
    uint8 = np.random.default_rng(0).integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    batch = next(iter(training_dataset(uint8, batch_size=8)))
    assert batch.shape == (8, 16, 16, 3) and float(tf.reduce_max(batch)) <= 1.0
    labelled = tf.data.Dataset.from_tensor_slices((uint8.astype("float32") / 255, np.arange(40)))
    assert next(iter(training_dataset(labelled, batch_size=4))).shape == (4, 16, 16, 3)
    as_dict = tf.data.Dataset.from_tensor_slices({"image": uint8, "label": np.arange(40)}).batch(10)
    assert next(iter(training_dataset(as_dict, batch_size=5))).shape == (5, 16, 16, 3)


def test_bad_pipeline_inputs():
    with pytest.raises(ValueError, match="NaN"):
        training_dataset(np.full((4, 16, 16, 1), np.nan, "float32"))
    with pytest.raises(ValueError, match="4-D"):
        training_dataset(np.zeros((16, 16, 1), "float32"))
    with pytest.raises(ValueError, match="batch_size"):
        training_dataset(np.zeros((4, 16, 16, 1), "float32"), batch_size=0)
    too_bright = tf.data.Dataset.from_tensor_slices(np.full((4, 16, 16, 1), 3.0, "float32"))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"must lie in \[0, 1\]"):
        next(iter(training_dataset(too_bright, batch_size=2)))
    with pytest.raises(TypeError, match="cannot make a training pipeline"):
        training_dataset([1, 2, 3])


def test_image_folder_pipeline(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(6):
        folder = tmp_path / f"class{i % 2}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    batch = next(iter(training_dataset(str(tmp_path), batch_size=4, image_size=(32, 32), channels=3)))
    assert batch.shape == (4, 32, 32, 3)
    assert 0.0 <= float(tf.reduce_min(batch)) and float(tf.reduce_max(batch)) <= 1.0
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        training_dataset(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        training_dataset(str(tmp_path / "missing"))


def test_tfds_never_downloads(tmp_path):
    with pytest.raises(FileNotFoundError, match="not prepared"):
        tfds_dataset("dsprites", data_dir=tmp_path)
