"""Pictures (tfbetavae.viz), the TensorBoard traversal callback and `tfbetavae traverse`."""

import glob
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfbetavae import BetaVAE, viz
from tfbetavae.cli import main
from tfbetavae.loading import SavedModelVAE, closed_form_kl, load
from tfbetavae.model import ACTIVE_KL_THRESHOLD
from tfbetavae.training import RUN_FORMAT_VERSION, atomic_save, compile_model

SIZE = 16  # small images keep the tests fast
SHAPE = (SIZE, SIZE, 1)


def _rigged_model() -> BetaVAE:
    """A 3-dimensional model whose KL and decoder use are known exactly.

    The encoder ignores the image: mean = (0, 2, 1), log-variance = 0, so the KL per dimension is
    ½·mean² = (0, 2, 0.5): order 1, 2, 0, and dimension 0 is inactive. The decoder's first dense layer has a
    zero row for z0 (z0 provably changes nothing) and a large row for z1.
    """
    model = BetaVAE(latent_dim=3, input_shape=SHAPE, seed=0)
    kernel, _ = model.encoder.moments.get_weights()
    model.encoder.moments.set_weights([np.zeros_like(kernel), np.array([0, 2, 1, 0, 0, 0], np.float32)])
    kernel, bias = model.decoder.hidden.get_weights()
    kernel[0] = 0.0
    kernel[1] = 10.0 * np.abs(kernel[1]) + 2.0
    model.decoder.hidden.set_weights([kernel, bias])
    return model


@pytest.fixture(scope="module")
def rigged():
    keras.utils.set_random_seed(0)
    return _rigged_model()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((6, *SHAPE)).astype(np.float32)


# --------------------------------------------------------------------------- arrays
def test_traversal_rows_ordered_by_kl_and_grid_layout(rigged, images):
    traversal = viz.traverse(rigged, images[0], steps=5, reference=images)
    np.testing.assert_allclose(traversal.kl, [0.0, 2.0, 0.5], atol=1e-5)
    assert traversal.dims == (1, 2, 0)
    assert traversal.active.tolist() == [True, True, False]
    assert traversal.images.shape == (3, 5, *SHAPE)
    np.testing.assert_allclose(traversal.values, np.tile(np.linspace(-3, 3, 5), (3, 1)), atol=1e-6)

    grid = viz.traversal_grid(rigged, images[0], steps=5, reference=images)
    assert grid.shape == (3 * SIZE, 5 * SIZE, 1) and grid.dtype == np.float32
    assert 0.0 <= grid.min() and grid.max() <= 1.0
    for row in range(3):
        for col in range(5):
            block = grid[row * SIZE : (row + 1) * SIZE, col * SIZE : (col + 1) * SIZE]
            np.testing.assert_array_equal(block, traversal.images[row, col])


def test_active_dimension_moves_the_image_inactive_one_does_not(rigged, images):
    traversal = viz.traverse(rigged, images[0], steps=6)
    row = {dim: traversal.images[r] for r, dim in enumerate(traversal.dims)}
    spread_active = np.abs(row[1] - row[1][0]).max()
    spread_inactive = np.abs(row[0] - row[0][0]).max()
    assert spread_active > 0.05, spread_active
    assert spread_inactive < 1e-6, spread_inactive
    # columns of the inactive row are all the decoded posterior mean
    np.testing.assert_allclose(row[0][0], rigged.decode(np.array([[0.0, 2.0, 1.0]])).numpy()[0], atol=1e-5)


def test_dims_relative_and_the_seed_image_as_reference(rigged, images):
    top = viz.traverse(rigged, images[0], steps=3, dims=2)
    assert top.dims == (1, 2)  # the two dimensions of highest KL
    chosen = viz.traverse(rigged, images[0], steps=3, dims=[0, 1])
    assert chosen.dims == (1, 0)  # given dimensions, still ordered by KL
    relative = viz.traverse(rigged, images[0], limits=(-1, 1), steps=3, relative=True)
    np.testing.assert_allclose(relative.values[0], [1.0, 2.0, 3.0], atol=1e-6)  # z1's mean is 2
    batched = viz.traverse(rigged, images[:1], steps=3)  # [1, H, W, C] works too
    assert batched.images.shape == (3, 3, *SHAPE)


