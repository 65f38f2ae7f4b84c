"""`make demo`: the shipped β-VAE first (its scores and traversal, in seconds), then a short run trained live.

1. Opens the reference β-VAE shipped in exported_models/beta-vae (trained by the paper study, see
   docs/reproduction.md), prints the scores its model card records and draws its latent traversal.
2. Trains a short β-VAE run live on dSprites, scores it, draws its traversal and exports it.

One short run shows what training looks like, not what β buys: seeds move every score as much as β does. For
that, run a study (docs/studies.md). Runs on the procedural dSprites renderer unless $TFBETAVAE_DSPRITES
points to the real file. A few minutes on a 2-core CPU; pass --steps to change the budget.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tfbetavae import BetaVAE, dsprites, train  # noqa: E402
from tfbetavae.cli.train_command import print_summary  # noqa: E402
from tfbetavae.export import export_saved_model  # noqa: E402
from tfbetavae.metrics import beta_vae_score  # noqa: E402
from tfbetavae.reference import load_reference, reference_models  # noqa: E402
from tfbetavae.viz import save_reconstructions, save_traversal  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--beta", type=float, default=4.0)
    parser.add_argument("--run", default="runs/demo", help="run folder (replaced when it holds a finished run)")
    parser.add_argument("--export-dir", default="exported_models/demo")
    parser.add_argument("--num-eval", type=int, default=1000, help="points for the β-VAE score")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-shipped", action="store_true", help="do not show the shipped reference model first")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    data = dsprites()
    print(f"Data: {type(data).__name__} with factors {dict(zip(data.factor_names, data.factor_sizes))}")
    run = Path(args.run)
    if not args.skip_shipped:
        show_shipped(data, run, args.seed)
    print(f"\n== 2. A short run trained live: β={args.beta:g}, {args.steps} steps (the shipped one had "
          "10,000; one run shows what training looks like, not what β buys — see docs/studies.md)")
    if (run / "model.keras").exists():
        shutil.rmtree(run)  # a finished demo run: start a fresh one
    model = BetaVAE(latent_dim=10, beta=args.beta, seed=args.seed)
    start = time.time()
    history = train(model, data, steps=args.steps, batch_size=64, run_dir=run, steps_per_epoch=500,
                    seed=args.seed, extra_config={"data": "dsprites"})
    print_summary(history.history, run)
    print(f"Trained {args.steps} steps in {time.time() - start:.0f} s")

    print("\nβ-VAE disentanglement score (disentanglement_lib protocol, logistic regression on |z1 - z2|):")
    score = beta_vae_score(model, data, num_train=args.num_eval, num_eval=args.num_eval // 2, seed=args.seed + 1)
    chance = 1.0 / data.num_factors
    print(f"  train accuracy {score['train_accuracy']:.3f}, eval accuracy {score['eval_accuracy']:.3f} "
          f"(chance {chance:.3f}; {args.num_eval} train / {args.num_eval // 2} eval points)")

    images = data.sample(64, np.random.default_rng(args.seed + 2))[1]
    traversal = save_traversal(model, images, run / "traversal.png", scale=2,
                               title=f"beta={args.beta:g}, {args.steps} steps")
    reconstructions = save_reconstructions(model, images, run / "reconstructions.png", scale=2)
    print(f"\nLatent traversal picture: {traversal}\nReconstructions: {reconstructions}")

    export = export_saved_model(
        model, args.export_dir, scores={"beta_vae_" + k: v for k, v in score.items()},
        training_info={"data": type(data).__name__, "steps": args.steps, "run": str(run)},
    )
    print(f"SavedModel (encode/decode/reconstruct/sample signatures): {export}")
    print(f"  saved_model_cli show --dir {export} --all")
    return 0


def show_shipped(data, run: Path, seed: int) -> None:
    """Prints the shipped β-VAE's card and draws its traversal: what a trained model looks like, at once."""
    if "beta-vae" not in reference_models():
        print("(no shipped reference model in exported_models/beta-vae; skipping part 1)")
        return
    model = load_reference("beta-vae")
    training, scores = model.card["training"], model.card["scores"]
    setting = training["setting"]
    print(f"\n== 1. The shipped β-VAE: {model.path} — β={setting['beta']:g}, seed {training['seed']}, "
          f"{training['steps']} steps, Adam {setting['learning_rate']:g}")
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


if __name__ == "__main__":
    sys.exit(main())
