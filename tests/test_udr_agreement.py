"""scripts/udr_agreement.py end to end on a tiny finished study: which runs it uses (and why not the others), its
outputs, and that handing UDR only images (``--hide-factors``) gives the scores it gives from the data set itself.

The study is real but tiny (2 β × 2 seeds, 40 steps of the small MLP networks of tests/study_process.py, so the
codes carry information above UDR's KL threshold; the standard networks need far more steps to leave it)."""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from study_process import small_networks  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
POINTS = 300


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory):
    from tfbetavae.studies import study

    folder = tmp_path_factory.mktemp("udr") / "tiny"
    study(folder, betas=[1.0, 4.0], seeds=[0, 1], eval_steps=[40], latent_dims=3, batch_size=16,
          learning_rates=1e-3, scores=["beta_vae", "mig"],
          metric_sizes={"beta_vae": {"num_train": 20, "num_eval": 10}, "mig": {"num_train": 100}}, fast=True,
          verbose=False, networks=small_networks)
    return folder


@pytest.fixture(scope="module")
def both_ways(finished_study, tmp_path_factory, load_script):
    """The script's report from the data set, and with --hide-factors, and the lines each printed."""
    import contextlib
    import io

    script = load_script("udr_agreement")
    out = tmp_path_factory.mktemp("udr_out")
    reports = {}
    for name, extra in (("data", []), ("images", ["--hide-factors"])):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            argv = ["--study", str(finished_study), "--out", str(out / name), "--num-points", str(POINTS), *extra]
            assert script.main(argv) == 0
        reports[name] = (json.loads((out / name / "udr_agreement.json").read_text()), printed.getvalue(), out / name)
    return reports


