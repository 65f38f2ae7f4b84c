"""`make demo`: the shipped β-VAE first (in seconds), then a β-VAE trained live for about two minutes.

1. Opens the reference β-VAE shipped in exported_models/beta-vae (trained by the paper study, see
   docs/reproduction.md), prints the scores its model card records and draws its latent traversal.
2. Trains a β-VAE (β = 4, Adam 1e-4, batch 64) live on dSprites for 1,000 steps, with Keras' progress bar. It
   prints MIG before and after training beside the shipped model's, and the β-VAE score; draws the traversal and
   the reconstructions; exports a SavedModel and opens it again with ``tfbetavae.load``.

Time: the training takes about 2 minutes on a 2-core CPU without AVX-512 (≈ 0.12 s a step of batch 64), less on
a larger one; scoring, pictures and export add about half a minute. Pass --steps to change the budget. One short
run shows what training looks like, not what β buys: seeds move every score as much as β does. For that, run a
study (docs/studies.md). Runs on the procedural dSprites renderer unless $TFBETAVAE_DSPRITES points to the real
file.

Why Adam 1e-4 (the library's default) and not a faster rate for so short a run: measured with this script
(``--skip-shipped --learning-rate R --seed S``, 1,000 steps, seeds 0 and 1), 5e-4 reconstructs better (114 and 107
nats against 206 and 203) but disentangles less: MIG 0.028 and 0.019 against 0.093 and 0.104, β-VAE score 0.72
and 0.67 against 0.76 and 0.82 (500 / 250 points). Both reconstruct blobs of the right place and size (no shapes
yet), so 5e-4 does not learn visibly more in this budget, and the scores favour 1e-4 (as the defaults study found
at 2,500 steps, docs/defaults.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfbetavae.progress import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # TensorFlow's start-up lines (oneDNN, CUDA, cuInit) stay hidden, as on the command line

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfbetavae  # noqa: E402
from tfbetavae import BetaVAE, dsprites, train  # noqa: E402
from tfbetavae.cli import int_at_least  # noqa: E402
from tfbetavae.cli.train_command import print_summary  # noqa: E402
from tfbetavae.export import export_saved_model  # noqa: E402
from tfbetavae.metrics import evaluate, scoring_record  # noqa: E402
from tfbetavae.reference import load_reference, reference_models  # noqa: E402
from tfbetavae.viz import save_reconstructions, save_traversal  # noqa: E402

# One step of batch 64 on a 2-core AMD EPYC without AVX-512 (AVX2 and FMA only): the machine the default budget
# is sized for. Only the printed estimate uses it; Keras' progress bar shows the time left on the machine at hand.
SECONDS_PER_STEP = 0.117
BATCH_SIZE = 64
LATENT_DIM = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int_at_least(1), default=1000, help="training steps (default 1000, ~2 min)")
    parser.add_argument("--beta", type=float, default=4.0)
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="Adam's learning rate (default 1e-4)")
    parser.add_argument("--run", default="runs/demo", help="run folder (replaced when it holds a finished run)")
    parser.add_argument("--export-dir", default="exported_models/demo", help="SavedModel base folder")
    parser.add_argument("--num-eval", type=int_at_least(2), default=300,
                        help="β-VAE score points: this many to train its classifier, half as many to evaluate it")
    parser.add_argument("--mig-points", type=int_at_least(2), default=10000, help="points for MIG (the card's size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-shipped", action="store_true", help="do not show the shipped reference model first")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    data = dsprites()
    print(f"Data: {type(data).__name__} with factors {dict(zip(data.factor_names, data.factor_sizes))}")
    run = Path(args.run)
    shipped = None if args.skip_shipped else show_shipped(data, run, args.seed)

    print(f"\n== 2. A β-VAE trained live: β={args.beta:g}, Adam {args.learning_rate:g}, batch {BATCH_SIZE}, "
          f"{args.steps} steps{compared_with(shipped)}")
    print(f"   Estimated time: {duration(args.steps * SECONDS_PER_STEP)} of training on a 2-core CPU without AVX-512 "
          f"({SECONDS_PER_STEP:.2f} s a step; less on a larger CPU), then about half a minute to score, draw and "
          "export. Keras' progress bar below shows the time left; one run shows what training looks like, not "
          "what β buys (docs/studies.md).")
    if (run / "model.keras").exists():
        shutil.rmtree(run)  # a finished demo run: start a fresh one
    model = BetaVAE(latent_dim=LATENT_DIM, beta=args.beta, seed=args.seed)
    mig_before = score_mig(model, data, args)
    print(f"   MIG before training (random weights): {mig_before:.3f}")

    start = time.time()
    train(model, data, steps=args.steps, batch_size=BATCH_SIZE, run_dir=run, steps_per_epoch=min(args.steps, 250),
          seed=args.seed, learning_rate=args.learning_rate, extra_config={"data": "dsprites"})
    print_summary(run)
    print(f"Trained {args.steps} steps in {time.time() - start:.0f} s")

    start = time.time()
    names, sizes = ["mig", "beta_vae"], {"mig": {"num_train": args.mig_points},
                                         "beta_vae": {"num_train": args.num_eval, "num_eval": args.num_eval // 2}}
    scores = evaluate(model, data, names, seed=args.seed + 1, progress=False, **sizes)
    chance = 1.0 / data.num_factors
    shipped_scores = shipped.card["scores"] if shipped is not None else {}
    print(f"\nScores after {args.steps} steps (library protocol; {time.time() - start:.0f} s):")
    print(f"  MIG {scores['mig']:.3f} (before training {mig_before:.3f}"
          + (f"; shipped model {shipped_scores['mig']:.3f}" if "mig" in shipped_scores else "") + ")")
    print(f"  β-VAE score (standard protocol): train accuracy {scores['beta_vae_train_accuracy']:.3f}, eval accuracy "
          f"{scores['beta_vae_eval_accuracy']:.3f} (chance {chance:.3f}; {args.num_eval} train / "
          f"{args.num_eval // 2} eval points"
          + (f"; shipped model {shipped_scores['beta_vae_eval_accuracy']:.3f}{shipped_sizes(shipped)}"
             if "beta_vae_eval_accuracy" in shipped_scores else "") + ")")

    images = data.sample(64, np.random.default_rng(args.seed + 2))[1]
    traversal = save_traversal(model, images, run / "traversal.png", scale=2,
                               title=f"beta={args.beta:g}, {args.steps} steps")
    reconstructions = save_reconstructions(model, images, run / "reconstructions.png", scale=2,
                                           title=f"{args.steps} steps: inputs over reconstructions")
    print(f"\nLatent traversal picture: {traversal}  (rows: latent dimensions, most informative first)")
    print(f"Reconstructions: {reconstructions}")

    export = export_saved_model(
        model, args.export_dir, scores=scores, scoring=scoring_record(names, seed=args.seed + 1, **sizes),
        training_info={"data": type(data).__name__, "steps": args.steps, "run": str(run),
                       "learning_rate": args.learning_rate},
    )
    served = tfbetavae.load(export)  # what a user of the export does; needs only TensorFlow
    difference = float(np.max(np.abs(served.encode(images[:8]) - keras.ops.convert_to_numpy(model.encode(images[:8])))))
    print(f"SavedModel (encode/decode/reconstruct/sample signatures): {export}")
    print(f"  reopened with tfbetavae.load: latent_dim {served.latent_dim}, codes within {difference:.1e} of the "
          f"trained model's; saved_model_cli show --dir {export} --all")
    return 0


def duration(seconds: float) -> str:
    """'2.0 min' or '45 s'."""
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def compared_with(shipped) -> str:
    """' (the shipped β-VAE, version V, had S steps)' from the shipped model's card; '' without one."""
    if shipped is None:
        return ""
    return f" (the shipped β-VAE, version {shipped.version}, had {shipped.card['training']['steps']:,})"


