"""Every option's list of choices, in one place that imports nothing: the commands' ``--help`` offers them before
TensorFlow loads, and every command offers the same list (``tests/test_choices.py`` checks each against the code
that takes it).

The objectives' names live in ``tfbetavae.objective_names`` and are offered here too.
"""

from tfbetavae.objective_names import OBJECTIVES, TRAIN_OBJECTIVES

__all__ = ["LIKELIHOODS", "OBJECTIVES", "PRECISIONS", "PROTOCOLS", "REPRESENTATIONS", "STUDY_PRESETS", "STUDY_SCORES", "TRAIN_OBJECTIVES", "TUNERS"]

LIKELIHOODS = ("bernoulli", "continuous_bernoulli", "gaussian", "gaussian_learned_scale", "laplace")
PROTOCOLS = ("library", "disentanglement_lib")
TUNERS = ("random", "bayesian", "hyperband")
PRECISIONS = ("float32", "bfloat16", "float16", "auto")
REPRESENTATIONS = ("mean", "sampled")  # tfbetavae.metrics.representation.REPRESENTATIONS: the codes scored
# A study's score names (tfbetavae.metrics.catalogue.STUDY_SCORES, whose package imports TensorFlow).
STUDY_PRESETS = ("locatello2019",)  # tfbetavae.studies.plan.PRESETS
STUDY_SCORES = ("beta_vae", "beta_vae_paper", "factor_vae", "mig", "dci", "sap", "unsupervised", "udr")
