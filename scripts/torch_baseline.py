"""PyTorch reference implementation of tfbetavae's default β-VAE, for the training-throughput comparison.

Same network as ``tfbetavae.networks`` (encoder conv 32-32-64-64 k4 s2 → dense 256 → dense 2·latent; decoder
dense 256 → dense 1024 → 4x4x64 → conv-transpose 64-32-32-1 k4 s2), same loss (Bernoulli reconstruction summed
over pixels and averaged over the batch + β·KL of the diagonal Gaussian posterior against N(0, I)), same
optimiser (Adam, learning rate 5e-4) and the same batch. TensorFlow's ``padding="same"`` for a k4 s2
convolution on an even input pads one pixel each side, which is ``padding=1`` here; the transposed convolution
``padding=1`` likewise doubles the size exactly as Keras' ``Conv2DTranspose(..., padding="same")``.

Run directly for a quick number: ``python scripts/torch_baseline.py --threads 2``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

LATENT_DIM = 10
BETA = 4.0
LEARNING_RATE = 5e-4
FILTERS = (32, 32, 64, 64)


def build(latent_dim: int = LATENT_DIM, channels: int = 1):
    """(encoder, decoder) as ``torch.nn.Sequential`` modules in NCHW layout."""
    from torch import nn

    encoder_layers = []
    previous = channels
    for filters in FILTERS:
        encoder_layers += [nn.Conv2d(previous, filters, 4, stride=2, padding=1), nn.ReLU()]
        previous = filters
    encoder = nn.Sequential(
        *encoder_layers,
        nn.Flatten(),
        nn.Linear(4 * 4 * FILTERS[-1], 256),
        nn.ReLU(),
        nn.Linear(256, 2 * latent_dim),
    )
    out_filters = (*reversed(FILTERS[:-1]), channels)  # 64-32-32-C
    decoder_layers = [
        nn.Linear(latent_dim, 256),
        nn.ReLU(),
        nn.Linear(256, 4 * 4 * FILTERS[-1]),
        nn.ReLU(),
        nn.Unflatten(1, (FILTERS[-1], 4, 4)),
    ]
    previous = FILTERS[-1]
    for index, filters in enumerate(out_filters):
        decoder_layers.append(nn.ConvTranspose2d(previous, filters, 4, stride=2, padding=1))
        if index < len(out_filters) - 1:
            decoder_layers.append(nn.ReLU())
        previous = filters
    return encoder, nn.Sequential(*decoder_layers)


def loss_terms(encoder, decoder, images, beta: float = BETA, generator=None):
    """(loss, reconstruction, kl) for a batch [B, C, H, W] of images in [0, 1]."""
    import torch
    import torch.nn.functional as F

    mean, log_variance = encoder(images).chunk(2, dim=1)
    log_variance = log_variance.clamp(-15.0, 15.0)
    noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
    codes = mean + torch.exp(0.5 * log_variance) * noise
    logits = decoder(codes)
    # -log Bernoulli(x | logits), summed over pixels, averaged over the batch.
    reconstruction = F.binary_cross_entropy_with_logits(logits, images, reduction="sum") / images.shape[0]
    kl = 0.5 * (mean.square() + log_variance.exp() - 1.0 - log_variance).sum(dim=1).mean()
    return reconstruction + beta * kl, reconstruction, kl


def make_trainer(threads: int | None = None, seed: int = 0, latent_dim: int = LATENT_DIM, channels_last: bool = False):
    """A function ``step(images)`` doing one Adam step, plus the thread count torch uses.

    ``channels_last`` keeps weights (and expects images) in NHWC memory order, which oneDNN prefers on CPU.
    """
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    encoder, decoder = build(latent_dim)
    if channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)
        decoder = decoder.to(memory_format=torch.channels_last)
    parameters = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=LEARNING_RATE)

    def step(images):
        optimizer.zero_grad(set_to_none=True)
        loss, _, _ = loss_terms(encoder, decoder, images, generator=generator)
        loss.backward()
        optimizer.step()
        return loss

    return step, torch.get_num_threads()


def to_torch(images_nhwc: np.ndarray, channels_last: bool = False):
    """NHWC float32 numpy images → a torch tensor of shape [B, C, H, W] (NCHW or channels-last memory)."""
    import torch

    batch = torch.from_numpy(np.ascontiguousarray(np.transpose(images_nhwc, (0, 3, 1, 2)), dtype=np.float32))
    return batch.contiguous(memory_format=torch.channels_last) if channels_last else batch


def train_throughput(
    images_nhwc: np.ndarray,
    steps: int,
    repeats: int,
    warmup: int = 3,
    threads: int | None = None,
    channels_last: bool = False,
):
    """Images/s of each repetition (``steps`` Adam steps on a fixed batch) and the thread count."""
    step, used_threads = make_trainer(threads, channels_last=channels_last)
    batch = to_torch(images_nhwc, channels_last)
    for _ in range(warmup):
        step(batch)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step(batch)
        rates.append(steps * len(images_nhwc) / (time.perf_counter() - start))
    return rates, used_threads


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; needs no PyTorch, so ``--help`` and bad arguments answer without it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=positive, default=None)
    parser.add_argument("--steps", type=positive, default=20, help="Adam steps per repetition")
    parser.add_argument("--repeats", type=positive, default=5)
    parser.add_argument("--channels-last", action="store_true")
    return parser.parse_args(argv)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SystemExit("torch_baseline needs PyTorch, which is not installed: pip install torch") from None
    images = (np.random.default_rng(0).random((64, 64, 64, 1)) < 0.1).astype(np.float32)
    rates, threads = train_throughput(
        images, args.steps, args.repeats, threads=args.threads, channels_last=args.channels_last
    )
    print(f"torch {threads} threads: median {np.median(rates):.0f} images/s ({[round(r) for r in rates]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
