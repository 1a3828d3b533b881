"""`/unitcost` answers: the figures a user reads (unit cost to three significant figures, cost
to the cent, volume, dates, change, gaps, reference range) against independent sums; bad
input as a one-line ephemeral notice; escaping; `costbot ask --json`; the demo preview."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from unit_cost_data import (
    CONFIG,
    CONFIG_DATA,
    COST_END,
    COST_START,
    EC2,
    NO_VOLUME,
    build,
    cents_text,
    cost_of,
    days,
    exact,
    load_metrics,
    three_figures,
    volume_days,
    volume_of,
)

from bot.answers.unitcost import answer_unitcost, preview_unitcost
from bot.config import parse_config
from bot.store import open_reader

TODAY = date(2026, 12, 1)  # "last-month" and "mtd" of Nov 30 are November


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build(tmp_path_factory.mktemp("unitcost-answers"))


@pytest.fixture
def ask(store):
    db = open_reader(store.db_path)

    def answer(text, config=CONFIG):
        return answer_unitcost(text, db=db, config=config, today=TODAY)

    yield answer
    db.close()


def counted(store, start, end, metric="api_requests", scope="all"):
    with_volume = volume_days(store, metric, scope)
    return [d for d in days(start, end) if COST_START <= d <= COST_END and d in with_volume]


def everything(reply):
    return reply.payload["text"] + json.dumps(reply.payload["blocks"], ensure_ascii=False)


def test_one_metric_shows_unit_cost_cost_volume_dates_change_and_gaps(store, ask):
    reply = ask("api_requests last-month")
    assert not reply.is_error and reply.chart is not None
    nov = counted(store, date(2026, 11, 1), date(2026, 11, 30))
    cost = cost_of(store, nov)
    volume = volume_of(store, "api_requests", "all", nov)
    unit = exact(cost, volume)
    text = reply.payload["text"]
    # The figures are in the fallback text too, where `costbot ask --json` readers find them.
    assert f"{three_figures(unit)} per api request" in text
    assert f"{cents_text(cost)} of all cloud cost" in text
    assert f"{int(volume):,} api_requests" in text
    assert "Nov 1 – Nov 14, 2026" in text and "(9 days with both)" in text
    october = counted(store, date(2026, 10, 1), date(2026, 10, 14))
    before = exact(cost_of(store, october), volume_of(store, "api_requests", "all", october))
    shown = re.search(r"([+-][0-9.]+)% vs Oct 1 – Oct 14, 2026", text)
    assert shown and abs(Fraction(shown.group(1)) - (unit - before) / before * 100) <= Fraction(
        1, 20
    )
    blocks = everything(reply)
    gap_cost = cents_text(cost_of(store, list(NO_VOLUME)))
    assert (
        f"3 days with cost but no api_requests were left out ({gap_cost}): Nov 4 – Nov 6, 2026"
        in blocks
    )
    assert "2 days with api_requests but no cost were left out" in blocks
    assert "Nov 13 – Nov 14, 2026" in blocks
    assert "Reference: API businesses typically spend $0.001–$0.01 per call" in blocks
    assert reply.chart.png.startswith(b"\x89PNG") and "weekly" in reply.chart.alt_text


def test_team_scope_and_a_configured_service_definition(store, ask):
    reply = ask("api_requests payments last-month")
    nov = counted(store, date(2026, 11, 1), date(2026, 11, 30), scope="payments")
    cost = cost_of(store, nov, team="payments")
    volume = volume_of(store, "api_requests", "payments", nov)
    assert f"{three_figures(exact(cost, volume))} per api request" in reply.text
    assert f"{cents_text(cost)} of payments" in reply.text
    assert "left out" not in everything(reply)

    reply = ask("ec2_per_request last-month")
    nov = counted(store, date(2026, 11, 1), date(2026, 11, 30))
    cost = cost_of(store, nov, service=EC2)
    volume = volume_of(store, "api_requests", "all", nov)
    assert f"{three_figures(exact(cost, volume))} per api request" in reply.text
    assert f"{cents_text(cost)} of service {EC2}" in reply.text


def test_revenue_share_in_percent(store, ask):
    reply = ask("cloud_share_of_revenue last-month")
    nov = counted(store, date(2026, 11, 1), date(2026, 11, 30), metric="revenue")
    share = exact(cost_of(store, nov), volume_of(store, "revenue", "all", nov)) * 100
    assert f"{round(float(share), 1)}% of revenue" in reply.text  # 10% to 100%: 3 figures
    assert "SaaS companies typically spend 15–25% of revenue" in everything(reply)


def test_bare_unitcost_lists_every_unit_metric_month_to_date(store, ask):
    reply = ask("")
    assert not reply.is_error and reply.chart is None
    text = everything(reply)
    for name in (
        "cost_per_api_request",
        "ec2_per_request",
        "cloud_share_of_revenue",
        "cost_per_api_requests",
    ):
        assert f"`{name}`" in text
    nov = counted(store, date(2026, 11, 1), date(2026, 11, 30))
    unit = exact(cost_of(store, nov), volume_of(store, "api_requests", "all", nov))
    assert f"cost_per_api_requests {three_figures(unit)} per api request" in reply.text
    assert "Month to date" in text and "Nov 1 – Nov 14, 2026" in text


def test_a_team_alone_lists_the_metrics_with_values_for_it(ask):
    reply = ask("payments")
    assert not reply.is_error
    assert "cost_per_api_requests" in reply.text and "revenue" not in reply.text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("widgets", "I don't know the unit metric or team 'widgets'. Unit metrics: "),
        ("api_requests nobody", "I don't know the team 'nobody'. api_requests has values for:"),
        ("api_requests 2026-13", "'2026-13' is not a month"),
        ("api_requests 2031-01", "is in the future"),
        ("cost_per", "'cost_per' could mean: cost_per_api_request, cost_per_api_requests"),
        ("revenue payments", "revenue has no values for payments"),
        ("cost_per_api_request payments", "it takes no team"),
    ],
)
def test_bad_input_is_a_one_line_ephemeral_notice(ask, text, says):
    reply = ask(text)
    assert reply.is_error and reply.chart is None
    assert reply.payload["response_type"] == "ephemeral"
    assert says in reply.text and "\n" not in reply.text


def test_no_metrics_loaded_says_how_to_load_them(tmp_path):
    from focus_rows import focus_row, write_rows

    from bot.sources.focus_ingest import ingest_focus

    path = write_rows(tmp_path / "f.csv", [focus_row(date(2026, 11, 1), "1.00")])
    ingest_focus([str(path)], CONFIG, tmp_path / "c.db")
    db = open_reader(tmp_path / "c.db")
    try:
        reply = answer_unitcost("", db=db, config=CONFIG, today=TODAY)
    finally:
        db.close()
    assert reply.is_error and "costbot ingest metrics" in reply.text


def test_names_from_data_are_escaped_everywhere(tmp_path):
    store = build(tmp_path)
    load_metrics(
        store.db_path,
        [(d.isoformat(), "<!here>&co", "all", "100") for d in days(COST_START, COST_END)],
    )
    db = open_reader(store.db_path)
    try:
        reply = answer_unitcost("<!here>&co last-month", db=db, config=CONFIG, today=TODAY)
        listing = answer_unitcost("", db=db, config=CONFIG, today=TODAY)
    finally:
        db.close()
    assert not reply.is_error
    for payload in (reply.payload, listing.payload):
        dumped = json.dumps(payload, ensure_ascii=False)
        assert "<!here>" not in dumped and "&lt;!here&gt;&amp;co" in dumped


def test_costbot_ask_json(store, tmp_path):
    import yaml

    config_path = tmp_path / "costbot.yml"
    config_path.write_text(yaml.safe_dump(CONFIG_DATA))
    env = {"COSTBOT_DB": str(store.db_path), "COSTBOT_CONFIG": str(config_path), "PATH": ""}
    command = [sys.executable, "-m", "bot.cli", "ask", "--today", "2026-12-01", "--json"]
    done = subprocess.run(
        [*command, "/unitcost api_requests payments last-month"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    nov = counted(store, date(2026, 11, 1), date(2026, 11, 30), scope="payments")
    cost = cost_of(store, nov, team="payments")
    assert cents_text(cost) in payload["text"]
    bad = subprocess.run([*command, "/unitcost widgets"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "widgets" in bad.stderr


def test_preview_for_the_demo(store):
    db = open_reader(store.db_path)
    try:
        previews = preview_unitcost(db, CONFIG, TODAY)
    finally:
        db.close()
    titles = [p.title for p in previews]
    assert titles[0] == "/unitcost" and "/unitcost api_requests" in titles
    for preview in previews:
        for key in preview.images:
            assert key in json.dumps(preview.payload)


def test_a_scope_that_names_a_product_divides_that_products_cost(tmp_path):
    store = build(tmp_path)
    values = [
        (d.isoformat(), "ledger_entries", "ledger", "250") for d in days(COST_START, COST_END)
    ]
    load_metrics(store.db_path, values)
    db = open_reader(store.db_path)
    try:
        reply = answer_unitcost(
            "ledger_entries ledger last-month", db=db, config=CONFIG, today=TODAY
        )
    finally:
        db.close()
    nov = days(date(2026, 11, 1), COST_END)
    cost = cost_of(store, nov, product="ledger")
    assert f"{cents_text(cost)} of product ledger / {250 * len(nov):,} ledger_entries" in reply.text
    assert (
        f"{three_figures(exact(cost, Decimal(250 * len(nov))))} per ledger entrie" not in reply.text
    )


def test_the_listing_names_configured_metrics_without_values(ask):
    config = parse_config(
        {**CONFIG_DATA, "unit_metrics": [{"name": "per_signup", "per": "signups"}]}
    )
    reply = ask("", config=config)
    assert not reply.is_error
    assert "Not shown: per_signup: no signups values yet" in everything(reply)


def test_many_long_metric_names_stay_within_block_kit_limits(tmp_path):
    store = build(tmp_path)
    names = [f"metric_{n:03d}_" + "x" * 50 for n in range(120)]
    load_metrics(
        store.db_path,
        [(d.isoformat(), name, "all", "10") for name in names for d in days(COST_START, COST_END)],
    )
    db = open_reader(store.db_path)
    try:
        reply = answer_unitcost("", db=db, config=CONFIG, today=TODAY)
    finally:
        db.close()
    payload = reply.payload
    assert len(payload["blocks"]) <= 50 and len(payload["text"]) <= 3000
    for block in payload["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    assert "more_" in json.dumps(payload)  # the list is cut with "…and N more"


def test_a_prefix_of_several_metric_names_asks_which(tmp_path):
    store = build(tmp_path)
    load_metrics(
        store.db_path,
        [(COST_START.isoformat(), m, "all", "10") for m in ("orders_web", "orders_app")],
    )
    db = open_reader(store.db_path)
    try:
        reply = answer_unitcost("orders", db=db, config=CONFIG, today=TODAY)
    finally:
        db.close()
    assert reply.is_error
    assert reply.text == "'orders' could mean: cost_per_orders_app, cost_per_orders_web. Which one?"


def test_no_comparison_says_where_the_data_starts(ask):
    reply = ask("cloud_share_of_revenue 30d")
    assert "no comparison: the data starts Sep 25, 2026" in reply.text


def test_a_metric_with_values_only_last_period_answers_without_a_figure(tmp_path):
    # A stale metric (its only value in October) once crashed the answer and the listing.
    store = build(tmp_path)
    load_metrics(store.db_path, [("2026-10-05", "signups", "all", "250")])
    db = open_reader(store.db_path)
    try:
        reply = answer_unitcost("signups", db=db, config=CONFIG, today=TODAY)
        listing = answer_unitcost("", db=db, config=CONFIG, today=TODAY)
    finally:
        db.close()
    assert not reply.is_error and "no figure (no volume)" in reply.text
    assert "no comparison: no figure for" in everything(reply)
    assert not listing.is_error and "`cost_per_signups`" in everything(listing)


def test_configured_names_match_like_the_ingest(store):
    # A team alias, a scope in any case and a metric name in capitals mean what the metrics
    # ingest would make of them: the same figure as the canonical spelling.
    teams = [{"name": "payments", "aliases": ["pay"]}, {"name": "search"}]
    canonical = {"name": "u", "cost": {"team": "payments"}, "per": "api_requests"}
    spelt = {"name": "u", "cost": {"team": "Pay"}, "per": "API_Requests", "scope": " PAY "}
    db = open_reader(store.db_path)
    try:
        texts = []
        for entry in (canonical | {"scope": "payments"}, spelt):
            config = parse_config({"teams": teams, "unit_metrics": [entry]})
            (setting,) = config.unit_metrics
            assert (setting.cost_value, setting.per, setting.scope) == (
                "payments",
                "api_requests",
                "payments",
            )
            reply = answer_unitcost("u last-month", db=db, config=config, today=TODAY)
            texts.append(reply.text)
    finally:
        db.close()
    nov = counted(store, date(2026, 11, 1), date(2026, 11, 30), scope="payments")
    unit = exact(
        cost_of(store, nov, team="payments"), volume_of(store, "api_requests", "payments", nov)
    )
    assert texts[0] == texts[1] and three_figures(unit) in texts[0]
