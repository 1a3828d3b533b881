"""The App Home view, as a plain function of the store: figures to the cent against independent
sums of the FOCUS rows, the viewer's teams (or the organisation), open anomalies, missing tags,
the latest digest as the delivery ledger records it, escaping and Slack's 100-block limit."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest
import untagged_store
from focus_factory import amount, dollars, make_charges, money_text, write_focus_csv
from stores import focus_store

from bot.answers.app_home import home_view, month_shown
from bot.config import parse_config
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store, writers

TODAY = date(2026, 11, 27)  # month to date: Nov 1 - Nov 26, the last day with data
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 26))
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
CONFIG = parse_config(
    {
        "teams": [
            {
                "name": "payments",
                "channel": "#team-payments",
                "monthly_budget": 20000,
                "members": [ALICE],
            },
            {"name": "search", "channel": "#team-search", "members": [BOB], "leads": [ALICE]},
        ]
    }
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return focus_store(tmp_path_factory.mktemp("home"), CONFIG, date(2026, 9, 1), NOVEMBER[1])


@pytest.fixture
def db(store):
    db = open_store(store.db_path)
    yield db
    db.close()


def texts(view: dict) -> list[str]:
    """Every text Slack renders in the view (mrkdwn and plain), in order."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(view["blocks"])
    return found


def team_part(view: dict, team: str) -> str:
    """The texts of one team's part: from its header to the next divider."""
    all_texts, part, inside = [], [], False
    for block in view["blocks"]:
        if block["type"] == "header":
            inside = block["text"]["text"] == f"👥 {team}"
        if block["type"] == "divider":
            inside = False
        if inside:
            part += texts({"blocks": [block]})
        all_texts += texts({"blocks": [block]})
    assert part, f"no part for {team} in {all_texts}"
    return "\n".join(part)


