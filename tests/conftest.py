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
    """Each test starts seeded, and without the op determinism a test (or an in-process ``train --deterministic``)
    switched on: TF keeps it for the whole process, and it slows every later training by about a fifth."""
    from tensorflow.python.framework import config  # the only place TF offers to switch it off again

    keras.utils.set_random_seed(0)
    yield
    if config.is_op_determinism_enabled():
        config.disable_op_determinism()


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
