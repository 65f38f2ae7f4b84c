"""Pictures of what a β-VAE has learnt: latent traversals, reconstructions, KL per dimension.

A *latent traversal* takes one seed image, encodes it to its posterior mean, and then sweeps one latent
dimension at a time over a range (``limits``, in units of the N(0, 1) prior) while every other dimension
stays at the seed's mean; each swept code is decoded. One row per dimension shows what that dimension
controls. Rows are ordered by the dimension's average KL divergence from the prior (most informative
first); a dimension whose KL is below ``ACTIVE_KL_THRESHOLD`` carries no information and is marked
*inactive* — its row should not change across the columns.

Every function takes a model as ``tfbetavae.load`` returns it (a ``BetaVAE``, a ``SavedModelVAE``, or any
object speaking the protocol ``tfbetavae.loading.VAEModel``), or a path, which it opens with ``tfbetavae.load``.

Functions:
    traverse / traversal_grid   the traversal as arrays (numpy, no drawing)
    traversal_image             the labelled traversal picture (a PIL image)
    save_traversal              ... written as PNG
    save_traversal_gif          an animated GIF sweeping all dimensions at once
    save_reconstructions        inputs over their reconstructions, as PNG
    save_kl_bar_chart           bar chart of the KL of each dimension, as PNG (matplotlib)
    TraversalCallback           traversal and reconstruction grids in TensorBoard during ``fit``
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw, ImageFont

from tfbetavae.checks import int_at_least, positive_int
from tfbetavae.data.ground_truth import check_batch
from tfbetavae.figures import figure, save_figure, save_image
from tfbetavae.loading import as_model, closed_form_kl
from tfbetavae.model import ACTIVE_KL_THRESHOLD

__all__ = [
    "ACTIVE_KL_THRESHOLD",
    "Traversal",
    "TraversalCallback",
    "closed_form_kl",
    "picture_size",
    "reconstruction_grid",
    "save_kl_bar_chart",
    "save_reconstructions",
    "save_traversal",
    "save_traversal_gif",
    "tile",
    "traversal_grid",
    "traversal_image",
    "traverse",
]

# Picture layout (pixels). A labelled picture of R rows and C columns of H×W images at ``scale`` is
#   width  = LABEL_WIDTH + C · (W·scale + GAP)
#   height = [TITLE_HEIGHT] + [HEADER_HEIGHT] + R · (H·scale + GAP)
# with the title band only when a title is given and the header band (column values) only when the
# picture has column labels (traversals have them, reconstructions do not).
LABEL_WIDTH = 112
HEADER_HEIGHT = 16
TITLE_HEIGHT = 20
GAP = 2

_BACKGROUND = (255, 255, 255)
_TEXT = (20, 20, 20)
_MUTED = (160, 160, 160)
_GAP_COLOUR = (205, 205, 205)


# --------------------------------------------------------------------------- models
def load_model(path):
    """Deprecated alias of ``tfbetavae.load``."""
    import warnings

    from tfbetavae.loading import load

    warnings.warn("tfbetavae.viz.load_model is deprecated; use tfbetavae.load", DeprecationWarning, stacklevel=2)
    return load(path)


def __getattr__(name: str):
    if name == "ExportedModel":  # the old SavedModel wrapper: now tfbetavae.loading.SavedModelVAE
        import warnings

        from tfbetavae.loading import SavedModelVAE

        warnings.warn("tfbetavae.viz.ExportedModel is deprecated; use tfbetavae.load", DeprecationWarning, stacklevel=2)
        return SavedModelVAE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Adapter:
    """A model (or a path, opened with ``tfbetavae.load``) with the checks the pictures need: NumPy out."""

    def __init__(self, model: Any) -> None:
        self.model = model.model if isinstance(model, _Adapter) else as_model(model)
        self.latent_dim = int(self.model.latent_dim)
        self.image_shape = tuple(int(d) for d in self.model.image_shape)
        if len(self.image_shape) != 3:
            raise ValueError(
                f"pictures need a model of images [H, W, C]; this model's inputs are vectors of shape {self.image_shape}"
            )

    def images(self, images, name: str = "images") -> np.ndarray:
        return check_batch(images, self.image_shape, name)

    def one_image(self, image, name: str = "image") -> np.ndarray:
        array = np.asarray(image)
        if array.ndim == 3:
            array = array[None]
        elif array.ndim == 4 and len(array) != 1:
            raise ValueError(f"{name} must be one image [H, W, C] (or [1, H, W, C]), got a batch of shape {array.shape}")
        elif array.ndim != 4:
            raise ValueError(f"{name} must be one image [H, W, C] (or [1, H, W, C]), got shape {array.shape}")
        if tuple(array.shape[1:]) != self.image_shape:
            raise ValueError(f"{name} must have shape {self.image_shape} for this model, got {tuple(array.shape[1:])}")
        return self.images(array, name)

    def mean(self, images: np.ndarray) -> np.ndarray:
        mean = np.asarray(self.model.encode(images), np.float32)
        if mean.shape != (len(images), self.latent_dim):
            raise ValueError(f"encode returned codes of shape {mean.shape}, expected {(len(images), self.latent_dim)}")
        return mean

    def decode(self, codes: np.ndarray) -> np.ndarray:
        images = np.asarray(self.model.decode(np.asarray(codes, np.float32)), np.float32)
        if images.ndim != 4 or len(images) != len(codes):
            raise ValueError(f"decode returned shape {images.shape} for {len(codes)} codes; expected [n, H, W, C]")
        return np.clip(images, 0.0, 1.0)

    def kl(self, images: np.ndarray) -> np.ndarray:
        """KL of each dimension averaged over ``images``."""
        kl = np.asarray(self.model.kl_per_dimension(images), np.float32)
        if kl.shape != (self.latent_dim,):
            raise ValueError(f"the KL per dimension has shape {kl.shape}, expected ({self.latent_dim},)")
        return kl


# --------------------------------------------------------------------------- traversals as arrays
@dataclass(frozen=True)
class Traversal:
    """A latent traversal.

    Attributes:
        images: float32 [rows, steps, H, W, C], row ``r`` sweeping dimension ``dims[r]``.
        dims: the swept dimensions, ordered by KL descending (index order when the model gives no KL).
        values: float32 [rows, steps], the value the swept dimension takes in each column.
        mean: float32 [latent_dim], the seed image's posterior mean (the value of the unswept dimensions).
        kl: float32 [latent_dim] average KL of each dimension on the reference images, or None.
    """

    images: np.ndarray
    dims: tuple[int, ...]
    values: np.ndarray
    mean: np.ndarray
    kl: np.ndarray | None

    @property
    def active(self) -> np.ndarray:
        """bool [rows]: whether each row's dimension is in use (KL ≥ ACTIVE_KL_THRESHOLD; all True without KL)."""
        if self.kl is None:
            return np.ones(len(self.dims), bool)
        return self.kl[list(self.dims)] >= ACTIVE_KL_THRESHOLD


