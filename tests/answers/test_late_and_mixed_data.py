"""`/cost` on a store shaped like real bills: two billing accounts, one billed in USD and one
in EUR, whose data ends three days before "today" and starts in the middle of last year.
Every amount is checked against an independent Decimal sum of the raw FOCUS rows."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from focus_factory import amount, make_charges, money_text, write_focus_csv

from bot.answers.cost import answer_cost
from bot.cli import main
from bot.config import parse_config
from bot.render.cost import summary_figure
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store

TODAY = date(2026, 11, 29)
LAST_DAY = date(2026, 11, 26)  # three days of export lag
FIRST_DAY = date(2025, 7, 15)
EUR_FIRST_DAY = date(2026, 9, 1)
BUDGET = Decimal(20000)  # payments' monthly budget, in the config's currency (USD)
CONFIG = parse_config(
    {"teams": [{"name": "payments", "monthly_budget": 20000}, {"name": "search"}]}
)
EUR_LINES = (
    ("payments", "Amazon Elastic Compute Cloud", "444444444444"),
    ("search", "Amazon Simple Storage Service", "444444444444"),
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("late-mixed")
    usd = make_charges(FIRST_DAY, LAST_DAY)
    eur = make_charges(
        EUR_FIRST_DAY,
        LAST_DAY,
        seed=2,
        lines=EUR_LINES,
        currency="EUR",
        billing_account="555555555555",
    )
    files = [
        str(write_focus_csv(folder / "usd.csv", usd)),
        str(write_focus_csv(folder / "eur.csv", eur)),
    ]
    db_path = folder / "costbot.db"
    ingest_focus(files, CONFIG, db_path)
    return usd + eur, db_path


def ask(store, text, today=TODAY, with_chart=False):
    db = open_store(store[1])
    try:
        return answer_cost(text, db=db, config=CONFIG, today=today, with_chart=with_chart)
    finally:
        db.close()


def all_text(payload) -> str:
    return json.dumps(payload, ensure_ascii=False)


def change_text(current: Decimal, previous: Decimal, currency: str = "USD") -> str:
    """The change a person computes from the two totals shown."""
    delta = current - previous
    sign = "+" if delta >= 0 else "-"
    pct = (abs(delta) * 100 / abs(previous)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{sign}{money_text(abs(delta), currency)} ({sign}{pct}%)"


def test_a_month_in_progress_ends_at_the_last_day_with_data_and_compares_as_many_days(store):
    charges = store[0]
    text = all_text(ask(store, "team payments 2026-11").payload)
    nov = (date(2026, 11, 1), LAST_DAY)
    oct_ = (date(2026, 10, 1), date(2026, 10, 26))
    assert "Nov 1 – Nov 26, 2026" in text and "Nov 30" not in text.split("Forecast")[0]
    assert "Oct 1 – Oct 26, 2026" in text and "Oct 31" not in text
    for currency in ("USD", "EUR"):
        current = amount(charges, *nov, team="payments", currency=currency)
        previous = amount(charges, *oct_, team="payments", currency=currency)
        assert money_text(current, currency) in text
        assert money_text(previous, currency) in text
        # The change shown is the difference of the two totals shown, to the cent.
        assert change_text(current, previous, currency) in text


def test_budget_burn_counts_the_days_with_data_and_only_the_budget_currency(store):
    charges = store[0]
    text = all_text(ask(store, "team payments 2026-11").payload)
    spent = amount(charges, date(2026, 11, 1), LAST_DAY, team="payments", currency="USD")
    used = (spent * 100 / BUDGET).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    assert f"{money_text(spent)} of $20,000.00: {used}% used" in text
    assert "87% of the month gone (26 of 30 days with data)" in text  # 26/30, not 29/30
    # The forecast starts from the last day with data, not from yesterday.
    assert "Forecast for Nov 30, 2026" in text and "4 days left" in text
    assert "average of Nov 20 – Nov 26, 2026" in text
    window = amount(charges, date(2026, 11, 20), LAST_DAY, team="payments", currency="USD")
    per_day = (window / 7).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert f"{money_text(per_day)}/day" in text


def test_a_budget_in_euros_is_set_against_the_euro_costs_only(store):
    charges = store[0]
    config = parse_config(
        {"currency": "eur", "teams": [{"name": "payments", "monthly_budget": "5000"}]}
    )
    db = open_store(store[1])
    try:
        text = all_text(
            answer_cost("team payments 2026-11", db=db, config=config, today=TODAY).payload
        )
    finally:
        db.close()
    spent = amount(charges, date(2026, 11, 1), LAST_DAY, team="payments", currency="EUR")
    used = (spent * 100 / 5000).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    assert f"{money_text(spent, 'EUR')} of EUR 5,000.00: {used}% used" in text
    assert "$5,000.00" not in text and text.count("Budget (November 2026)") == 1


def test_export_lag_never_counts_missing_days_as_zero(store):
    on_time = ask(store, "team payments", today=LAST_DAY + timedelta(days=1)).payload
    late = ask(store, "team payments", today=TODAY).payload
    assert late["blocks"][1:] == on_time["blocks"][1:] and late["text"] == on_time["text"]
    assert "Nov 1 – Nov 26, 2026" in late["text"]
    week = all_text(ask(store, "top teams 7d").payload)
    assert "Nov 20 – Nov 26, 2026" in week and "Nov 13 – Nov 19, 2026" in week


@pytest.mark.parametrize("text", ["team payments ytd", "top services 400d", "top teams ytd"])
def test_a_comparison_before_the_first_stored_day_says_so(store, text):
    payload = ask(store, text).payload
    shown = all_text(payload)
    assert "no comparison: the store starts Jul 15, 2025" in shown
    assert "no comparison: the store starts Jul 15, 2025" in payload["text"]
    assert "%" not in shown and "new this period" not in shown and " vs " not in shown


def test_a_rolling_window_ends_at_the_last_day_with_data_with_exact_totals(store):
    charges = store[0]
    text = all_text(ask(store, "top services 400d").payload)
    window = (date(2025, 10, 23), LAST_DAY)  # 400 days through Nov 26, not through Nov 28
    assert "Last 400 days" in text and "Oct 23, 2025 – Nov 26, 2026" in text
    assert money_text(amount(charges, *window, currency="USD")) in text
    assert money_text(amount(charges, *window, currency="EUR"), "EUR") in text


def test_rankings_never_add_currencies_together(store):
    charges = store[0]
    reply = ask(store, "top teams 2026-10")
    text = all_text(reply.payload)
    october = (date(2026, 10, 1), date(2026, 10, 31))
    usd = amount(charges, *october, currency="USD")
    eur = amount(charges, *october, currency="EUR")
    assert money_text(usd) in text and money_text(eur, "EUR") in text
    assert money_text(usd) in reply.text and money_text(eur, "EUR") in reply.text
    assert money_text(usd + eur) not in text and money_text(usd + eur, "EUR") not in text
    for team in ("payments", "search"):
        for currency in ("USD", "EUR"):
            assert (
                money_text(amount(charges, *october, team=team, currency=currency), currency)
                in text
            )
    # A whole month compares with the whole previous month (EUR billing started Sep 1).
    sep_eur = amount(charges, date(2026, 9, 1), date(2026, 9, 30), currency="EUR")
    assert change_text(eur, sep_eur, "EUR") in text


def test_the_chart_shows_one_currency_with_weekday_aligned_comparison(store):
    reply = ask(store, "team payments 2026-11", with_chart=True)
    alt = reply.chart.alt_text
    assert "Amounts in USD only; EUR Nov 1 – Nov 26, 2026 not shown" in alt
    # Nov 1, 2026 is a Sunday and Oct 1 a Thursday: Oct 4 (a Sunday) is drawn on Nov 1.
    assert "grey line: the previous period (Oct 1 – Oct 26, 2026), drawn 3 days earlier" in alt
    per_day = (BUDGET / 30).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert (
        f"dashed red line: the November 2026 budget spread evenly, {money_text(per_day)}/day" in alt
    )
    assert "previous period" not in alt.split("dashed red line")[1]


def test_chart_bars_are_the_daily_amounts_of_the_largest_currency(store):
    from bot.analytics.cost_report import summarise
    from bot.periods import parse_period
    from bot.store.queries import Scope

    charges = store[0]
    db = open_store(store[1])
    try:
        summary = summarise(
            db,
            subject_kind="team",
            subject="payments",
            scope=Scope(team="payments"),
            period=parse_period("2026-11", TODAY),
            breakdown_by="service",
            metric="effective",
        )
    finally:
        db.close()
    assert summary.currency == "USD" and [o.currency for o in summary.other_currencies] == ["EUR"]
    axes = summary_figure(summary).axes[0]
    bars = axes.collections[0]
    heights = [max(abs(y) for _, y in path.vertices) for path in bars.get_paths()]
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(26)]
    expected = [amount(charges, d, d, team="payments", currency="USD") for d in days]
    assert [
        Decimal(h).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for h in heights
    ] == expected
    assert axes.get_ylim()[0] == 0


def test_costbot_ask_json_shows_each_currency(store, monkeypatch, capsys, tmp_path):
    charges, db_path = store
    config_path = tmp_path / "costbot.yml"
    config_path.write_text("teams:\n  - name: payments\n    monthly_budget: 20000\n")
    monkeypatch.setenv("COSTBOT_DB", str(db_path))
    monkeypatch.setenv("COSTBOT_CONFIG", str(config_path))
    assert main(["ask", "--json", "--today", TODAY.isoformat(), "/cost team payments"]) == 0
    payload = json.loads(capsys.readouterr().out)
    nov = (date(2026, 11, 1), LAST_DAY)
    for currency in ("USD", "EUR"):
        total = amount(charges, *nov, team="payments", currency=currency)
        assert money_text(total, currency) in payload["text"]
    assert "(billed in USD)" in all_text(payload) and "Also billed in EUR" in all_text(payload)
