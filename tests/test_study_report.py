"""The study report: summary numbers, honest rank-test statements, partial studies, the --fast banner,
pictures and bad input; the committed studies redraw from their results.json. No training."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tfbetavae import studies
from tfbetavae.cli import main
from tfbetavae.studies import reporting as report

ROOT = Path(__file__).resolve().parents[1]
COMMITTED_STUDIES = ("paper_study", "defaults_study")  # docs/<name>/: results.json and its report, no run folders

SETTINGS = {"capacity": None, "gamma": None, "capacity_steps": None, "learning_rate": 1e-4, "latent_dim": 10,
            "precision": "float32"}


def row(beta, seed, step, fast=False, objective="beta-vae", setting=None, **scores):
    """One result row as the study runner writes it."""
    setting = setting or f"beta={beta:g}"
    return {
        "cell": f"{setting} seed={seed}", "setting": setting, "seed": seed, "step": step,
        "objective": objective, "beta": beta, **SETTINGS,
        "wall_seconds": step / 10, "train_seconds": step / 12, "metric_seconds": step / 60, "fast": fast,
        **scores,
    }


def grid(values, step=1000, score="mig", **extra):
    """Rows from {β: [score per seed]}."""
    return [row(beta, seed, step, **{score: value}, **extra) for beta, seeds in values.items()
            for seed, value in enumerate(seeds)]


def by_setting(summary):
    return {entry["setting"]: entry for entry in summary}


def test_summary_median_min_max_and_order():
    rows = grid({10.0: [0.5, 0.1, 0.3, 0.7], 2.0: [0.2, 0.4, 0.3, 0.9], 1.0: [0.1, 0.1, 0.2, 0.3]})
    rows += [row(None, seed, 1000, objective="capacity", setting="capacity=25 gamma=1000", mig=0.05) for seed in range(4)]
    summary = report.summarize(rows)
    # β numerically (not "10" < "2"), capacity objective after β-VAE.
    assert [entry["setting"] for entry in summary] == ["beta=1", "beta=2", "beta=10", "capacity=25 gamma=1000"]
    mig = by_setting(summary)["beta=10"]["scores"]["mig"]
    assert mig == {"median": pytest.approx(0.4), "min": 0.1, "max": 0.7, "n": 4}
    assert by_setting(summary)["beta=2"]["scores"]["mig"]["median"] == pytest.approx(0.35)
    assert all(entry["n"] == 4 and entry["step"] == 1000 and not entry["notes"] for entry in summary)
    text = report.format_summary(summary)
    assert "0.400 (0.100–0.700)" in text and "β=10" in text and "MIG ↑" in text


def test_any_new_numeric_column_is_a_score():
    rows = grid({1.0: [0.1, 0.2]}, my_new_metric=3.5)
    assert "my_new_metric" in report.available_scores(rows)
    assert "wall_seconds" not in report.available_scores(rows) and "beta" not in report.available_scores(rows)
    assert "my_new_metric" in report.format_summary(report.summarize(rows))


def test_compare_claims_only_what_the_rank_test_supports():
    separated = grid({1.0: [0.01, 0.02, 0.03, 0.04, 0.05], 8.0: [0.11, 0.12, 0.13, 0.14, 0.15]})
    (claim,) = report.compare(separated, "mig")
    assert claim.startswith("β=8 > β=1 on MIG (p=0.0079, 5 vs 5 seeds at step 1000, two-sided Mann–Whitney U")
    assert "ranges do not overlap" in claim

    overlapping = grid({1.0: [0.01, 0.05, 0.09, 0.13, 0.17], 8.0: [0.03, 0.07, 0.11, 0.15, 0.19]})
    (spread,) = report.compare(overlapping, "mig")
    assert spread.startswith("β=8 vs β=1 on MIG: within seed spread (p=") and ">" not in spread
    assert "do not overlap" not in spread

    # Reconstruction: higher nats is worse, and the statement says so.
    worse = grid({1.0: [100, 101, 102, 103, 104], 8.0: [120, 121, 122, 123, 124]}, score="reconstruction")
    (statement,) = report.compare(worse, "reconstruction")
    assert statement.startswith("β=8 > β=1 on reconstruction") and "β=8 worse (lower is better)" in statement


def test_three_seeds_cannot_reach_the_level_and_the_statement_says_so():
    rows = grid({1.0: [0.01, 0.02, 0.03], 8.0: [0.2, 0.3, 0.4]})
    (statement,) = report.compare(rows, "mig")
    assert "3 vs 3 seeds cannot reach p < 0.05" in statement and "smallest possible p=0.10" in statement
    assert "need ≥ 4 per group" in statement and ">" not in statement and "no claim possible" in statement
    assert "ranges do not overlap (β=8 higher in every seed)" in statement
    # 4 vs 4 can: the smallest two-sided exact p is 2/70.
    (four,) = report.compare(grid({1.0: [0.01, 0.02, 0.03, 0.04], 8.0: [0.2, 0.3, 0.4, 0.5]}), "mig")
    assert four.startswith("β=8 > β=1 on MIG (p=0.029, 4 vs 4 seeds")
    # A stricter level needs more seeds.
    (strict,) = report.compare(grid({1.0: [1, 2, 3, 4], 8.0: [5, 6, 7, 8]}), "mig", level=0.01)
    assert "4 vs 4 seeds cannot reach p < 0.01" in strict and "need ≥ 5 per group" in strict


def test_ties_use_the_exact_distribution_not_the_normal_approximation():
    # With the tie at 4 the normal approximation gives p=0.042; the exact permutation p is 4/70=0.057.
    (statement,) = report.compare(grid({1.0: [1, 2, 3, 4], 8.0: [4, 6, 7, 8]}), "mig")
    assert "within seed spread (p=0.057" in statement


def test_compare_baseline_and_all_pairs():
    rows = grid({1.0: [0.1] * 2, 4.0: [0.2] * 2, 8.0: [0.3] * 2})
    assert [s.split(" on ")[0] for s in report.compare(rows, "mig")] == ["β=4 vs β=1", "β=8 vs β=1"]
    assert [s.split(" on ")[0] for s in report.compare(rows, "mig", baseline="β=4")] == ["β=1 vs β=4", "β=8 vs β=4"]
    assert len(report.compare(rows, "mig", all_pairs=True)) == 3
    with pytest.raises(ValueError, match="unknown baseline 'beta=3'"):
        report.compare(rows, "mig", baseline="beta=3")


def test_partial_study_says_what_is_missing(tmp_path):
    rows = []
    for beta in (1.0, 4.0):
        for seed in range(3):
            for step in (500, 1000):
                if beta == 4.0 and (seed == 2 and step == 1000 or seed == 1):
                    continue  # β=4: seed 2 stopped at step 500; seed 1 has not started
                rows.append(row(beta, seed, step, mig=0.1 * seed + step / 1e4, reconstruction=100.0 + seed))
    summary = by_setting(report.summarize(rows))
    assert summary["beta=1"]["step"] == 1000 and summary["beta=1"]["n"] == 3
    four = summary["beta=4"]
    assert four["step"] == 500 and four["n"] == 2 and four["seeds"] == [0, 2]
    assert "seed 1 has no results yet" in four["notes"]
    assert "1 of 3 seeds reached step 1000" in four["notes"]
    explicit = by_setting(report.summarize(rows, step=1000))["beta=4"]
    assert explicit["n"] == 1 and "1 of 3 seeds reached step 1000 (missing: seed 2)" in explicit["notes"]
    text = report.format_summary(report.summarize(rows))
    assert "2 of 3" in text and "β=4: seed 1 has no results yet; 2 of 3 seeds reached step 500" in text
    # Comparisons happen at the last step every run reached, and say so.
    assert all("step 500" in statement for statement in report.compare(rows, "mig"))

    paths = report.write_report(rows, tmp_path)
    markdown = paths["summary"].read_text()
    assert "## Summary at step 500, the last step every run reached" in markdown
    assert "1 of 3 seeds reached step 1000" in markdown and "### Step 1000" in markdown
    assert "3 of 3 seeds" not in markdown  # β=1 is complete: nothing to say about it
    assert "FAST" not in markdown


def test_fast_preset_is_visible_in_text_and_markdown(tmp_path):
    rows = grid({1.0: [0.1, 0.2], 4.0: [0.3, 0.4]}, fast=True, reconstruction=100.0)
    banner = "scored with the --fast preset"
    assert banner in report.format_summary(report.summarize(rows))
    assert banner in report.format_summary(report.summarize(rows), markdown=True)
    markdown = report.write_report(rows, tmp_path)["summary"].read_text()
    assert banner in markdown and "(4 of 4 runs)" in markdown
    assert banner not in report.format_summary(report.summarize(grid({1.0: [0.1, 0.2]})))


def _check_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.size[0] > 200 and image.size[1] > 200


def test_every_picture_is_a_valid_png_written_atomically(tmp_path):
    rng = np.random.default_rng(0)
    rows = [row(beta, seed, step, fast=True, mig=rng.uniform(), beta_vae_eval_accuracy=rng.uniform(),
                reconstruction=100 + 10 * beta + rng.normal())
            for beta in (1.0, 4.0, 16.0) for seed in range(3) for step in (500, 1000)]
    paths = report.write_report(rows, tmp_path / "report")
    assert set(paths) == {"summary", "scores_vs_setting", "tradeoff", "curves"}
    for name in ("scores_vs_setting", "tradeoff", "curves"):
        _check_png(paths[name])
        assert f"]({paths[name].name})" in paths["summary"].read_text()
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == sorted(p.name for p in paths.values())

    # Settings that differ in more than β: categorical x axis; one score as a string.
    mixed = rows + [row(None, seed, 1000, objective="capacity", setting="capacity=25 gamma=1000", mig=0.2,
                        reconstruction=150.0) for seed in range(3)]
    _check_png(report.plot_scores_vs_setting(mixed, "mig", tmp_path / "mixed.png"))
    _check_png(report.plot_tradeoff(mixed, tmp_path / "tradeoff.png", score="beta_vae_eval_accuracy", step=500))
    _check_png(report.plot_curves(mixed, "mig", tmp_path / "curves.png"))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="no results yet"):
        report.summarize([])
    with pytest.raises(ValueError, match="no results yet"):
        report.write_report([], "unused")
    rows = grid({1.0: [0.1, 0.2], 4.0: [0.3, 0.4]}, reconstruction=100.0)
    with pytest.raises(ValueError, match=r"unknown score 'migg' .*available: mig, reconstruction"):
        report.compare(rows, "migg")
    with pytest.raises(ValueError, match=r"unknown score 'sap' \(was not computed in this study\)"):
        report.plot_scores_vs_setting(rows, ["mig", "sap"], "unused.png")
    with pytest.raises(ValueError, match="unknown score 'nope'"):
        report.format_summary(report.summarize(rows), ["nope"])
    with pytest.raises(ValueError, match="no results at step 7; evaluated steps: 1000"):
        report.summarize(rows, step=7)
    with pytest.raises(ValueError, match="result row 0 has no 'seed'"):
        report.summarize([{"setting": "beta=1", "step": 5}])


def test_p_values_are_printed_on_the_right_side_of_the_level():
    assert report._format_p(0.0499, 0.05) == "0.0499"  # never "0.05" for a claim made at p < 0.05
    assert report._format_p(0.1, 0.05) == "0.10"
    assert report._format_p(0.0286, 0.05) == "0.029"


# ------------------------------------------------------------------------------ redrawn from results.json


@pytest.mark.parametrize("name", COMMITTED_STUDIES)
def test_a_committed_study_redraws_from_its_results_json(name, tmp_path, capsys):
    """``tfbetavae study --report`` on a copy of results.json alone (what the repository holds of a study, its run
    folders absent) writes the summary.md committed beside it, and its pictures, and says where they came from."""
    committed = ROOT / "docs" / name
    copy = tmp_path / name
    copy.mkdir()
    shutil.copy(committed / "results.json", copy)
    rows = json.loads((committed / "results.json").read_text())
    assert main(["study", "--report", str(copy)]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if "results.json" in line] == [
        f"{copy}: no run folders; redrawing the report from results.json ({len(rows)} result rows)"
    ]
    summary = (copy / "summary.md").read_text(encoding="utf-8")
    assert summary == (committed / "summary.md").read_text(encoding="utf-8")
    assert (copy / "results.json").read_bytes() == (committed / "results.json").read_bytes()  # left as it was
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", summary)
    assert pictures
    for picture in pictures:
        _check_png(copy / picture)
        with Image.open(copy / picture) as redrawn, Image.open(committed / picture) as kept:
            assert redrawn.size == kept.size, picture


def test_report_reads_results_json_only_without_run_folders(tmp_path, capsys):
    rows = grid({1.0: [0.1, 0.2], 4.0: [0.3, 0.4]}, reconstruction=100.0)
    (tmp_path / "results.json").write_text(json.dumps(rows))
    assert studies.report(tmp_path, verbose=False) == rows
    assert capsys.readouterr().out == ""
    assert (tmp_path / "summary.md").exists() and not (tmp_path / "results.csv").exists()

    (tmp_path / "results.json").write_text("[{")
    with pytest.raises(ValueError, match=r"results.json: not a results file \(invalid JSON"):
        studies.report(tmp_path)
    (tmp_path / "results.json").write_text('{"rows": []}')
    with pytest.raises(ValueError, match="results.json: not a results file .expected a list of result rows"):
        studies.report(tmp_path)
    (tmp_path / "results.json").write_text("[]")
    with pytest.raises(ValueError, match="no results yet"):
        studies.report(tmp_path)
    # With run folders present, they are the results (a study in progress), never results.json.
    (tmp_path / "results.json").write_text(json.dumps(rows))
    (tmp_path / "runs").mkdir()
    with pytest.raises(FileNotFoundError, match="study.json missing"):
        studies.report(tmp_path)


# ------------------------------------------------------------------------------------------- the data axis
def data_rows(values, score="mig", step=1000):
    """Rows of a study with a data axis, from {(data, β): [score per seed]}, as the runner writes them."""
    rows = []
    for (data, beta), seeds in values.items():
        for seed, value in enumerate(seeds):
            one = row(beta, seed, step, setting=f"data={data} beta={beta:g}", **{score: value}, reconstruction=50.0)
            rows.append({**one, "data": data, "protocol": "library", "metric_sizes": {"mig": {"num_train": 10000}},
                         "held_out_images": 512, "eval_seed": 12345})
    return rows


def test_data_sets_are_compared_like_settings_within_and_across(tmp_path):
    rows = data_rows({("dsprites", 1.0): [0.1, 0.2, 0.15, 0.12], ("dsprites", 4.0): [0.3, 0.4, 0.35, 0.32],
                      ("color-dsprites", 1.0): [0.5, 0.6, 0.55, 0.52], ("color-dsprites", 4.0): [0.1, 0.2, 0.1, 0.3]})
    summary = report.summarize(rows)
    # The rows' own data order (the study's), then β within each data set.
    assert [entry["setting"] for entry in summary] == [
        "data=dsprites beta=1", "data=dsprites beta=4", "data=color-dsprites beta=1", "data=color-dsprites beta=4"]
    assert summary[2]["data"] == "color-dsprites" and summary[2]["scores"]["mig"]["median"] == pytest.approx(0.535)
    assert "held_out_images" not in summary[0]["scores"] and "eval_seed" not in report.available_scores(rows)
    pairs = [re.match(r"(.+?) (?:vs|>|<) (.+?) on ", s).groups() for s in report.compare(rows, "mig")]
    assert pairs == [("data=dsprites β=4", "data=dsprites β=1"), ("data=color-dsprites β=4", "data=color-dsprites β=1"),
                     ("data=color-dsprites β=1", "data=dsprites β=1"), ("data=color-dsprites β=4", "data=dsprites β=4")]
    assert report.compare(rows, "mig")[2].startswith("data=color-dsprites β=1 > data=dsprites β=1 on MIG (p=0.029")
    assert len(report.compare(rows, "mig", baseline="data=dsprites β=1")) == 3  # an explicit baseline as before
    report.write_report(rows, tmp_path)
    text = (tmp_path / "summary.md").read_text()
    assert "Varied: data ∈ {dsprites, color-dsprites}; beta ∈ {1, 4}." in text
    assert "## Comparisons within each data set and between data sets at the same setting" in text
    assert "Scored under the library metric protocol (see docs/metrics.md) with metric sizes: mig num_train 10,000" in text


def test_one_seed_per_setting_with_ties_is_no_claim_not_a_crash():
    rows = data_rows({("dsprites", 1.0): [0.0], ("color-dsprites", 1.0): [0.0]})
    (statement,) = report.compare(rows, "mig")
    assert "no claim possible — 1 vs 1 seeds" in statement
