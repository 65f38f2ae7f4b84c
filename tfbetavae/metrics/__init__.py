"""Disentanglement metrics: β-VAE score, FactorVAE score, MIG, DCI, SAP, modularity and explicitness, IRS, the
downstream task, unsupervised scores and UDR, plus a Keras callback.

Every metric takes ``(represent, data, ..., seed=0, progress=True)``: ``represent`` is a BetaVAE, an exported
``encode`` signature or any function images → codes (see ``as_representation``), ``data`` a
``GroundTruthData`` (the unsupervised scores also take data without factors); each returns a dict of floats and is
deterministic for a seed. ``udr`` ranks several models at once, without labels. Codes are posterior means unless
``representation="sampled"`` is given (``as_representation``, ``evaluate``, the callback).
"""

from tfbetavae.metrics.beta_vae import beta_vae_batches, beta_vae_score
from tfbetavae.metrics.callback import DisentanglementCallback
from tfbetavae.metrics.dci import dci, dci_from_codes
from tfbetavae.metrics.downstream import downstream_from_codes, downstream_gbt, downstream_logreg
from tfbetavae.metrics.evaluation import (
    METRICS,
    check_metric_names,
    evaluate,
    metrics_without_factors,
    scoring_record,
)
from tfbetavae.metrics.factor_vae import factor_vae_score
from tfbetavae.metrics.irs import irs, irs_from_codes
from tfbetavae.metrics.mig import mig
from tfbetavae.metrics.modularity import modularity, modularity_from_codes
from tfbetavae.metrics.representation import REPRESENTATIONS, as_representation, encode_in_batches
from tfbetavae.metrics.sap import sap, sap_from_codes
from tfbetavae.metrics.udr import UDRResult, udr, udr_from_codes
from tfbetavae.metrics.unsupervised import unsupervised, unsupervised_from_codes

__all__ = [
    "METRICS",
    "REPRESENTATIONS",
    "DisentanglementCallback",
    "as_representation",
    "check_metric_names",
    "beta_vae_batches",
    "beta_vae_score",
    "dci",
    "dci_from_codes",
    "downstream_from_codes",
    "downstream_gbt",
    "downstream_logreg",
    "encode_in_batches",
    "evaluate",
    "metrics_without_factors",
    "factor_vae_score",
    "irs",
    "irs_from_codes",
    "mig",
    "modularity",
    "modularity_from_codes",
    "sap",
    "sap_from_codes",
    "scoring_record",
    "udr",
    "udr_from_codes",
    "UDRResult",
    "unsupervised",
    "unsupervised_from_codes",
]
