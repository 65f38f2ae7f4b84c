"""Every script in scripts/ runs through its ``main()`` on tiny inputs in a temporary folder, so a changed library
signature fails CI, not a user. Scripts a person runs once are run in their planning or dry-run mode (paper_study,
data_study: ``--plan``; ship_reference_models: ``--dry-run``, then a real export from a tiny study). Covered
elsewhere: bench.py (tests/test_bench.py), compare_objectives.py (tests/test_compare_objectives.py),
reproduce_paper.py (tests/test_reproduce.py)."""

import json
import re
import sys

import pytest

import tfbetavae
from tfbetavae.reference import load_reference

PNG = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- make demo
def test_demo_shows_the_shipped_model_then_trains_scores_draws_and_exports(load_script, tmp_path, capsys):
    demo = load_script("demo")
    run, export = tmp_path / "runs" / "demo", tmp_path / "exported" / "demo"
    argv = ["--steps", "20", "--num-eval", "40", "--mig-points", "200", "--run", str(run), "--export-dir", str(export)]
    assert demo.main(argv) == 0
    out = capsys.readouterr().out

    shipped = load_reference("beta-vae")  # the text comes from what ships, not from the script
    steps = shipped.card["training"]["steps"]
    assert f"The shipped β-VAE: {shipped.path} (version {shipped.version})" in out
    assert f"{steps:,} steps" in out and f"(the shipped β-VAE, version {shipped.version}, had {steps:,})" in out
    assert f"{'MIG':30s} {shipped.card['scores']['mig']:8.3f}" in out  # the scores its card records
    assert (tmp_path / "runs" / "shipped_traversal.png").read_bytes()[:8] == PNG

    assert "Estimated time: 2 s of training" in out  # printed before it starts: 20 steps at 0.117 s
    assert out.index("Estimated time") < out.index("Training summary")
    assert "20/20" in out and "Trained 20 steps" in out  # Keras' progress bar, then the run's summary
    assert (run / "model.keras").is_file() and (run / "history.csv").is_file()

    printed = float(re.search(r"MIG (\d\.\d{3}) \(before training (\d\.\d{3}); shipped model", out).group(1))
    assert re.search(r"β-VAE score \(standard protocol\): train accuracy \d\.\d{3}, eval accuracy \d\.\d{3}", out)
    for picture in ("traversal.png", "reconstructions.png"):
        assert (run / picture).read_bytes()[:8] == PNG and f"{run / picture}" in out

    assert (export / "1" / "saved_model.pb").is_file() and f"SavedModel (encode/decode/reconstruct/sample " \
        f"signatures): {export / '1'}" in out
    served = tfbetavae.load(export)
    assert served.latent_dim == 10 and served.card["scores"]["mig"] == pytest.approx(printed, abs=5e-4)
    assert served.card["scoring"]["metric_sizes"]["mig"]["num_train"] == 200
    assert "reopened with tfbetavae.load: latent_dim 10, codes within 0.0e+00" in out


def test_demo_arguments_are_checked(load_script, capsys):
    demo = load_script("demo")
    with pytest.raises(SystemExit):
        demo.parse_args(["--steps", "0"])
    assert "--steps: must be >= 1, got 0" in capsys.readouterr().err
    args = demo.parse_args([])
    assert (args.steps, args.learning_rate, args.beta) == (1000, 1e-4, 4.0)
    assert 100 <= args.steps * demo.SECONDS_PER_STEP <= 150  # the default budget: about two minutes of training


