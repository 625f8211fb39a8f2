"""The scrape bench runs (on a tiny input), so that `make bench` cannot rot unnoticed."""

from __future__ import annotations

from bench.scrape import measure


def test_scrape_bench_measures_every_figure_on_a_tiny_input() -> None:
    out = measure(series=300, repeats=1, window=0.5)
    assert out["series"] == 300 and out["body_bytes"] > 300 * 20
    for key in ("ours_http_seconds", "ours_http_gzip_seconds", "on_loop_http_seconds", "ours_render_seconds"):
        assert out[key] > 0, key
    for server in ("ours", "on_loop"):
        healthy = out[f"{server}_healthy_during_scrapes"]
        assert healthy["requests"] >= 1 and healthy["scrapes"] >= 1 and healthy["p99"] > 0, server
    assert 0 < out["ours_gzip_body_bytes"] < out["body_bytes"]
