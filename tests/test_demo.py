"""`costbot demo`: the demo organisation goes through the real ingest (totals to the cent
against the generated FOCUS files), and its preview opens in a browser with every chart."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
import sqlite_utils
from browser import images_loaded

from bot.demo import run_demo

TODAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-out")
    summary = run_demo(out, today=TODAY)
    return out, summary


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_demo_store_matches_its_focus_files_to_the_cent(demo):
    out, _ = demo
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for path in sorted((out / "data").glob("*.csv")):
        if path.name == "business_metrics.csv":
            continue
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                key = (row["ProviderName"], row["ChargePeriodStart"][:7])
                expected[key] += Decimal(row["EffectiveCost"])
    db = sqlite_utils.Database(out / "costbot-demo.db")
    stored = {
        (provider, month): Decimal(micros) / 1_000_000
        for provider, month, micros in db.execute(
            "SELECT provider, substr(date, 1, 7), sum(effective_micros)"
            " FROM daily_cost GROUP BY 1, 2"
        )
    }
    assert len(expected) == 3 * 13  # three clouds, thirteen months
    assert {k: cents(v) for k, v in stored.items()} == {k: cents(v) for k, v in expected.items()}
    last_day = db.execute("SELECT max(date) FROM daily_cost").fetchone()[0]
    assert last_day == "2026-11-26"  # ends yesterday
    assert db["business_metrics"].count > 0


def test_demo_summary_and_preview(demo):
    out, summary = demo
    assert f"Preview: {out / 'index.html'}" in summary
    assert "Nov 1, 2025 – Nov 26, 2026" in summary
    page = (out / "index.html").read_text(encoding="utf-8")
    for command in ("/cost team payments", "/cost top services", "/cost help", "Did you mean"):
        assert command in page
    assert "$" in page and "Forecast for Nov 30, 2026" in page


@pytest.mark.slow
def test_demo_preview_charts_load_in_a_browser(demo, tmp_path):
    out, _ = demo
    loaded, total = images_loaded(out / "index.html", tmp_path / "profile")
    assert total >= 7  # one chart per answer that has one
    assert loaded == total