def _check_limits(limits) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in limits)
    except (TypeError, ValueError):
        raise ValueError(f"limits must be two numbers (low, high), got {limits!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ValueError(f"limits must be finite with low < high, got {limits!r}")
    return low, high


def _check_steps(steps) -> int:
    return int_at_least(steps, "steps", 2)


def _choose_dims(dims, latent_dim: int, kl: np.ndarray | None) -> tuple[int, ...]:
    order = list(range(latent_dim)) if kl is None else [int(i) for i in np.argsort(-kl, kind="stable")]
    if dims is None:
        return tuple(order)
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        if not 1 <= dims <= latent_dim:
            raise ValueError(f"dims as a count must be in [1, {latent_dim}], got {dims}")
        return tuple(order[: int(dims)])
    chosen = []
    for dim in dims:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 0 <= dim < latent_dim:
            raise ValueError(f"latent dimension {dim!r} does not exist; this model has dimensions 0..{latent_dim - 1}")
        if int(dim) not in chosen:
            chosen.append(int(dim))
    if not chosen:
        raise ValueError("dims is empty")
    return tuple(d for d in order if d in chosen)


def traverse(
    model,
    image,
    limits: Sequence[float] = (-3.0, 3.0),
    steps: int = 10,
    dims: int | Sequence[int] | None = None,
    reference=None,
    relative: bool = False,
) -> Traversal:
    """Traversal of ``image`` (one image [H, W, C] or [1, H, W, C] in [0, 1]); see ``Traversal``.

    Args:
        model: a model as ``tfbetavae.load`` returns it, or a path to one.
        limits: (low, high) of the sweep; with ``relative=False`` (default) the swept dimension takes the
            absolute values ``linspace(low, high, steps)`` (the prior's range for ±3), with ``relative=True``
            it takes ``mean[d] + linspace(low, high, steps)``.
        steps: number of columns (≥ 2).
        dims: None (all dimensions), an int k (the k dimensions of highest KL) or a sequence of dimensions.
            Rows are always ordered by KL descending.
        reference: a batch [n, H, W, C] over which the KL of each dimension is averaged to order and mark the
            rows (default: the seed image alone). A few dozen images give a more reliable ordering.
    """
    adapter = _Adapter(model)
    low, high = _check_limits(limits)
    steps = _check_steps(steps)
    seed = adapter.one_image(image)
    batch = seed if reference is None else adapter.images(reference, "reference")
    kl = adapter.kl(batch)
    chosen = _choose_dims(dims, adapter.latent_dim, kl)
    mean = adapter.mean(seed)[0]
    sweep = np.linspace(low, high, steps, dtype=np.float32)
    values = np.stack([mean[d] + sweep if relative else sweep for d in chosen]).astype(np.float32)
    codes = np.repeat(mean[None, None, :], len(chosen), axis=0).repeat(steps, axis=1)  # [rows, steps, D]
    for row, dim in enumerate(chosen):
        codes[row, :, dim] = values[row]
    decoded = adapter.decode(codes.reshape(-1, adapter.latent_dim))
    images = decoded.reshape(len(chosen), steps, *decoded.shape[1:])
    return Traversal(images=images, dims=chosen, values=values, mean=mean, kl=kl)


def tile(cells: np.ndarray) -> np.ndarray:
    """[rows, cols, H, W, C] → one image [rows·H, cols·W, C] (no gaps)."""
    rows, cols, height, width, channels = cells.shape
    return cells.transpose(0, 2, 1, 3, 4).reshape(rows * height, cols * width, channels)


def traversal_grid(
    model,
    image,
    limits: Sequence[float] = (-3.0, 3.0),
    steps: int = 10,
    dims: int | Sequence[int] | None = None,
    reference=None,
    relative: bool = False,
) -> np.ndarray:
    """The traversal as one float32 image [rows·H, steps·W, C] in [0, 1].

    Row block ``r`` (pixel rows ``r·H`` to ``(r+1)·H``) sweeps the dimension with the ``r``-th largest KL;
    column block ``c`` holds the ``c``-th value of the sweep. Arguments as in ``traverse``.
    """
    return tile(traverse(model, image, limits, steps, dims, reference, relative).images)


def reconstruction_grid(model, images, n: int = 8) -> np.ndarray:
    """The first ``n`` images over their reconstructions: float32 [2·H, n·W, C]."""
    adapter = _Adapter(model)
    inputs = adapter.images(images)[: positive_int(n, "n")]
    outputs = adapter.decode(adapter.mean(inputs))
    return tile(np.stack([inputs, outputs]))


# --------------------------------------------------------------------------- drawing
@functools.lru_cache(maxsize=8)
def _font(size: int):
    """DejaVu Sans from matplotlib (it has Greek: β), else Pillow's default font."""
    try:
        import matplotlib

        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)
    except (ImportError, OSError):
        pass
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _to_pil(image: np.ndarray, scale: int) -> Image.Image:
    pixels = np.clip(np.asarray(image, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if pixels.shape[-1] == 1:
        picture = Image.fromarray(pixels[..., 0], mode="L").convert("RGB")
    elif pixels.shape[-1] == 3:
        picture = Image.fromarray(pixels, mode="RGB")
    else:
        raise ValueError(f"can only draw images with 1 or 3 channels, got {pixels.shape[-1]}")
    if scale != 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    return picture


def picture_size(rows: int, cols: int, image_shape, scale: int = 1, header: bool = True, title: bool = False):
    """(width, height) in pixels of a labelled picture (see the layout comment at the top of the module)."""
    height, width = image_shape[0] * scale, image_shape[1] * scale
    return (
        LABEL_WIDTH + cols * (width + GAP),
        (TITLE_HEIGHT if title else 0) + (HEADER_HEIGHT if header else 0) + rows * (height + GAP),
    )


def _labelled_picture(
    cells: np.ndarray,
    row_labels: Sequence[tuple[Sequence[str], tuple[int, int, int]]],
    column_labels: Sequence[str] | None = None,
    title: str | None = None,
    scale: int = 1,
) -> Image.Image:
    """Cells [rows, cols, H, W, C] laid out on a white canvas with row labels, optional column labels and title."""
    rows, cols, height, width, _ = cells.shape
    scale = positive_int(scale, "scale")
    size = picture_size(rows, cols, (height, width), scale, header=column_labels is not None, title=bool(title))
    canvas = Image.new("RGB", size, _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font, small = _font(11), _font(9)
    top = 0
    if title:
        draw.text((4, 3), title, fill=_TEXT, font=_font(13))
        top += TITLE_HEIGHT
    cell_w, cell_h = width * scale, height * scale
    if column_labels is not None:
        for col, text in enumerate(column_labels):
            centre = LABEL_WIDTH + col * (cell_w + GAP) + cell_w / 2
            draw.text((centre, top + HEADER_HEIGHT / 2), text, fill=_MUTED, font=small, anchor="mm")
        top += HEADER_HEIGHT
    draw.rectangle(
        (LABEL_WIDTH - GAP, top, size[0] - 1, size[1] - 1), fill=_GAP_COLOUR
    )  # the gaps between cells show as thin grey lines
    line_height = 13
    for row in range(rows):
        y = top + row * (cell_h + GAP)
        lines, colour = row_labels[row]
        if len(lines) * line_height > cell_h + GAP:  # small cells: one line
            lines = [" ".join(lines)]
        text_top = y + (cell_h - len(lines) * line_height) / 2
        for i, line in enumerate(lines):
            draw.text((4, text_top + i * line_height), line, fill=colour, font=font)
        for col in range(cols):
            canvas.paste(_to_pil(cells[row, col], scale), (LABEL_WIDTH + col * (cell_w + GAP), y))
    return canvas


def _row_labels(traversal: Traversal) -> list[tuple[list[str], tuple[int, int, int]]]:
    labels = []
    for dim, active in zip(traversal.dims, traversal.active):
        lines = [f"z{dim}"]
        if traversal.kl is not None:
            lines.append(f"KL {_kl_text(traversal.kl[dim])}")
        if not active:
            lines.append("inactive")
        labels.append((lines, _TEXT if active else _MUTED))
    return labels


def _kl_text(value: float) -> str:
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def _save_png(picture: Image.Image, path) -> Path:
    """Writes a PNG; a picture with only grey pixels is stored as 8-bit greyscale (a third of the size)."""
    path = _prepare_path(path)
    if picture.mode == "RGB":
        pixels = np.asarray(picture)
        if np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 0], pixels[..., 2]):
            picture = picture.convert("L")
    return save_image(picture, path, format="PNG", optimize=True)


def traversal_image(
    model,
    images,
    limits: Sequence[float] = (-3.0, 3.0),
    steps: int = 10,
    dims: int | Sequence[int] | None = None,
    seed_index: int = 0,
    relative: bool = False,
    scale: int = 1,
    title: str | None = None,
) -> Image.Image:
    """The labelled traversal picture (a PIL RGB image) of ``images[seed_index]``, KL averaged over ``images``.

    Each row is labelled with its dimension ``z<d>`` and KL (nats); rows of inactive dimensions are labelled in
    grey with "inactive". Column headers give the swept value (absolute, or the offset with ``relative``).
    Size: ``picture_size(rows, steps, (H, W), scale, header=True, title=bool(title))``.
    """
    adapter = _Adapter(model)
    batch = adapter.images(images)
    if isinstance(seed_index, bool) or not isinstance(seed_index, (int, np.integer)) or not 0 <= seed_index < len(batch):
        raise ValueError(f"seed_index must be in [0, {len(batch) - 1}], got {seed_index!r}")
    traversal = traverse(adapter, batch[seed_index], limits, steps, dims, reference=batch, relative=relative)
    sweep = np.linspace(*_check_limits(limits), _check_steps(steps))
    headers = [f"{'+' if relative and v > 0 else ''}{v:.1f}" for v in sweep]
    return _labelled_picture(traversal.images, _row_labels(traversal), headers, title, scale)


def _prepare_path(path) -> Path:
    path = Path(path)
    if path.exists() and path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_traversal(
    model,
    images,
    path,
    limits: Sequence[float] = (-3.0, 3.0),
    steps: int = 10,
    dims: int | Sequence[int] | None = None,
    seed_index: int = 0,
    relative: bool = False,
    scale: int = 1,
    title: str | None = None,
) -> Path:
    """Writes ``traversal_image(...)`` as a PNG at ``path`` and returns the path."""
    return _save_png(traversal_image(model, images, limits, steps, dims, seed_index, relative, scale, title), path)


def save_reconstructions(model, images, path, n: int = 8, scale: int = 1, title: str | None = None) -> Path:
    """PNG of the first ``n`` images (top row, "input") over their reconstructions (bottom row, "output").

    Reconstructions decode the posterior mean. Size: ``picture_size(2, min(n, len(images)), (H, W), scale,
    header=False, title=bool(title))``.
    """
    adapter = _Adapter(model)
    inputs = adapter.images(images)[: positive_int(n, "n")]
    outputs = adapter.decode(adapter.mean(inputs))
    labels = [(["input"], _TEXT), (["output"], _TEXT)]
    return _save_png(_labelled_picture(np.stack([inputs, outputs]), labels, None, title, scale), path)


def save_kl_bar_chart(kl, path, threshold: float = ACTIVE_KL_THRESHOLD, title: str | None = None) -> Path:
    """PNG bar chart of the average KL (nats) of each latent dimension; inactive ones (< threshold) in grey."""
    kl = np.asarray(kl, np.float64)
    if kl.ndim != 1 or len(kl) == 0:
        raise ValueError(f"kl must be a non-empty vector [latent_dim], got shape {kl.shape}")
    if not np.all(np.isfinite(kl)) or np.any(kl < -1e-6):
        raise ValueError("kl must hold finite, non-negative values")
    active = kl >= threshold
    chart = figure(max(4.0, 0.45 * len(kl) + 1.5), 3.0)
    axes = chart.add_subplot()
    axes.bar(np.arange(len(kl)), kl, color=np.where(active, "#3b6ea8", "#bbbbbb"))
    axes.axhline(threshold, color="#aa3333", linestyle="--", linewidth=0.8, label=f"active threshold {threshold:g} nats")
    axes.set_xticks(np.arange(len(kl)), [f"z{i}" for i in range(len(kl))], fontsize=8)
    axes.set_ylabel("KL (nats)")
    axes.set_title(title or f"KL per latent dimension: {int(active.sum())} of {len(kl)} active", fontsize=10)
    axes.legend(fontsize=8, loc="upper right")
    chart.tight_layout()
    return save_figure(chart, _prepare_path(path), dpi=100)


def save_traversal_gif(
    model,
    image,
    path,
    limits: Sequence[float] = (-3.0, 3.0),
    steps: int = 16,
    dims: int | Sequence[int] | None = None,
    reference=None,
    relative: bool = False,
    scale: int = 1,
    duration_ms: int = 120,
) -> Path:
    """Animated GIF: all chosen dimensions side by side (ordered by KL), each frame one value of the sweep.

    The sweep goes from low to high and back (``2·steps − 2`` frames, looping forever); the frame title shows
    the current value. Inactive dimensions are labelled in grey.
    """
    traversal = traverse(model, image, limits, steps, dims, reference, relative)
    positive_int(duration_ms, "duration_ms")
    headers = [f"z{d}" + ("" if a else " (off)") for d, a in zip(traversal.dims, traversal.active)]
    sweep = np.linspace(*_check_limits(limits), traversal.images.shape[1])
    order = [*range(len(sweep)), *range(len(sweep) - 2, 0, -1)]
    frames = []
    for step in order:
        cells = traversal.images[:, step][None]  # one row: [1, dims, H, W, C]
        value = f"{'+' if relative and sweep[step] > 0 else ''}{sweep[step]:.2f}"
        label = [(["offset" if relative else "value", value], _TEXT)]
        frames.append(_labelled_picture(cells, label, headers, None, scale))
    return save_image(frames[0], _prepare_path(path), format="GIF", save_all=True, append_images=frames[1:],
                      duration=int(duration_ms), loop=0)


# --------------------------------------------------------------------------- TensorBoard
class TraversalCallback(keras.callbacks.Callback):
    """Writes a traversal grid and a reconstruction grid to TensorBoard every ``every`` epochs.

    Image summaries ``traversal`` (seed ``images[0]``, rows ordered by the KL over ``images``) and
    ``reconstructions`` (``images[:num_reconstructions]`` over their reconstructions), step = epoch index,
    go to an event file in ``log_dir``; point TensorBoard at it (or at the run's ``logs/`` folder).
    """

    def __init__(
        self,
        log_dir,
        images,
        every: int = 1,
        limits: Sequence[float] = (-3.0, 3.0),
        steps: int = 10,
        dims: int | Sequence[int] | None = None,
        num_reconstructions: int = 8,
    ) -> None:
        super().__init__()
        positive_int(every, "every")
        self.log_dir = os.fspath(log_dir)
        self.images = check_batch(images)
        self.every = int(every)
        self.limits = _check_limits(limits)
        self.steps = _check_steps(steps)
        self.dims = dims
        self.num_reconstructions = positive_int(num_reconstructions, "num_reconstructions")
        self._writer = None

    def _writer_for(self):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        return self._writer

    def write(self, step: int) -> None:
        """Writes both grids now, at ``step`` (also usable outside ``fit``)."""
        grid = traversal_grid(self.model, self.images[0], self.limits, self.steps, self.dims, reference=self.images)
        reconstructions = reconstruction_grid(self.model, self.images, self.num_reconstructions)
        with self._writer_for().as_default():
            tf.summary.image("traversal", _uint8(grid)[None], step=step)
            tf.summary.image("reconstructions", _uint8(reconstructions)[None], step=step)
        self._writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.write(epoch)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
