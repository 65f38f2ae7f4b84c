"""scripts/compare_objectives.py: a tiny end-to-end run (table, JSON, plot), the render cache and argument errors."""

import json

import numpy as np
import pytest

pytest.importorskip("tfbetavae.metrics")



@pytest.fixture(scope="module")
def compare(load_script):
    return load_script("compare_objectives")


def test_tiny_comparison_writes_table_json_and_plot(compare, tmp_path):
    argv = ["--steps", "3", "--batch-size", "16", "--num-train", "20", "--num-eval", "20", "--metric-batch-size", "8",
            "--recon-images", "32", "--out", str(tmp_path)]
    report = compare.main(argv)
    names = [r["model"] for r in report["results"]]
    assert names == list(compare.MODEL_NAMES)
    for result in report["results"]:
        assert 0.0 <= result["beta_vae_score"] <= 1.0 and 0.0 <= result["factor_vae_score"] <= 1.0
        assert 0.0 <= result["mig"] <= 1.0 and np.isfinite(result["reconstruction"]) and result["reconstruction"] > 0
    table = (tmp_path / compare.TABLE_FILE).read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 7 and "β-TCVAE" in table and "FactorVAE (γ=35)" in table and "β-VAE (β=16)" in table
    assert "DIP-VAE-I (λ_od=10, λ_d=100)" in table and "DIP-VAE-II (λ_od=10, λ_d=10)" in table
    assert "--steps 3" in table
    saved = json.loads((tmp_path / compare.JSON_FILE).read_text())
    assert saved["settings"]["steps"] == 3 and len(saved["results"]) == 7
    png = (tmp_path / compare.PLOT_FILE).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 300_000


def test_cached_renders_are_the_renders(compare, sprites):
    cached = compare.CachedRenders(sprites, max_images=50)
    rng = np.random.default_rng(0)
    factors = sprites.sample_factors(40, rng)
    first = cached.sample_observations_from_factors(factors, rng)
    mixed = np.concatenate([factors[:30], sprites.sample_factors(30, rng)])  # some cached, some new, cache fills up
    for batch in (factors, mixed):
        np.testing.assert_array_equal(cached.sample_observations_from_factors(batch, rng),
                                      sprites.sample_observations_from_factors(batch, rng))
    np.testing.assert_array_equal(first, sprites.sample_observations_from_factors(factors, rng))
    assert len(cached._store) == 50 and len(cached) == len(sprites)


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--metric-batch-size", "1"], ["--models", "vae"]])
def test_bad_arguments(compare, argv):
    with pytest.raises(SystemExit):
        compare.parse_args(argv)