def test_reconstruction_grid_is_inputs_over_outputs(rigged, images):
    grid = viz.reconstruction_grid(rigged, images, n=4)
    assert grid.shape == (2 * SIZE, 4 * SIZE, 1)
    np.testing.assert_allclose(grid[:SIZE, SIZE : 2 * SIZE], images[1])
    np.testing.assert_allclose(grid[SIZE:, :SIZE], rigged.reconstruct(images[:1]).numpy()[0], atol=1e-5)


class _DuckModel:
    """Not a Keras model, but it speaks the model protocol (tfbetavae.loading.VAEModel) with NumPy."""

    latent_dim = 2
    image_shape = (8, 8, 1)
    card = None

    def encode(self, images, return_log_variance=False):
        brightness = np.asarray(images).mean(axis=(1, 2, 3))
        mean = np.stack([8 * brightness - 3, np.zeros_like(brightness)], axis=1)
        return (mean, np.zeros_like(mean)) if return_log_variance else mean

    def decode(self, codes):
        level = 1 / (1 + np.exp(-np.asarray(codes)[:, 0]))  # z1 is ignored
        return np.broadcast_to(level[:, None, None, None], (len(codes), 8, 8, 1)).copy()

    def reconstruct(self, images):
        return self.decode(self.encode(images))

    def kl_per_dimension(self, images):
        return closed_form_kl(*self.encode(images, return_log_variance=True))


def test_any_object_speaking_the_model_protocol():
    model = _DuckModel()
    batch = np.random.default_rng(1).random((10, 8, 8, 1)).astype(np.float32)
    traversal = viz.traverse(model, batch[0], steps=4, reference=batch)
    expected = 0.5 * np.mean((8 * batch.mean(axis=(1, 2, 3)) - 3) ** 2)
    np.testing.assert_allclose(traversal.kl, [expected, 0.0], rtol=1e-5, atol=1e-7)
    assert traversal.dims == (0, 1) and traversal.active.tolist() == [True, False]
    assert viz.traversal_grid(model, batch[0], steps=4).shape == (16, 32, 1)


# --------------------------------------------------------------------------- files
def _label_column(picture: Image.Image, top: int, height: int) -> np.ndarray:
    return np.asarray(picture.convert("L"))[top : top + height, : viz.LABEL_WIDTH - viz.GAP]


def test_save_traversal_png_size_and_inactive_rows_greyed(rigged, images, tmp_path):
    path = viz.save_traversal(rigged, images, tmp_path / "sub" / "t.png", steps=4, scale=3, title="rigged")
    picture = Image.open(path)
    assert picture.format == "PNG" and picture.mode == "L"  # grey pixels only: stored as greyscale
    assert picture.size == viz.picture_size(3, 4, SHAPE, scale=3, header=True, title=True)
    assert picture.size == (viz.LABEL_WIDTH + 4 * (48 + viz.GAP), viz.TITLE_HEIGHT + viz.HEADER_HEIGHT + 3 * 50)
    top = viz.TITLE_HEIGHT + viz.HEADER_HEIGHT
    rows = [_label_column(picture, top + r * (48 + viz.GAP), 48) for r in range(3)]
    assert rows[0].min() < 80 and rows[1].min() < 80  # dark labels on active rows
    assert rows[2].min() > 120 and rows[2].min() < 250  # the inactive row: grey text only
    # the first image cell of the first row is the decoded traversal, upscaled ×3
    cell = np.asarray(picture)[top : top + 48, viz.LABEL_WIDTH : viz.LABEL_WIDTH + 48]
    expected = viz.traverse(rigged, images[0], steps=4, reference=images).images[0, 0, :, :, 0]
    expected = np.kron(np.clip(expected * 255 + 0.5, 0, 255).astype(np.uint8), np.ones((3, 3), np.uint8))
    assert np.abs(cell.astype(int) - expected.astype(int)).max() <= 1


def test_save_reconstructions_kl_chart_and_gif(rigged, images, tmp_path):
    path = viz.save_reconstructions(rigged, images, tmp_path / "r.png", n=4)
    assert Image.open(path).size == viz.picture_size(2, 4, SHAPE, header=False)
    assert Image.open(viz.save_reconstructions(rigged, images, tmp_path / "r2.png", n=50)).size == viz.picture_size(
        2, len(images), SHAPE, header=False
    )

    kl = rigged.kl_per_dimension(images)
    chart = Image.open(viz.save_kl_bar_chart(kl, tmp_path / "kl.png"))
    assert chart.format == "PNG" and chart.size == (400, 300)

    gif = Image.open(viz.save_traversal_gif(rigged, images[0], tmp_path / "t.gif", steps=4, reference=images))
    assert gif.format == "GIF" and gif.is_animated
    assert gif.n_frames == 2 * 4 - 2  # low → high → back, without repeating the ends
    assert gif.size == viz.picture_size(1, 3, SHAPE, header=True)


