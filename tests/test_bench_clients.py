"""scripts/bench.py's clients section: SavedModel and LiteRT encode, batch-1 latency and batch throughput, for one
client and for four at once; tiny repetition counts (the numbers themselves are never asserted)."""

from __future__ import annotations

import pytest


def test_clients_section_measures_both_clients_alone_and_concurrently(load_script):
    pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert is a dev dependency")
    bench = load_script("bench")
    cfg = {**bench.QUICK, "latency_calls": 8, "serving_rounds": 1, "serving_batch": 8}
    model = bench.make_model("tf_function")
    clients = bench.bench_clients(cfg, model)
    assert clients["clients"] == bench.SERVING_CLIENTS == 4
    for name in ("saved_model", "litert"):
        for mode in ("one_client", "concurrent"):
            numbers = clients[name][mode]
            assert 0 < numbers["p50_ms_batch_1"] <= numbers["p99_ms_batch_1"], (name, mode)
            assert numbers["images_per_s_batch_8"] > 0, (name, mode)
        assert clients[name]["concurrent"]["latency_calls"] == 4 * max(2, 8 // 4)
    rows = bench.client_rows(clients)
    assert len(rows) == 4 and rows[0].startswith("| SavedModel encode, batch 1, 4 clients | p50 ")
    assert any(row.startswith("| LiteRT encode, batch 8, 4 clients |") for row in rows)
