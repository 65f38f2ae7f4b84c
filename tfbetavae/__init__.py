"""tfbetavae: β-VAE for TensorFlow/Keras 3."""
__version__ = "0.1.0"
