"""Compare β-VAE (β = 1, 4, 16), β-TCVAE, FactorVAE, DIP-VAE-I and DIP-VAE-II on procedural dSprites at one
training budget.

Every model gets the same architecture, seed, data stream, batch size, number of steps and learning rate, then
the same metric points: β-VAE score and FactorVAE score (eval accuracy, disentanglement_lib protocol with
``--num-train``/``--num-eval`` points), MIG (``--num-train`` points) and the reconstruction loss (nats per image,
Bernoulli, on ``--recon-images`` held-out renders). Writes into ``--out`` (default ``docs/``):

    objectives_comparison.md    the Markdown table (with the command and budget)
    objectives_comparison.json  every number, the settings and the timings
    objectives_tradeoff.png     disentanglement vs reconstruction, one panel per metric

    .venv/bin/python scripts/compare_objectives.py --steps 1500 --num-train 500 --num-eval 250
    .venv/bin/python scripts/compare_objectives.py --steps 10 --num-train 40 --num-eval 40   # CI smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfbetavae.progress import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # TensorFlow's start-up lines (oneDNN, CUDA, cuInit) stay hidden, as on the command line

import numpy as np  # noqa: E402

from tfbetavae import BetaVAE, ProceduralDSprites, train  # noqa: E402
from tfbetavae.data.ground_truth import GroundTruthData  # noqa: E402
from tfbetavae.metrics import beta_vae_score, factor_vae_score, mig  # noqa: E402
from tfbetavae.objectives import DIPVAE, BetaTCVAE, FactorVAE, dataset_size_of  # noqa: E402
from tfbetavae.training import new_model  # noqa: E402

MODEL_NAMES = ("beta_vae_1", "beta_vae_4", "beta_vae_16", "beta_tcvae", "factor_vae", "dip_vae_i", "dip_vae_ii")
TABLE_FILE = "objectives_comparison.md"
JSON_FILE = "objectives_comparison.json"
PLOT_FILE = "objectives_tradeoff.png"


class CachedRenders(GroundTruthData):
    """A deterministic GroundTruthData whose renders are kept (bit-packed) and reused, e.g. across models.

    Every model is scored on the same metric points, so after the first model the images come from memory.
    Only valid for data whose observations depend on the factors alone (procedural dSprites) and are binary;
    non-binary renders are passed through uncached. At most ``max_images`` renders are kept.
    """

    def __init__(self, data: GroundTruthData, max_images: int = 400_000) -> None:
        self.data = data
        self.max_images = int(max_images)
        self._bases = np.cumprod((1, *data.factor_sizes[:0:-1]))[::-1].astype(np.int64)
        self._store: dict[int, np.ndarray] = {}

    @property
    def factor_names(self):
        return self.data.factor_names

    @property
    def factor_sizes(self):
        return self.data.factor_sizes

    @property
    def observation_shape(self):
        return self.data.observation_shape

    def _render(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        keys = (factors @ self._bases).tolist()
        missing = np.array([key not in self._store for key in keys], dtype=bool)
        images = np.empty((len(factors), *self.observation_shape), np.float32)
        if missing.any():
            fresh = self.data.sample_observations_from_factors(factors[missing], rng)
            images[missing] = fresh
            if np.all((fresh == 0) | (fresh == 1)):
                packed = np.packbits(fresh.reshape(len(fresh), -1).astype(bool), axis=1)
                for key, bits in zip(np.asarray(keys)[missing].tolist(), packed):
                    if len(self._store) < self.max_images:
                        self._store[key] = bits
        if not missing.all():
            images[~missing] = self._unpack([self._store[key] for key in np.asarray(keys)[~missing].tolist()])
        return images

    def _unpack(self, packed: list[np.ndarray]) -> np.ndarray:
        size = int(np.prod(self.observation_shape))
        bits = np.unpackbits(np.stack(packed), axis=1, count=size)
        return bits.reshape(len(packed), *self.observation_shape).astype(np.float32)


def comparison_model(name: str, data: GroundTruthData, args: argparse.Namespace) -> BetaVAE:
    """The compiled model ``name`` (one of ``MODEL_NAMES``), seeded, built by the one factory (``new_model``)."""
    common = {"latent_dim": args.latent_dim, "input_shape": data.observation_shape, "seed": args.seed,
              "learning_rate": args.learning_rate, "name": name}
    if name.startswith("beta_vae_"):
        return new_model("beta-vae", beta=float(name.rsplit("_", 1)[1]), **common)
    if name == "beta_tcvae":
        return new_model("beta-tcvae", tc_weight=args.tc_beta, dataset_size=dataset_size_of(data), **common)
    if name == "factor_vae":
        return new_model("factor-vae", tc_weight=args.factor_gamma, **common)
    if name in ("dip_vae_i", "dip_vae_ii"):  # λ_d from λ_od as in the library (10·λ_od for I, λ_od for II)
        return new_model(name.replace("_", "-"), lambda_od=args.dip_lambda_od, **common)
    raise ValueError(f"unknown model {name!r}; choose from {list(MODEL_NAMES)}")


def short_name(model: BetaVAE) -> str:
    if isinstance(model, BetaTCVAE):
        return "β-TCVAE"
    if isinstance(model, FactorVAE):
        return "FactorVAE"
    if isinstance(model, DIPVAE):
        return f"DIP-VAE-{model.dip_type.upper()}"
    return f"β-VAE {model.beta:g}"


def describe(model: BetaVAE) -> str:
    if isinstance(model, BetaTCVAE):
        return f"β-TCVAE (α={model.alpha:g}, β={model.beta:g}, γ={model.gamma:g})"
    if isinstance(model, FactorVAE):
        return f"FactorVAE (γ={model.gamma:g})"
    if isinstance(model, DIPVAE):
        return f"DIP-VAE-{model.dip_type.upper()} (λ_od={model.lambda_od:g}, λ_d={model.lambda_d:g})"
    return f"β-VAE (β={model.beta:g})"


def held_out_reconstruction(model: BetaVAE, images: np.ndarray, batch_size: int) -> dict:
    """Mean test-step terms (reconstruction in nats/image, KL) over fixed held-out images."""
    logs = model.evaluate(images, batch_size=batch_size, verbose=0, return_dict=True)
    return {"reconstruction": float(logs["reconstruction"]), "kl": float(logs["kl"]),
            "active_dims": int(round(float(logs["active_dims"])))}


def run_one(name: str, data: GroundTruthData, metric_data: GroundTruthData, held_out: np.ndarray,
            args: argparse.Namespace) -> dict:
    model = comparison_model(name, data, args)
    start = time.time()
    history = train(model, data, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                    learning_rate=args.learning_rate, verbose=0)
    train_seconds = time.time() - start
    start = time.time()
    metric_seed = args.seed + 1
    beta_score = beta_vae_score(model, metric_data, num_train=args.num_train, num_eval=args.num_eval,
                                batch_size=args.metric_batch_size, seed=metric_seed, progress=False)
    factor_score = factor_vae_score(model, metric_data, num_train=args.num_train, num_eval=args.num_eval,
                                    batch_size=args.metric_batch_size, num_variance_estimate=max(args.num_train, 2),
                                    seed=metric_seed, progress=False)
    mig_score = mig(model, metric_data, num_train=args.num_train, seed=metric_seed, progress=False)
    metric_seconds = time.time() - start
    final_logs = {key: float(values[-1]) for key, values in history.history.items()}
    return {
        "model": name,
        "objective": describe(model),
        "short": short_name(model),
        "config": {key: value for key, value in model.get_config().items() if key != "discriminator_optimizer"},
        "beta_vae_score": beta_score["eval_accuracy"],
        "beta_vae_train_accuracy": beta_score["train_accuracy"],
        "factor_vae_score": factor_score["eval_accuracy"],
        "factor_vae_active_dims": factor_score["num_active_dims"],
        "mig": mig_score["mig"],
        **held_out_reconstruction(model, held_out, args.batch_size),
        "last_epoch_logs": final_logs,
        "train_seconds": round(train_seconds, 1),
        "metric_seconds": round(metric_seconds, 1),
    }


def markdown_table(results: list[dict], command: str, args: argparse.Namespace) -> str:
    lines = [
        f"Command: `{command}`",
        "",
        f"Budget: {args.steps} steps × batch {args.batch_size} per model (Adam {args.learning_rate:g}, "
        f"latent_dim {args.latent_dim}, seed {args.seed}); metrics on {args.num_train} train / {args.num_eval} "
        f"eval points (L = {args.metric_batch_size}), MIG on {args.num_train} points, reconstruction on "
        f"{args.recon_images} held-out images.",
        "",
        "| Model | β-VAE score | FactorVAE score | MIG | Reconstruction (nats/image) | KL (nats) | Active dims |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['objective']} | {r['beta_vae_score']:.3f} | {r['factor_vae_score']:.3f} | {r['mig']:.3f} | "
            f"{r['reconstruction']:.1f} | {r['kl']:.2f} | {r['active_dims']} |"
        )
    return "\n".join(lines) + "\n"


def plot_tradeoff(results: list[dict], path: Path, title: str) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    metrics = (("beta_vae_score", "β-VAE score"), ("factor_vae_score", "FactorVAE score"), ("mig", "MIG"))
    figure = Figure(figsize=(12, 4.2), dpi=80)
    FigureCanvasAgg(figure)
    colours = dict(zip(MODEL_NAMES, ("#9ecae1", "#4292c6", "#08519c", "#e6550d", "#31a354", "#756bb1", "#c51b8a")))
    for index, (key, label) in enumerate(metrics):
        axes = figure.add_subplot(1, len(metrics), index + 1)
        for r in results:
            axes.scatter(r["reconstruction"], r[key], s=60, color=colours.get(r["model"], "grey"), label=r["objective"])
            axes.annotate(r["short"], (r["reconstruction"], r[key]), textcoords="offset points", xytext=(4, 4),
                          fontsize=7)
        axes.set_xlabel("reconstruction loss (nats/image, lower is better)")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    figure.suptitle(title, fontsize=10)
    handles, labels = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.08 if len(labels) <= 4 else 0.13, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500, help="training steps per model")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-train", type=int, default=500, help="metric training points (and MIG points)")
    parser.add_argument("--num-eval", type=int, default=250, help="metric evaluation points")
    parser.add_argument("--metric-batch-size", type=int, default=64, help="L: pairs/observations per metric point")
    parser.add_argument("--recon-images", type=int, default=512, help="held-out images for the reconstruction loss")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--tc-beta", type=float, default=6.0, help="β of β-TCVAE (weight of the total correlation)")
    parser.add_argument("--factor-gamma", type=float, default=35.0, help="γ of FactorVAE")
    parser.add_argument("--dip-lambda-od", type=float, default=10.0,
                        help="λ_od of DIP-VAE-I and -II (the library's default; λ_d = 10·λ_od for I, λ_od for II)")
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    parser.add_argument("--out", default="docs", help="folder for the table, JSON and plot")
    args = parser.parse_args(argv)
    for name in ("steps", "batch_size", "num_train", "num_eval", "metric_batch_size", "recon_images", "latent_dim"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.metric_batch_size < 2:
        parser.error("--metric-batch-size must be >= 2 (the FactorVAE score needs a variance)")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    command = "python scripts/compare_objectives.py " + " ".join(sys.argv[1:] if argv is None else argv)
    data = ProceduralDSprites()
    metric_data = CachedRenders(data)
    held_out = data.sample(args.recon_images, np.random.default_rng(args.seed + 12345))[1]
    results = []
    for name in args.models:
        print(f"[{name}] training {args.steps} steps, then metrics ...", flush=True)
        result = run_one(name, data, metric_data, held_out, args)
        results.append(result)
        print(f"[{name}] β-VAE {result['beta_vae_score']:.3f}  FactorVAE {result['factor_vae_score']:.3f}  "
              f"MIG {result['mig']:.3f}  reconstruction {result['reconstruction']:.1f}  "
              f"({result['train_seconds']:.0f} s training, {result['metric_seconds']:.0f} s metrics)", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(results, command, args)
    (out / TABLE_FILE).write_text(table, encoding="utf-8")
    settings = {key: value for key, value in vars(args).items() if key != "out"}
    report = {"command": command, "settings": settings, "data": type(data).__name__, "results": results}
    (out / JSON_FILE).write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    plot_tradeoff(results, out / PLOT_FILE,
                  f"procedural dSprites, {args.steps} steps × batch {args.batch_size} per model, seed {args.seed}")
    print("\n" + table)
    print(f"Wrote {out / TABLE_FILE}, {out / JSON_FILE}, {out / PLOT_FILE}")
    return report


if __name__ == "__main__":
    main()