def test_clear_errors_for_bad_inputs(rigged, images, tmp_path):
    with pytest.raises(ValueError, match=r"image must have shape \(16, 16, 1\) for this model, got \(32, 32, 1\)"):
        viz.traversal_grid(rigged, np.zeros((32, 32, 1), np.float32))
    with pytest.raises(ValueError, match=r"shape \[batch, 16, 16, 1\] for this model"):
        viz.save_traversal(rigged, np.zeros((4, 32, 32, 1), np.float32), tmp_path / "x.png")
    with pytest.raises(ValueError, match="one image"):
        viz.traversal_grid(rigged, images[:2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        viz.traversal_grid(rigged, images[0] * 3)
    with pytest.raises(ValueError, match="image"):
        viz.save_traversal(rigged, images[0], tmp_path / "x.png")  # one image where a batch is needed
    with pytest.raises(ValueError, match="limits"):
        viz.traversal_grid(rigged, images[0], limits=(3, -3))
    with pytest.raises(ValueError, match="steps"):
        viz.traversal_grid(rigged, images[0], steps=1)
    with pytest.raises(ValueError, match="does not exist"):
        viz.traversal_grid(rigged, images[0], dims=[7])
    with pytest.raises(ValueError, match="seed_index"):
        viz.save_traversal(rigged, images, tmp_path / "x.png", seed_index=99)
    with pytest.raises(TypeError, match="expected a tfbetavae model or a path to one; object lacks encode"):
        viz.traversal_grid(object(), images[0])
    with pytest.raises(ValueError, match="non-negative"):
        viz.save_kl_bar_chart([0.1, float("nan")], tmp_path / "kl.png")
    with pytest.raises(FileNotFoundError, match="model not found"):  # a path is opened with tfbetavae.load
        viz.traversal_grid(tmp_path / "missing", images[0])
    with pytest.raises(ValueError, match="every"):
        viz.TraversalCallback(tmp_path, images, every=0)


# --------------------------------------------------------------------------- TensorBoard
def _image_summaries(log_dir) -> dict:
    """tag -> [(step, (width, height))] read back from the event files."""
    found = {}
    for path in glob.glob(str(log_dir / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "images":
                    width, height = (int(x) for x in value.tensor.string_val[:2])
                    png = tf.io.decode_png(value.tensor.string_val[2])
                    assert tuple(png.shape[:2]) == (height, width)
                    found.setdefault(value.tag, []).append((event.step, (width, height)))
    return found


def test_callback_writes_image_summaries_tensorboard_can_read(images, tmp_path):
    keras.utils.set_random_seed(0)
    model = compile_model(BetaVAE(latent_dim=2, input_shape=SHAPE, seed=0))
    callback = viz.TraversalCallback(tmp_path / "logs", images, every=2, steps=5, num_reconstructions=3)
    model.fit(images, epochs=4, batch_size=3, callbacks=[callback], verbose=0)
    summaries = _image_summaries(tmp_path / "logs")
    assert sorted(summaries) == ["reconstructions", "traversal"]
    assert summaries["traversal"] == [(1, (5 * SIZE, 2 * SIZE)), (3, (5 * SIZE, 2 * SIZE))]  # every 2nd epoch
    assert summaries["reconstructions"] == [(1, (3 * SIZE, 2 * SIZE)), (3, (3 * SIZE, 2 * SIZE))]

    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(str(tmp_path / "logs"))
    accumulator.Reload()
    assert {"traversal", "reconstructions"} <= set(accumulator.Tags()["tensors"])


# --------------------------------------------------------------------------- the command
@pytest.fixture(scope="module")
def dsprites_model(tmp_path_factory):
    """A 64×64 model (the size of dSprites) saved as a run folder and as a .keras file."""
    keras.utils.set_random_seed(0)
    model = BetaVAE(latent_dim=3, seed=0)
    root = tmp_path_factory.mktemp("traverse")
    atomic_save(model, root / "run" / "model.keras")
    (root / "run" / "config.json").write_text(json.dumps({"tfbetavae_version": RUN_FORMAT_VERSION}))
    atomic_save(model, root / "model.keras")
    return root


def test_traverse_command_from_run_folder_and_keras_file(dsprites_model, tmp_path, capsys):
    out = tmp_path / "t.png"
    args = ["traverse", "--model", str(dsprites_model / "run"), "--out", str(out), "--steps", "4"]
    assert main([*args, "--num-images", "8", "--limits", "-2,2"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert Image.open(out).size == viz.picture_size(3, 4, (64, 64), header=True, title=True)

    gif = tmp_path / "t.gif"
    assert main(["traverse", "--model", str(dsprites_model / "model.keras"), "--out", str(out), "--steps", "3",
                 "--dims", "2", "--num-images", "4", "--seed", "1", "--gif", str(gif)]) == 0
    assert capsys.readouterr().out.split() == [str(out), str(gif)]
    assert Image.open(out).size == viz.picture_size(2, 3, (64, 64), header=True, title=True)
    assert Image.open(gif).n_frames == 4


def test_traverse_command_errors(dsprites_model, tmp_path, capsys):
    assert main(["traverse", "--model", str(tmp_path / "nothing"), "--out", str(tmp_path / "t.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["traverse", "--model", str(tmp_path), "--out", str(tmp_path / "t.png")]) == 2
    assert "no model in this folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["traverse", "--model", str(dsprites_model / "run"), "--limits", "3,-3"])
    assert "LOW must be below HIGH" in capsys.readouterr().err


def test_traverse_an_export(rigged, images, tmp_path, capsys):
    export = pytest.importorskip("tfbetavae.export")
    base = tmp_path / "exported"
    version = export.export_saved_model(rigged, base)
    exported = load(base)
    assert isinstance(exported, SavedModelVAE) and exported.latent_dim == 3
    np.testing.assert_allclose(exported.kl_per_dimension(images), rigged.kl_per_dimension(images), atol=1e-5)
    np.testing.assert_allclose(
        viz.traversal_grid(exported, images[0], steps=4, reference=images),
        viz.traversal_grid(rigged, images[0], steps=4, reference=images),
        atol=1e-5,
    )
    assert isinstance(load(version), SavedModelVAE)

    folder = tmp_path / "pngs"  # 16×16 images for the 16×16 model, through the image-folder data path
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray((image[..., 0] * 255).astype(np.uint8)).save(folder / f"{i}.png")
    out = tmp_path / "t.png"
    assert main(["traverse", "--model", str(base), "--out", str(out), "--data", str(folder), "--image-size", "16,16",
                 "--steps", "3", "--num-images", "4"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert Image.open(out).size == viz.picture_size(3, 3, SHAPE, header=True, title=True)
    # the data's images must fit the model
    assert main(["traverse", "--model", str(version), "--out", str(out), "--steps", "3", "--num-images", "2"]) == 2
    assert "expects (16, 16, 1)" in capsys.readouterr().err
    assert ACTIVE_KL_THRESHOLD == viz.ACTIVE_KL_THRESHOLD


# ----------------------------------------------------------------------------- issue 19: any input shape
def test_traversal_and_reconstructions_of_rgb_non_square_images(tmp_path):
    model = BetaVAE(latent_dim=2, input_shape=(12, 20, 3), likelihood="gaussian", seed=0)
    images = np.random.default_rng(0).random((4, 12, 20, 3), dtype=np.float32)
    grid = viz.traversal_grid(model, images[:1], steps=5)
    assert grid.shape[-1] == 3 and grid.shape[1] == 5 * 20
    path = viz.save_traversal(model, images[:1], tmp_path / "t.png", steps=5)
    assert Image.open(path).mode == "RGB"
    path = viz.save_reconstructions(model, images, tmp_path / "r.png", n=4)
    assert Image.open(path).size[0] >= 4 * 20


def test_pictures_of_a_vector_model_say_they_need_images(tmp_path):
    model = BetaVAE(latent_dim=2, input_shape=(6,), likelihood="gaussian", seed=0)
    with pytest.raises(ValueError, match=r"^pictures need a model of images \[H, W, C\]; .* vectors of shape \(6,\)$"):
        viz.save_traversal(model, np.zeros((1, 6), np.float32), tmp_path / "t.png")
