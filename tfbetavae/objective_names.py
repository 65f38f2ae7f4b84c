"""The objectives' names, in one place that imports nothing: the command line's ``--help`` offers them before
TensorFlow loads, and the model factory, studies and the tuner check against the same tuple.

* ``OBJECTIVES``: what ``tfbetavae.objectives.build_model`` and ``tfbetavae study --objective`` take;
* ``TRAIN_OBJECTIVES``: what ``tfbetavae train --objective`` takes (``capacity`` is ``beta-vae`` with ``--capacity``).
"""

__all__ = ["OBJECTIVES", "TRAIN_OBJECTIVES"]

OBJECTIVES = ("beta-vae", "capacity", "beta-tcvae", "factor-vae", "dip-vae-i", "dip-vae-ii")
TRAIN_OBJECTIVES = tuple(name for name in OBJECTIVES if name != "capacity")
