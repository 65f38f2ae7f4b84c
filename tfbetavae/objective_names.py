"""The objectives' names, in one place that imports nothing: the command line's ``--help`` offers them before
TensorFlow loads, and the model factory, studies and the tuner check against the same tuple.

* ``OBJECTIVES``: what ``tfbetavae.objectives.build_model`` and ``tfbetavae study --objective`` take;
* ``TRAIN_OBJECTIVES``: what ``tfbetavae train --objective`` takes (``capacity`` is ``beta-vae`` with ``--capacity``);
* ``PAIR_OBJECTIVES``: the objectives that train on pairs ``(x1, x2)`` instead of images (``tfbetavae.data.pairs``).
"""

__all__ = ["OBJECTIVES", "PAIR_OBJECTIVES", "TRAIN_OBJECTIVES"]

OBJECTIVES = ("beta-vae", "capacity", "beta-tcvae", "factor-vae", "dip-vae-i", "dip-vae-ii",
              "ada-gvae", "ada-ml-vae")
TRAIN_OBJECTIVES = tuple(name for name in OBJECTIVES if name != "capacity")
PAIR_OBJECTIVES = ("ada-gvae", "ada-ml-vae")
