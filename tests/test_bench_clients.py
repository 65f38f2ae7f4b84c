"""The benchmark's clients section: SavedModel and LiteRT encode, batch-1 latency and batch throughput, for one
client and for four at once; tiny repetition counts (the numbers themselves are never asserted)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "scripts" / "bench"


def bench_module(name: str):
    """scripts/bench/NAME.py, imported inside its package (scripts/ is not put on sys.path)."""
    if "bench" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench", PACKAGE / "__init__.py",
                                                      submodule_search_locations=[str(PACKAGE)])
        package = importlib.util.module_from_spec(spec)
        sys.modules["bench"] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"bench.{name}")


def test_clients_section_measures_both_clients_alone_and_concurrently():
    pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert is a dev dependency")
    clients_section, report = bench_module("clients"), bench_module("report")
    cfg = {**bench_module("config").QUICK, "latency_calls": 8, "serving_rounds": 1, "serving_batch": 8}
    model = bench_module("models").make_model("tf_function")
    clients = clients_section.bench_clients(cfg, model)
    assert clients["clients"] == clients_section.SERVING_CLIENTS == 4
    for name in ("saved_model", "litert"):
        for mode in ("one_client", "concurrent"):
            numbers = clients[name][mode]
            assert 0 < numbers["p50_ms_batch_1"] <= numbers["p99_ms_batch_1"], (name, mode)
            assert numbers["images_per_s_batch_8"] > 0, (name, mode)
        assert clients[name]["concurrent"]["latency_calls"] == 4 * max(2, 8 // 4)
    rows = report.client_rows(clients)
    assert len(rows) == 4 and rows[0].startswith("| SavedModel encode, batch 1, 4 clients | p50 ")
    assert any(row.startswith("| LiteRT encode, batch 8, 4 clients |") for row in rows)
