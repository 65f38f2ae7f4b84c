"""Labelled pictures of a model (PIL images), written as PNG or GIF, and the bar chart of KL per dimension.

Every picture is written atomically (``tfbetavae.figures``): one a user opens while it is redrawn is the old one or
the new one, never half of one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tfbetavae.checks import positive_int
from tfbetavae.figures import figure, save_figure, save_image
from tfbetavae.model import ACTIVE_KL_THRESHOLD
from tfbetavae.viz.traversal import Traversal, _Adapter, _check_limits, _check_steps, traverse

__all__ = [
    "GAP",
    "HEADER_HEIGHT",
    "LABEL_WIDTH",
    "TITLE_HEIGHT",
    "picture_size",
    "save_kl_bar_chart",
    "save_reconstructions",
    "save_traversal",
    "save_traversal_gif",
    "traversal_image",
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
