"""Color-, Noisy- and Scream-dSprites, the dSprites variants of Locatello et al. (2019), made offline.

Each wraps a binary dSprites source (the procedural renderer by default, or the real file) and keeps its five
factors; what the variant adds is drawn afresh for every image from the caller's generator, so it is noise,
not a factor. The definitions follow disentanglement_lib's ``dsprites`` module, where the study defined them:

* **Color-dSprites**: the sprite takes a colour drawn uniformly from [0.5, 1]³; the background stays black.
* **Noisy-dSprites**: the background is replaced by uniform noise on [0, 1]³ per pixel; the sprite stays white
  (pixel = min(sprite + noise, 1)).
* **Scream-dSprites**: the background is a random 64×64 patch of an image, averaged with a random colour
  drawn uniformly from [0, 1]³ (``(patch + colour) / 2``); under the sprite the patch's colour is inverted
  (``1 − background``). The study used Edvard Munch's painting *The Scream* (Wikimedia Commons'
  ``The_Scream.jpg``), shrunk to fit 350×274 pixels with PIL's ``thumbnail``; supply that or any image.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tfbetavae.data.ground_truth import GroundTruthData

SCREAM_SIZE = (350, 274)  # (width, height) box the background is shrunk into, as in the study


class _DSpritesVariant(GroundTruthData):
    """Shares the base data set's factors; subclasses colour its binary sprites."""

    def __init__(self, base: GroundTruthData | None = None) -> None:
        if base is None:
            from tfbetavae.data.dsprites import ProceduralDSprites

            base = ProceduralDSprites()
        if not isinstance(base, GroundTruthData) or tuple(base.observation_shape)[-1] != 1:
            raise TypeError(f"the base of a dSprites variant must be a one-channel GroundTruthData, got {base!r}")
        self.base = base

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(self.base.factor_names)

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        return tuple(self.base.factor_sizes)

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        height, width, _ = self.base.observation_shape
        return (height, width, 3)

    def _masks(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The base's sprites as float32 [n, H, W, 1] in {0, 1}."""
        return self.base._render(factors, rng)


class ColorDSprites(_DSpritesVariant):
    """dSprites with each sprite in a random colour from [0.5, 1]³ on black."""

    def _render(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        masks = self._masks(factors, rng)
        colours = rng.uniform(0.5, 1.0, size=(len(factors), 1, 1, 3)).astype(np.float32)
        return masks * colours


class NoisyDSprites(_DSpritesVariant):
    """dSprites with a white sprite on per-pixel uniform noise."""

    def _render(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        masks = self._masks(factors, rng)
        noise = rng.random((len(factors), *self.observation_shape), dtype=np.float32)  # U[0, 1), drawn in float32: 2× faster
        return np.minimum(masks + noise, 1.0)


class ScreamDSprites(_DSpritesVariant):
    """dSprites drawn as an inverted region of a random patch of a background image (the study used The Scream)."""

    def __init__(self, background: str | os.PathLike | np.ndarray, base: GroundTruthData | None = None) -> None:
        super().__init__(base)
        self.background = _background(background)
        height, width, _ = self.base.observation_shape
        if self.background.shape[0] <= height or self.background.shape[1] <= width:
            raise ValueError(
                f"the Scream-dSprites background must be larger than {height}x{width} after fitting into "
                f"{SCREAM_SIZE[0]}x{SCREAM_SIZE[1]}, got {self.background.shape[1]}x{self.background.shape[0]}"
            )

    def _render(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        masks = self._masks(factors, rng)
        height, width, _ = self.observation_shape
        out = np.empty((len(factors), height, width, 3), np.float32)
        for i, mask in enumerate(masks):
            top = rng.integers(0, self.background.shape[0] - height)
            left = rng.integers(0, self.background.shape[1] - width)
            patch = self.background[top : top + height, left : left + width]
            background = (patch + rng.uniform(0.0, 1.0, size=3).astype(np.float32)) / 2.0
            out[i] = np.where(mask == 1.0, 1.0 - background, background)
        return out


def _background(background: str | os.PathLike | np.ndarray) -> np.ndarray:
    """The background as float32 [H, W, 3] in [0, 1], shrunk into SCREAM_SIZE as the study did."""
    from PIL import Image

    if isinstance(background, np.ndarray):
        array = background
        if array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"a background array must be [H, W, 3], got shape {array.shape}")
        if array.dtype != np.uint8:
            if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
                raise ValueError("a float background array must lie in [0, 1]")
            array = np.round(array * 255).astype(np.uint8)
        image = Image.fromarray(array)
    else:
        path = Path(background)
        if not path.is_file():
            raise FileNotFoundError(f"Scream-dSprites background image not found: {path} (e.g. The_Scream.jpg)")
        try:
            image = Image.open(path)
            image.load()
        except Exception as error:  # PIL raises several types for a bad file
            raise ValueError(f"{path}: not a readable image ({error})") from error
        image = image.convert("RGB")
    image.thumbnail(SCREAM_SIZE)
    return np.asarray(image, np.float32) / 255.0
