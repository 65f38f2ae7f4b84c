import importlib.util
import os
from pathlib import Path

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


@pytest.fixture(scope="session")
def load_script():
    """Imports ``scripts/NAME.py`` as a module, so tests can call a script's functions directly."""
    scripts = Path(__file__).resolve().parents[1] / "scripts"

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"script_{name}", scripts / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
