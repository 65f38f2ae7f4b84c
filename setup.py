"""Packaging for tfbetavae: β-VAE in TensorFlow/Keras 3 with TFP distributions."""

from setuptools import find_packages, setup

setup(
    name="tfbetavae",
    version="0.1.0",
    description="β-VAE (Higgins et al. 2017) for TensorFlow/Keras 3: training, disentanglement metrics, tuning, export.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["tfbetavae", "tfbetavae.*"]),
    install_requires=[
        # The full tensorflow package: tf-keras (needed by TFP's distributions) requires it,
        # so tensorflow-cpu beside it would install two TensorFlows over each other.
        "tensorflow>=2.21,<2.22",
        "tensorflow-probability[tf]>=0.25,<0.26",
        "keras>=3.10",
        "tensorflow-datasets>=4.9",
        "importlib_resources",
        "keras-tuner>=1.4.8",
        "tensorboard",
        "numpy",
        "scikit-learn",
        "scipy",
        "matplotlib",
        "h5py",
        "pillow",
    ],
    extras_require={
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        "dev": ["pytest", "pytest-xdist", "ruff", "hypothesis", "ai-edge-litert"],
        "bench": ["torch==2.13.0"],
    },
    entry_points={"console_scripts": ["tfbetavae=tfbetavae.cli:main"]},
)