def _spearman(x, y):
    """Pearson correlation of average ranks, by hand (no scipy): what spearmanr must give."""
    def ranks(values):
        values = np.asarray(values, float)
        order = np.argsort(values, kind="stable")
        ranked = np.empty(len(values))
        ranked[order] = np.arange(1, len(values) + 1)
        for value in np.unique(values):  # ties share their mean rank
            ranked[values == value] = ranked[values == value].mean()
        return ranked

    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def test_dry_run_lists_the_runs_and_says_why_others_are_left_out(finished_study, load_script, tmp_path, capsys):
    script = load_script("udr_agreement")
    assert script.main(["--study", str(finished_study), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert "dsprites: 4 of 4 planned runs used" in listed and listed.count("  use  ") == 4
    assert not (tmp_path / "out").exists()  # a dry run writes nothing

    copy = tmp_path / "partial"  # one run still training, so its setting has 1 finished run; one model not kept
    shutil.copytree(finished_study, copy)
    training = copy / "runs" / "beta-vae_beta=4_learning_rate=0.001_latent_dim=3_seed=1"
    (training / "model.keras").unlink()
    scores = json.loads((training / "study_scores.json").read_text())
    (training / "study_scores.json").write_text(json.dumps([{**scores[0], "step": 20}]))
    (copy / "runs" / "beta-vae_beta=1_learning_rate=0.001_latent_dim=3_seed=0" / "model.keras").unlink()
    assert script.main(["--study", str(copy), "--plan"]) == 0
    listed = capsys.readouterr().out
    assert "dsprites: 0 of 4 planned runs used" in listed
    assert "skip beta=4 seed 1: no model.keras (training unfinished: scored up to step 20 of 40)" in listed
    assert "skip beta=1 seed 0: no model.keras (scored at the last step, but the model was not kept)" in listed
    assert "skip beta=4 seed 0: the only finished run of its setting (UDR compares 2 or more seeds)" in listed
    assert "skip beta=1 seed 1: the only finished run of its setting (UDR compares 2 or more seeds)" in listed
    with pytest.raises(SystemExit, match="no finished runs to compare"):
        script.main(["--study", str(copy), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_outputs_hold_every_part(both_ways):
    report, printed, folder = both_ways["images"]
    assert {"command", "study", "step", "num_points", "seed", "hide_factors", "images_given", "made_with",
            "analyses", "cpu", "rank_correlation"} <= set(report)
    assert report["step"] == 40 and report["num_points"] == POINTS and report["hide_factors"]
    analysis = report["analyses"][0]
    assert {"data", "planned_runs", "runs_used", "runs_skipped", "images_sha256", "agreement", "udr"} <= set(analysis)
    assert analysis["data"] == "dsprites" and len(analysis["runs_used"]) == 4 and analysis["runs_skipped"] == []
    found = analysis["agreement"]
    assert found["supervised_scores"] == ["mig", "beta_vae_eval_accuracy"]  # what this study scored, no more
    assert set(found["rank_correlations"]) == {"udr_lasso", "udr_spearman"}
    assert set(report["made_with"]["dsprites"]) == {"lasso", "spearman"}
    for model in found["models"]:
        assert {"udr_lasso", "udr_spearman", "udr_a2a_lasso", "mig", "beta_vae_eval_accuracy", "seed"} <= set(model)
        assert model["informative_dims_lasso"]  # trained codes: UDR compares real dimensions, not empty ones
    assert any(model["udr_lasso"] > 0 for model in found["models"])

    for key, block in found["rank_correlations"].items():  # the correlations are of the per-model values shown
        for score, entry in block.items():
            x, y = [m[key] for m in found["models"]], [m[score] for m in found["models"]]
            if entry["rho"] is not None:
                assert entry["rho"] == pytest.approx(_spearman(x, y), abs=1e-12) and 0 <= entry["p"] <= 1
    for key, choice in found["choices"].items():  # the pick is the setting with the highest median over seeds
        medians = {s: statistics.median(m[key] for m in found["models"] if m["setting"] == s)
                   for s in ("beta=1", "beta=4")}
        assert choice["medians"] == pytest.approx(medians)
        assert choice["picks"] == [s for s, v in medians.items() if v == max(medians.values())]
    for entry in found["per_setting"].values():  # the script's median and range are UDR's own
        library = entry["udr_lasso"]["library"]
        assert (entry["udr_lasso"]["median"], entry["udr_lasso"]["min"], entry["udr_lasso"]["max"]) == pytest.approx(
            (library["udr"], library["min"], library["max"]))

    assert "UDR (lasso): encoded 4/4 models × 300 images" in printed  # progress lines while it encodes
    text = (folder / "udr_agreement.md").read_text()
    assert "**Coverage: 4 of the 4 models the study plans.**" in text and "| UDR (Lasso) |" in text
    assert "What this cannot show" in text and "--hide-factors" in text
    assert (folder / "udr_vs_mig.png").read_bytes()[:8] == PNG


def test_hide_factors_gives_the_same_udr(both_ways):
    """UDR never sees factors either way: from the data set it draws images and drops them; with --hide-factors it
    gets the same images alone, so every score is the same."""
    (from_data, _, _), (from_images, _, _) = both_ways["data"], both_ways["images"]
    a, b = from_data["analyses"][0], from_images["analyses"][0]
    assert a["images_sha256"] == b["images_sha256"]
    assert a["udr"]["lasso"]["made_with"]["data"] == "ProceduralDSprites"
    assert "Dataset" in b["udr"]["lasso"]["made_with"]["data"]  # a tf.data.Dataset of images: nothing else in it
    for correlation in ("lasso", "spearman"):
        pair_a = np.array(a["udr"][correlation]["pairwise"], dtype=float)
        pair_b = np.array(b["udr"][correlation]["pairwise"], dtype=float)
        np.testing.assert_allclose(pair_b, pair_a, atol=1e-9, rtol=0)
        for model_a, model_b in zip(a["agreement"]["models"], b["agreement"]["models"]):
            assert model_b[f"udr_{correlation}"] == pytest.approx(model_a[f"udr_{correlation}"], abs=1e-9)
    for key, choice in a["agreement"]["choices"].items():
        assert b["agreement"]["choices"][key]["picks"] == choice["picks"]
        assert b["agreement"]["choices"][key]["medians"] == pytest.approx(choice["medians"], abs=1e-9)