# --------------------------------------------------------------------------- the command wrappers
@pytest.fixture(scope="module")
def trained_run(load_script, tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    argv = ["--steps", "2", "--batch-size", "8", "--latent-dim", "2", "--precision", "float32", "--out", str(run)]
    assert load_script("train").main(argv) == 0
    return run


def test_train_script_writes_a_run(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["steps"] == 2 and (trained_run / "model.keras").is_file()
    assert tfbetavae.load(trained_run).latent_dim == 2


def test_evaluate_script_scores_the_run(load_script, trained_run, tmp_path):
    scores = tmp_path / "scores.json"
    argv = ["--model", str(trained_run), "--metrics", "mig", "--num-train", "40", "--json", str(scores)]
    assert load_script("evaluate").main(argv) == 0
    assert 0.0 <= json.loads(scores.read_text())["mig"] <= 1.0


def test_traverse_script_draws_the_run(load_script, trained_run, tmp_path):
    picture = tmp_path / "traversal.png"
    assert load_script("traverse").main(["--model", str(trained_run), "--out", str(picture), "--num-images", "8"]) == 0
    assert picture.read_bytes()[:8] == PNG


def test_export_script_exports_the_run(load_script, trained_run, tmp_path):
    argv = ["--run", str(trained_run), "--base-dir", str(tmp_path), "--name", "tiny"]
    assert load_script("export").main(argv) == 0
    assert (tmp_path / "tiny" / "1" / "saved_model.pb").is_file()
    assert tfbetavae.load(tmp_path / "tiny").latent_dim == 2


def test_tune_script_runs_a_search(load_script, tmp_path):
    folder = tmp_path / "search"
    argv = ["--betas", "4", "--trials", "1", "--steps", "2", "--batch-size", "8", "--latent-dim", "2",
            "--objective", "mig", "--num-train", "40", "--eval-images", "16", "--no-export", "--quiet",
            "--dir", str(folder)]
    assert load_script("tune").main(argv) == 0
    rows = json.loads((folder / "results.json").read_text())
    assert len(rows) == 1 and 0.0 <= rows[0]["objective"] <= 1.0


# --------------------------------------------------------------------------- studies: plans only
def test_paper_study_plan_prints_both_studies_and_writes_nothing(load_script, tmp_path, capsys):
    paper = load_script("paper_study")
    assert paper.main(["--out", str(tmp_path), "--plan"]) == 0
    out = capsys.readouterr().out
    runs = 3 * len(paper.PAPER_SEEDS)
    assert f"Study folder {tmp_path / 'paper'} (new)" in out and f"Study folder {tmp_path / 'defaults'} (new)" in out
    assert f"{runs} runs: 3 settings × {len(paper.PAPER_SEEDS)} seeds {paper.PAPER_SEEDS}" in out
    assert f"each {paper.PAPER_EVAL_STEPS[-1]:,} steps" in out and f"scored at steps {paper.PAPER_EVAL_STEPS}" in out
    assert "mig: num_train 10000" in out and "learning_rate=0.0005" in out  # the pinned sizes; the defaults study
    assert list(tmp_path.iterdir()) == []


def test_data_study_plan_prints_the_data_axis_and_writes_nothing(load_script, tmp_path, capsys):
    data_study = load_script("data_study")
    assert data_study.main(["--out", str(tmp_path), "--plan"]) == 0
    out = capsys.readouterr().out
    assert f"Study folder {tmp_path / 'data'} (new)" in out
    assert "12 runs: 2 settings × 3 seeds [0, 1, 2] × 2 data sets" in out and "dsprites × color-dsprites" in out
    assert f"scored at steps {data_study.EVAL_STEPS}" in out and "1 thread(s) each" in out
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- shipping reference models
@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    from tfbetavae.studies import study

    folder = tmp_path_factory.mktemp("study") / "paper"
    study(folder, betas=[1.0, 4.0], seeds=[0], eval_steps=[2], latent_dims=2, batch_size=8, scores=["mig"],
          metric_sizes={"mig": {"num_train": 50}}, fast=True, verbose=False)
    return folder


def test_ship_reference_models_dry_run_then_export(load_script, tiny_study, tmp_path, capsys):
    ship = load_script("ship_reference_models")
    out_dir = tmp_path / "exported_models"
    assert ship.main(["--study", str(tiny_study), "--out", str(out_dir), "--dry-run"]) == 0
    chosen = capsys.readouterr().out
    assert re.search(r"^vae: beta=1 seed 0 at step 2 \(mig \d\.\d{3}\): β=1, the seed whose mig is the median", chosen,
                     re.M)
    assert re.search(r"^beta-vae: beta=4 seed 0 at step 2 \(mig \d\.\d{3}\): the β > 1 with the highest median mig",
                     chosen, re.M)
    assert not out_dir.exists()  # a dry run exports nothing

    assert ship.main(["--study", str(tiny_study), "--out", str(out_dir), "--only", "beta-vae"]) == 0
    assert f"-> {out_dir / 'beta-vae' / '1'}" in capsys.readouterr().out
    model = tfbetavae.load(out_dir / "beta-vae")
    assert model.version == 1 and model.latent_dim == 2 and not (out_dir / "vae").exists()
    training = model.card["training"]
    assert training["setting"]["beta"] == 4.0 and training["steps"] == 2 and "mig" in model.card["scores"]


# --------------------------------------------------------------------------- precision parity
def test_precision_parity_trains_both_precisions_and_writes_its_report(load_script, tmp_path, capsys):
    parity = load_script("precision_parity")
    argv = ["--out", str(tmp_path / "runs"), "--docs", str(tmp_path), "--steps", "2", "--steps-per-epoch", "2",
            "--batch-size", "8", "--seeds", "0", "--score-train", "20", "--score-eval", "10", "--mig-points", "100",
            "--threads", "0"]
    results = parity.main(argv)
    assert results["complete"] and {(r["precision"], r["steps"]) for r in results["runs"]} == {
        ("float32", 2), ("bfloat16", 2)}
    assert "# Precision parity" in (tmp_path / "precision_parity.md").read_text()
    assert json.loads((tmp_path / "precision_parity.json").read_text())["settings"]["steps"] == 2
    capsys.readouterr()
    parity.main(argv)  # finished runs are skipped
    assert capsys.readouterr().out.count("done (skipped)") == 2


# --------------------------------------------------------------------------- the PyTorch baseline
def test_torch_baseline_arguments_need_no_torch(load_script, monkeypatch, capsys):
    baseline = load_script("torch_baseline")
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    assert baseline.parse_args(["--steps", "3", "--threads", "1"]).steps == 3
    with pytest.raises(SystemExit):
        baseline.parse_args(["--repeats", "0"])
    assert "must be >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="needs PyTorch"):
        baseline.main(["--steps", "1"])


def test_torch_baseline_measures_throughput(load_script, capsys):
    pytest.importorskip("torch")
    baseline = load_script("torch_baseline")
    assert baseline.main(["--steps", "1", "--repeats", "1", "--threads", "1"]) == 0
    assert re.search(r"torch 1 threads: median \d+ images/s", capsys.readouterr().out)
