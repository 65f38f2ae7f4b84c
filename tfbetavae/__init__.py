"""tfbetavae: β-VAE (Higgins et al. 2017) for TensorFlow/Keras 3, with TFP distributions.

Everything loads on first use: a public name imports the module that defines it (``tfbetavae.BetaVAE`` imports
``tfbetavae.model``), and a subpackage or module is imported when it is first named (``tfbetavae.metrics.evaluate``
after ``import tfbetavae`` alone). So ``import tfbetavae`` and the command line's ``--help`` do not import
TensorFlow, and KerasTuner is only imported by those who tune. ``dir(tfbetavae)`` lists both kinds.
"""

__version__ = "0.1.0"

# The top-level names, by the module that defines them. A new name is one entry on its module's line.
_NAMES_BY_MODULE = {
    "data": ("DSpritesArrays", "GroundTruthData", "ProceduralDSprites", "dsprites", "training_dataset"),
    "model": ("BetaVAE",),
    "networks": ("Decoder", "Encoder"),
    "training": ("compile_model", "make_deterministic", "make_strategy", "train"),
    "loading": ("load", "load_model"),
    "metrics": ("beta_vae_batches", "beta_vae_score", "factor_vae_score", "mig", "dci", "sap", "modularity", "irs",
                "downstream_logreg", "downstream_gbt", "evaluate", "DisentanglementCallback"),
    "export": ("export_saved_model", "load_exported"),
    "viz": ("save_traversal", "save_reconstructions", "traversal_grid", "TraversalCallback"),
    "tuning": ("BetaVAEHyperModel", "search"),
    "studies": ("study",),
    "reference": ("load_reference", "reference_models"),
    "objectives": ("AdaGVAE", "AdaMLVAE", "BetaTCVAE", "DIPVAE", "FactorVAE"),
}


# Modules that never import TensorFlow: naming them leaves TensorFlow unloaded.
_LIGHT_MODULES = frozenset({"checks", "choices", "cli", "objective_names", "progress", "runs"})


def _quiet_tensorflow_import(module: str) -> None:
    """Imports TensorFlow with its C++ start-up lines hidden, before a public name first needs it: Python users see
    no "oneDNN custom operations" or CUDA lines, as on the command line (``TFBETAVAE_VERBOSE=1`` shows them)."""
    import os
    import sys

    if "tensorflow" in sys.modules or module.split(".")[0] in _LIGHT_MODULES or os.environ.get("TFBETAVAE_VERBOSE"):
        return
    from tfbetavae.progress import native_stderr_hidden

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_hidden():
        import tensorflow

        tensorflow.config.list_physical_devices()  # "failed call to cuInit" on a CPU-only machine, unheard


def _lazy_attributes(package: str, names: dict[str, str] | None = None) -> tuple:
    """The module ``__getattr__`` and ``__dir__`` of ``package``, which load on first access.

    ``names`` maps an attribute to the submodule (relative to ``package``) that defines it. Any other public
    attribute that names a submodule or subpackage of ``package`` (found by the import system, so none is ever
    left off a list) imports it. ``__dir__`` adds both to the package's own names. A subpackage opts in with
    ``__getattr__, __dir__ = _lazy_attributes(__name__)``.
    """
    import importlib
    import importlib.util
    import pkgutil
    import sys

    names = dict(names or {})

    def public_name(name: str) -> bool:
        return name.isidentifier() and not name.startswith("_")

    def __getattr__(name: str):
        module = sys.modules[package]
        if public_name(name):
            _quiet_tensorflow_import(names.get(name, name))
        if name in names:
            value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
            setattr(module, name, value)  # later look-ups skip this function
            return value
        public = name.isidentifier() and not name.startswith("_")
        if public and importlib.util.find_spec(f"{package}.{name}") is not None:
            return importlib.import_module(f"{package}.{name}")  # the import binds it on the package
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        module = sys.modules[package]
        submodules = (info.name for info in pkgutil.iter_modules(module.__path__) if not info.name.startswith("_"))
        return sorted({*vars(module), *names, *submodules})

    return __getattr__, __dir__


_MODULE_OF = {name: module for module, names in _NAMES_BY_MODULE.items() for name in names}
__getattr__, __dir__ = _lazy_attributes(__name__, _MODULE_OF)
__all__ = [*_MODULE_OF]