def shipped_sizes(shipped) -> str:
    """' on 1000 / 500' points: the β-VAE score's sizes the shipped card records ('' when it records none)."""
    measured = shipped.card["training"].get("scores_measured_with", {})
    sizes = (measured.get("metric_sizes") or {}).get("beta_vae", {})
    return f" on {sizes['num_train']} / {sizes['num_eval']}" if {"num_train", "num_eval"} <= set(sizes) else ""


def score_mig(model, data, args: argparse.Namespace) -> float:
    return float(evaluate(model, data, ["mig"], seed=args.seed + 1, progress=False, num_train=args.mig_points)["mig"])


def show_shipped(data, run: Path, seed: int):
    """Prints the shipped β-VAE's card and draws its traversal: what a trained model looks like, at once.

    Returns the shipped model (a ``tfbetavae.loading.SavedModelVAE``; its ``card`` and ``version``), or None when
    none is shipped.
    """
    if "beta-vae" not in reference_models():
        print("(no shipped reference model in exported_models/beta-vae; skipping part 1)")
        return None
    model = load_reference("beta-vae")
    training, scores = model.card["training"], model.card["scores"]
    setting = training["setting"]
    print(f"\n== 1. The shipped β-VAE: {model.path} (version {model.version}) — β={setting['beta']:g}, seed "
          f"{training['seed']}, {training['steps']:,} steps, Adam {setting['learning_rate']:g}")
    print(f"   chosen as {training['chosen_by']}")
    shown = [("β-VAE score (standard)", "beta_vae_eval_accuracy"), ("β-VAE score (shape excluded)",
             "beta_vae_paper_eval_accuracy"), ("MIG", "mig"), ("DCI disentanglement", "dci_disentanglement"),
             ("reconstruction (nats)", "reconstruction"), ("KL (nats)", "kl")]
    for label, key in shown:
        if key in scores:
            print(f"   {label:30s} {scores[key]:8.3f}")
    images = data.sample(64, np.random.default_rng(seed + 2))[1]
    picture = save_traversal(model, images, run.parent / "shipped_traversal.png", scale=2,
                             title=f"shipped beta-vae (beta={setting['beta']:g}, {training['steps']} steps)")
    print(f"   latent traversal: {picture}  (rows: latent dimensions, most informative first)")
    return model


if __name__ == "__main__":
    sys.exit(main())