def micros_of(charges, start, end, team) -> int:
    """What the store holds for the rows: each row's amount in micro-dollars (banker's
    rounding, as the ingest stores them), summed."""
    return sum(
        int((c.effective * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        for c in charges
        if start <= c.day <= end and c.team == team
    )


def cents(micros: int) -> str:
    return money_text((Decimal(micros) / 1_000_000).quantize(Decimal("0.01"), ROUND_HALF_UP))


def test_a_member_sees_month_to_date_spend_budget_and_forecast_to_the_cent(db, store):
    view = home_view(db, CONFIG, ALICE, TODAY)
    assert view["type"] == "home"
    payments = team_part(view, "payments")
    spent = dollars(store.charges, *NOVEMBER, team="payments")
    assert spent in payments
    assert "Nov 1 – Nov 26, 2026" in payments
    assert "$20,000.00" in payments
    used = amount(store.charges, *NOVEMBER, team="payments") / Decimal(20000) * 100
    assert f"{used:.1f}% used" in payments
    assert f"{26 / 30 * 100:.0f}% of the month gone" in payments
    # The month-end forecast /cost uses: spent so far + the last 7 days' average a day for
    # each of the 4 days left.
    week = micros_of(store.charges, date(2026, 11, 20), NOVEMBER[1], "payments")
    spent_micros = micros_of(store.charges, *NOVEMBER, "payments")
    projected = spent_micros + week // 7 * 4
    assert f"*Forecast for Nov 30, 2026*\n{cents(projected)}" in payments
    assert f"{cents(week // 7)}/day" in payments
    over = projected - 20_000_000_000
    assert (f"{cents(over)} over budget" if over > 0 else f"{cents(-over)} under") in payments
    assert "Cost data runs through *Nov 26, 2026*" in "\n".join(texts(view))


def test_a_viewer_in_two_teams_sees_both_and_a_lead_counts_as_in_the_team(db, store):
    view = home_view(db, CONFIG, ALICE, TODAY)
    headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    assert "👥 payments" in headers and "👥 search" in headers
    assert dollars(store.charges, *NOVEMBER, team="search") in team_part(view, "search")
    # search has no budget: no budget line, and a forecast without "over/under budget".
    assert "Budget" not in team_part(view, "search")

    bob = home_view(db, CONFIG, BOB, TODAY)
    bob_headers = [b["text"]["text"] for b in bob["blocks"] if b["type"] == "header"]
    assert "👥 search" in bob_headers and "👥 payments" not in bob_headers


def test_a_viewer_in_no_team_sees_the_organisation_and_how_to_be_added(db, store):
    view = home_view(db, CONFIG, CAROL, TODAY)
    shown = "\n".join(texts(view))
    assert "👥" not in shown
    assert "`members:`" in shown and "costbot.yml" in shown and CAROL in shown
    everything = amount(store.charges, *NOVEMBER)
    assert money_text(everything) in shown
    for team in ("payments", "search"):
        assert dollars(store.charges, *NOVEMBER, team=team) in shown


def test_open_anomalies_are_counted_with_the_largest_expected_and_actual(db):
    ids = []
    for service, expected, actual, status in (
        ("Amazon Elastic Compute Cloud", 300, 800, "open"),
        (None, 1000, 1250.5, "open"),
        ("Amazon Relational Database Service", 10, 5000, "closed"),
        ("Amazon Relational Database Service", 10, 6000, "expected"),
    ):
        episode = writers.open_episode(
            db,
            series=json.dumps(["payments", service, None, "USD", len(ids)]),
            team="payments",
            service=service,
            account_id="222222222222" if service else None,
            currency="USD",
            kind="spike",
            start="2026-11-20",
            detected_on="2026-11-21",
            expected_micros=int(expected * 1_000_000),
            actual_micros=int(actual * 1_000_000),
        )
        if status != "open":
            writers.update_episode(db, episode, status=status)
        ids.append(episode)
    writers.open_episode(
        db,
        series=json.dumps(["search", None, None, "USD"]),
        team="search",
        currency="USD",
        kind="shift",
        start="2026-11-22",
        detected_on="2026-11-23",
        expected_micros=100_000_000,
        actual_micros=150_000_000,
    )
    try:
        view = home_view(db, CONFIG, ALICE, TODAY)
        payments = team_part(view, "payments")
        assert "*Open anomalies*\n⚠️ 2" in payments
        largest = payments.index("Amazon Elastic Compute Cloud · account 222222222222")
        assert payments.index("all services") > largest  # $500/day over, then $250.50/day
        assert "$800.00/day against $300.00/day expected, since Nov 20, 2026" in payments
        assert "$1,250.50/day against $1,000.00/day expected" in payments
        assert "Relational" not in payments  # closed and expected ones are not open
        assert "*Open anomalies*\n⚠️ 1" in team_part(view, "search")
    finally:
        db.execute("DELETE FROM anomaly_episodes")
        db.conn.commit()


def record_digest(db, key, channel, period, text, *, channel_id=None, ts=None, status="sent"):
    """A weekly digest as bot/slack/delivery.py records it: claimed, then marked sent."""
    writers.claim_delivery_once(
        db, key, kind="digest", channel=channel, job="weekly-digest", period=period
    )
    writers.update_delivery(
        db,
        key,
        status=status,
        ts=ts,
        channel_id=channel_id,
        payload=json.dumps({"text": text, "blocks": []}),
    )


def test_the_latest_digest_is_shown_with_its_week_text_and_link(db):
    record_digest(
        db,
        "weekly-digest:2026-11-09:#team-payments",
        "#team-payments",
        "2026-11-09",
        "older digest",
        channel_id="C0PAY",
        ts="1762760000.000100",
    )
    record_digest(
        db,
        "weekly-digest:2026-11-16:#team-payments",
        "#team-payments",
        "2026-11-16",
        "payments spent $1,234.56 last week &amp; <!here> look",
        channel_id="C0PAY",
        ts="1763370000.000200",
    )
    record_digest(
        db,
        "weekly-digest:2026-11-23:#team-payments",
        "#team-payments",
        "2026-11-23",
        "never reached Slack",
        status="failed",
    )
    try:
        view = home_view(db, CONFIG, ALICE, TODAY)
        payments = team_part(view, "payments")
        assert "Latest digest, week of Nov 16 – Nov 22, 2026" in payments
        assert "payments spent $1,234.56 last week &amp; &lt;!here&gt; look" in payments
        assert "<https://slack.com/archives/C0PAY/p1763370000000200|Open it>" in payments
        assert "older digest" not in payments and "never reached" not in payments
        assert "to #team-payments" in payments
        assert "No weekly digest delivered to #team-search yet" in team_part(view, "search")
    finally:
        db.execute("DELETE FROM deliveries")
        db.conn.commit()


def test_missing_tags_are_the_untagged_answers_figures(tmp_path):
    data = untagged_store.CONFIG_DATA
    teams = [{**team, "members": [ALICE]} for team in data["teams"]]
    config = parse_config({**data, "teams": teams})
    db_path = untagged_store.build_store(tmp_path, config)
    in_payments = {"i-full", "i-noproduct", "i-emptycc", (untagged_store.B, "nat-0abc")}
    expected = untagged_store.expected_figures(
        ("2026-11",), belongs=lambda resource, account: resource in in_payments
    )
    noncompliant_cost = sum(micros for micros, *_ in expected["noncompliant"].values())
    noncompliant_resources = expected["resources"] - expected["compliant"]
    db = open_store(db_path)
    try:
        view = home_view(db, config, ALICE, untagged_store.TODAY)
    finally:
        db.close()
    payments = team_part(view, "payments")
    assert (
        f"*Missing required tags* (November 2026)\n{noncompliant_resources} of "
        f"{expected['resources']} inventory resources, {cents(noncompliant_cost)} of "
        f"{cents(expected['cost'])} resource cost"
    ) in payments
    assert noncompliant_resources == 2
    # The NAT gateway is billed but not in the inventory: in the cost, not in the count.
    assert "billed for resources not in the inventory" in payments


def test_names_from_data_are_escaped_everywhere(tmp_path):
    hostile = "<!channel> & *co*"
    lines = (
        ("payments", "Amazon Elastic Compute Cloud", "222222222222"),
        (hostile, "Amazon Simple Storage Service", "333333333333"),
    )
    charges = make_charges(date(2026, 11, 1), NOVEMBER[1], seed=3, lines=lines)
    db_path = tmp_path / "costbot.db"
    ingest_focus([str(write_focus_csv(tmp_path / "focus.csv", charges))], CONFIG, db_path)
    db = open_store(db_path)
    try:
        writers.open_episode(
            db,
            series=json.dumps(["payments", "<@U999> svc", None, "USD"]),
            team="payments",
            service="<@U999> svc",
            currency="USD",
            kind="spike",
            start="2026-11-20",
            detected_on="2026-11-21",
            expected_micros=1,
            actual_micros=2,
        )
        overview = home_view(db, CONFIG, CAROL, TODAY)
        member = home_view(db, CONFIG, ALICE, TODAY)
    finally:
        db.close()
    for view in (overview, member):
        raw = json.dumps(view, ensure_ascii=False)
        assert "<!channel>" not in raw and "<@U999>" not in raw
    assert "&lt;!channel&gt; &amp; *co*" in "\n".join(texts(overview))
    assert "&lt;@U999&gt; svc" in team_part(member, "payments")


def test_thirty_teams_fit_in_100_blocks_with_the_rest_listed(tmp_path, store):
    names = [f"team-{n:02d}" for n in range(30)]
    config = parse_config(
        {
            "teams": [
                {"name": "payments", "members": [ALICE], "monthly_budget": 20000},
                *({"name": name, "members": [ALICE], "channel": f"#{name}"} for name in names),
            ]
        }
    )
    db = open_store(store.db_path)
    try:
        view = home_view(db, config, ALICE, TODAY)
    finally:
        db.close()
    assert len(view["blocks"]) <= 100
    shown = "\n".join(texts(view))
    headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    listed = [name for name in names if f"👥 {name}" not in headers]
    assert listed, "with 31 teams some must be listed in short"
    assert f"…and {len(listed)} more of your teams" in shown
    for name in listed:
        assert f"{name}: $0.00" in shown
    assert dollars(store.charges, *NOVEMBER, team="payments") in team_part(view, "payments")
    for block in view["blocks"]:
        assert len(block.get("text", {}).get("text", "")) <= 3000


def test_an_empty_store_says_how_to_load_data(tmp_path):
    db = open_store(tmp_path / "empty.db")
    try:
        view = home_view(db, CONFIG, ALICE, TODAY)
    finally:
        db.close()
    shown = "\n".join(texts(view))
    assert "No cost data is loaded yet" in shown and "costbot ingest focus" in shown


def test_late_data_says_which_day_it_runs_to(db, store):
    later = TODAY + timedelta(days=4)  # Dec 1: mtd is November; data still ends Nov 26
    view = home_view(db, CONFIG, ALICE, later)
    shown = "\n".join(texts(view))
    assert "Cost data runs through *Nov 26, 2026* (5 days before today, Dec 1, 2026" in shown
    assert dollars(store.charges, *NOVEMBER, team="payments") in team_part(view, "payments")


def test_with_no_data_for_this_month_the_last_month_with_data_is_shown():
    period, note = month_shown(date(2026, 12, 3), (date(2026, 9, 1), date(2026, 11, 26)))
    assert (period.start, period.end, period.kind) == (date(2026, 11, 1), NOVEMBER[1], "month")
    assert note == "no cost data for December 2026 yet"


def test_the_demo_preview_renders_the_home_of_a_payments_member_and_of_an_outsider(db, store):
    from bot.answers.app_home import preview_app_home
    from bot.render.preview import render_preview_html

    previews = preview_app_home(db, CONFIG, TODAY)
    assert [p.title for p in previews] == [
        "App Home of a payments engineer",
        "App Home of someone in no team",
    ]
    page = render_preview_html(previews, [{} for _ in previews])
    assert 'class="unknown"' not in page  # every block of a home view is drawn
    assert "👥 payments" in page
    assert dollars(store.charges, *NOVEMBER, team="payments") in page
    assert "members:" in page


def test_each_billing_currency_is_shown_on_its_own_and_the_budget_only_in_its_own(tmp_path):
    lines = (("payments", "Amazon Elastic Compute Cloud", "222222222222"),)
    usd = make_charges(date(2026, 11, 1), NOVEMBER[1], seed=4, lines=lines)
    eur = make_charges(
        date(2026, 11, 1),
        NOVEMBER[1],
        seed=5,
        lines=(("payments", "Amazon Elastic Compute Cloud", "444444444444"),),
        currency="EUR",
        billing_account="555555555555",
    )
    db_path = tmp_path / "costbot.db"
    files = [write_focus_csv(tmp_path / "usd.csv", usd), write_focus_csv(tmp_path / "eur.csv", eur)]
    ingest_focus([str(f) for f in files], CONFIG, db_path)
    db = open_store(db_path)
    try:
        payments = team_part(home_view(db, CONFIG, ALICE, TODAY), "payments")
    finally:
        db.close()
    assert dollars(usd, *NOVEMBER, team="payments") in payments
    assert dollars(eur, *NOVEMBER, team="payments", currency="EUR") in payments
    assert "billed in EUR" in payments and "billed in USD" in payments
    assert payments.count("*Budget (November 2026)*") == 1
    assert "EUR 20,000.00" not in payments and "$20,000.00" in payments


def test_a_teams_cost_champion_record_shows_its_confirmed_kudos_savings(tmp_path, store):
    """A confirmed kudos with an amount is a win of the team's record, with its savings to the
    cent; a team without wins is told how to get some."""
    import shutil

    copy = tmp_path / "home.db"
    shutil.copy(store.db_path, copy)
    db = open_store(copy)
    try:
        entry = writers.KudosEntry(
            month="2026-11",
            person=ALICE,
            team="payments",
            what="moved the batch jobs to spot",
            monthly_savings_micros=1_234_560_000,
            currency="USD",
            dedupe_key="kudos:2026-11:U0ALICE:moved the batch jobs to spot",
            channel="C0PAYMENTS",
        )
        (recorded,) = writers.record_kudos(db, [entry], BOB, datetime(2026, 11, 20, 10, tzinfo=UTC))
        writers.decide_kudos(
            db, [recorded.win["id"]], "confirmed", CAROL, datetime(2026, 11, 21, tzinfo=UTC)
        )
        view = home_view(db, CONFIG, ALICE, TODAY)
    finally:
        db.close()
    payments = team_part(view, "payments")
    assert "🏆 November 2026: #1, 1 win, $1,234.56/month saved" in payments
    search = team_part(view, "search")
    assert "No cost-champion wins since September 2026 yet" in search
