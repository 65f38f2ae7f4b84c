"""The PyTorch baseline's trainer: ``scripts/torch_baseline.py``'s network and loss, trained by Adam with the
library's learning rate, latent size and β, in float32 or under bf16 autocast, NCHW or channels-last.

PyTorch is imported only when a trainer is made, so every section runs (and says "skipped") without it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .config import BATCH_SIZE

BASELINE = Path(__file__).resolve().parents[1] / "torch_baseline.py"
INSTALL_HINT = "pip install -e '.[bench]'"
TORCH_PRECISIONS = ("float32", "bf16_autocast")
LAYOUTS = {"nchw": False, "channels_last": True}


def missing() -> str | None:
    """Why PyTorch cannot be used here, or None when it can (asked without importing it)."""
    if importlib.util.find_spec("torch") is None:
        return f"torch not installed; {INSTALL_HINT}"
    return None


def skipped(reason: str) -> dict:
    return {"status": "skipped", "reason": reason}


@functools.cache
def baseline():
    """``scripts/torch_baseline.py`` as a module (its network, loss and tensor conversion)."""
    spec = importlib.util.spec_from_file_location("torch_baseline", BASELINE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class TorchTrainer:
    """One PyTorch model and its Adam; ``step(images)`` is one training step, ``loss_of`` the loss alone."""

    encoder: object
    decoder: object
    optimizer: object
    generator: object
    beta: float
    autocast: bool
    channels_last: bool

    def precision(self):
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16) if self.autocast else contextlib.nullcontext()

    def loss_of(self, images, encoder=None, decoder=None):
        """The baseline's loss (forward pass included unless ``encoder``/``decoder`` stand in for the networks)."""
        with self.precision():
            loss, _, _ = baseline().loss_terms(
                encoder or self.encoder, decoder or self.decoder, images, beta=self.beta, generator=self.generator
            )
        return loss

    def step(self, images):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_of(images)
        loss.backward()  # outside autocast, as PyTorch recommends; weights and Adam stay float32
        self.optimizer.step()
        return loss

    def batch(self, images_nhwc):
        return baseline().to_torch(images_nhwc, self.channels_last)


def make_trainer(threads: int, channels_last: bool = False, autocast: bool = False, seed: int = 0) -> TorchTrainer:
    import torch

    from .models import library_defaults

    defaults = library_defaults()
    torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    encoder, decoder = baseline().build(defaults["latent_dim"])
    if channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)
        decoder = decoder.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=defaults["learning_rate"])
    return TorchTrainer(encoder, decoder, optimizer, torch.Generator().manual_seed(seed), defaults["beta"], autocast,
                        channels_last)


def info(threads: int | None = None) -> dict:
    """What a measured PyTorch column says about PyTorch: version, threads, OpenMP's wait policy."""
    import torch

    return {
        "status": "measured",
        "version": torch.__version__,
        "threads": threads or torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def runners(images, threads: int, steps: int, precisions=TORCH_PRECISIONS, layouts=tuple(LAYOUTS)) -> tuple[dict, dict]:
    """name -> images/s function (``steps`` training steps on a fixed batch) for every precision × layout, and an
    info dict; without PyTorch no runners and a skipped info naming the reason."""
    reason = missing()
    if reason:
        return {}, skipped(reason)
    import torch

    result = {}
    for precision in precisions:
        for layout in layouts:
            trainer = make_trainer(threads, LAYOUTS[layout], autocast=precision != "float32")
            batch = trainer.batch(images)
            for _ in range(2):
                trainer.step(batch)

            def run(step=trainer.step, batch=batch):
                start = time.perf_counter()
                for _ in range(steps):
                    step(batch)
                return steps * BATCH_SIZE / (time.perf_counter() - start)

            result[f"{precision}_{layout}"] = run
    return result, info(torch.get_num_threads())
