"""A study on images nobody labelled: a folder of PNGs (factors thrown away) -> `tfbetavae study` scores each β by
UDR over its seeds -> the report names the pick and its median seed's run -> `tfbetavae export` ships it.
The worked example of docs/choosing-beta-without-labels.md, at a tiny size."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from tfbetavae.cli import main


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """60 sprites at 32×32 written as PNG files: the factors that drew them are not kept anywhere."""
    from tfbetavae.data import ProceduralDSprites

    images = ProceduralDSprites().sample(60, np.random.default_rng(5))[1][:, ::2, ::2, 0]
    where = tmp_path_factory.mktemp("my_images")
    for index, image in enumerate(images):
        Image.fromarray((image * 255).astype(np.uint8), mode="L").save(where / f"{index:03d}.png")
    return where


def test_a_study_on_an_unlabelled_folder_picks_a_beta_by_udr_and_exports_it(folder, tmp_path, capsys):
    study = tmp_path / "study"
    assert main(["study", str(study), "--data", str(folder), "--betas", "1,8", "--seeds", "0,1,2", "--steps", "20",
                 "--latent-dim", "3", "--batch-size", "8", "--fast", "--metric-sizes", '{"udr": {"num_points": 100}}']) == 0
    rows = json.loads((study / "results.json").read_text())
    assert len(rows) == 6 and all(0.0 <= row["udr"] <= 1.0 and len(row["udr_pairs"]) == 2 for row in rows)
    assert all(row["reconstruction"] > 0 and "mig" not in row for row in rows)  # no factors: nothing supervised
    summary = (study / "summary.md").read_text()
    pick = re.search(r"\*\*UDR picks (β=\d+)\*\* at step 20 .*? run `([^`]+)`", summary)
    assert pick, summary
    picked = [row for row in rows if row["cell"] == pick.group(2)]
    assert picked and f"β={picked[0]['beta']:g}" == pick.group(1)
    exported = tmp_path / "exported"
    assert main(["export", "--run", str(study / "runs" / pick.group(2)), "--base-dir", str(exported)]) == 0
    assert (exported / "betavae" / "1" / "saved_model.pb").is_file()


def test_scores_that_need_factors_are_refused_on_unlabelled_data_before_training(folder, tmp_path, capsys):
    study = tmp_path / "refused"
    code = main(["study", str(study), "--data", str(folder), "--scores", "mig,udr", "--steps", "10", "--seeds", "0,1"])
    assert code == 2
    error = capsys.readouterr().err
    assert "has no known factors, and the scores ['mig'] need them" in error and "udr" in error
    assert not (study / "runs").exists()

