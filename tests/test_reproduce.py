"""scripts/reproduce_paper.py end to end at a tiny budget."""

import json

import pytest
from PIL import Image


@pytest.fixture(scope="module")
def reproduce(load_script):
    return load_script("reproduce_paper")


def test_tiny_budget_writes_the_table_with_both_models(reproduce, tmp_path, capsys):
    out = tmp_path / "repro"
    argv = ["--steps", "2", "--batch-size", "8", "--num-train", "20", "--num-eval", "20", "--pairs", "4",
            "--latent-dim", "3", "--out", str(out), "--quiet"]
    assert reproduce.main(argv) == 0
    printed = capsys.readouterr().out
    assert "training 2 steps" in printed and "MIG" in printed  # progress is printed

    table = (out / "results.md").read_text(encoding="utf-8")
    assert "| VAE | 1 |" in table and "| β-VAE | 4 |" in table
    assert "99.23" in table and "61.58" in table  # the paper's numbers beside ours
    assert "procedural" in table and "2 steps of batch 8" in table and "small budget" in table
    assert "--steps 2" in table  # the command that made it

    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [m["beta"] for m in results["models"]] == [1.0, 4.0]
    for row in results["models"]:
        for protocol in ("beta_vae_paper", "beta_vae_standard"):
            assert 0.0 <= row[protocol]["eval_accuracy"] <= 1.0 and 0.0 <= row[protocol]["train_accuracy"] <= 1.0
        assert 0.0 <= row["mig"] <= 1.0
        assert len(row["kl_per_dim"]) == 3 and 0 <= row["active_dims"] <= 3
    assert results["setup"]["procedural"] is True and results["setup"]["steps"] == 2

    picture = Image.open(out / "traversals.png")
    from tfbetavae import viz

    width, height = viz.picture_size(3, 10, (64, 64), header=True, title=True)
    assert picture.size == (2 * width + 16, height)


def test_bad_arguments_give_clear_errors(reproduce, tmp_path, capsys):
    with pytest.raises(SystemExit):
        reproduce.main(["--steps", "0"])
    assert "--steps: must be >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="does not exist"):
        reproduce.main(["--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "o")])
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit):
        reproduce.main(["--out", str(tmp_path / "file")])
    assert "not a folder" in capsys.readouterr().err
