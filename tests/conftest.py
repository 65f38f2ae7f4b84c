import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tfbetavae.data import ProceduralDSprites  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture(scope="session")
def sprites():
    return ProceduralDSprites()


@pytest.fixture(scope="session")
def sprite_batch(sprites):
    return sprites.sample(32, np.random.default_rng(0))[1]
