"""Cost champions: each source of measured wins to the cent against figures computed by hand
from the world's numbers (tests/champions_world.py), the normalisation against a shrinking
business, the score's arithmetic, ties, and recording a month twice."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from champions_world import (
    CONFIG,
    CONFIG_DATA,
    MONTH,
    OCT_END,
    OCT_START,
    SEP_END,
    SEP_START,
    add_compliance,
    add_kudos,
    build,
    days,
)

from bot.analytics import champions
from bot.config import parse_config
from bot.store import open_reader, open_store, writers

MICROS = 1_000_000


def dollars(micros: int) -> Decimal:
    return Decimal(micros) / MICROS


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build(tmp_path_factory.mktemp("champions"))


@pytest.fixture
def db(world):
    connection = open_reader(world)
    yield connection
    connection.close()


def by_key(wins):
    return {w.dedupe_key: w for w in wins}


def test_a_unit_cost_that_fell_per_unit_is_a_win_of_the_volume_at_last_months_rate(db):
    sep_days, oct_days = len(days(SEP_START, SEP_END)), len(days(OCT_START, OCT_END))
    sep_cost, sep_volume = Decimal("100.00") * sep_days, Decimal(1000 * sep_days)
    oct_cost, oct_volume = Decimal("70.00") * oct_days, Decimal(1000 * oct_days)
    expected = sep_cost / sep_volume * oct_volume - oct_cost  # $3,100.00 - $2,170.00

    wins = champions.unit_cost_wins(db, CONFIG, MONTH, OCT_END)

    (payments,) = wins  # retail shrank (same unit cost), search moved 2%: neither is a win
    assert payments.team == "payments"
    assert dollars(payments.monthly_savings_micros) == expected == Decimal("930.00")
    assert payments.detail["current"]["volume"] == "31000"
    assert "30.0%" in payments.what


def test_a_shrinking_business_does_not_win_by_spending_less(db):
    changes = {c.team: c for c in champions.unit_cost_changes(db, CONFIG, MONTH, OCT_END)}
    retail = changes["retail"]
    # Cost down 30% and volume down 30%: spent less, saved nothing per order.
    assert retail.current.cost_micros < retail.previous.cost_micros
    assert retail.current.unit_cost == retail.previous.unit_cost
    assert not retail.fell_beyond_noise
    assert "retail" not in {w.team for w in champions.measured_wins(db, CONFIG, MONTH)}
    # Search: 2% down per search is within the noise threshold.
    assert not changes["search"].fell_beyond_noise


def test_stops_count_at_their_run_rate_credited_to_the_team_and_the_person_who_pressed(db):
    wins = by_key(champions.stop_wins(db, CONFIG, MONTH, OCT_END))
    arn = "arn:aws:ec2:us-east-1:222222222222:instance/"
    idle = wins[f"saving:{arn}i-idle1:idle-stop:2026-10-10"]
    assert (idle.source, idle.team, idle.person) == ("idle_stop", "payments", "U0ALICE")
    assert idle.monthly_savings_micros == 240 * MICROS
    ladder = wins[f"saving:{arn}i-untag1:enforcement-stop:2026-10-12"]
    assert (ladder.source, ladder.team, ladder.person) == ("stop", "search", None)
    assert dollars(ladder.monthly_savings_micros) == Decimal("1234.56")
    approved = wins[f"saving:{arn}db-old:enforcement-terminate:2026-10-20"]
    assert approved.person == "U0BOB"  # who approved the deletion
    assert len(wins) == 3  # September's stop belongs to September
    (september,) = champions.stop_wins(db, CONFIG, "2026-09", date(2026, 9, 30))
    assert dollars(september.monthly_savings_micros) == Decimal("999.99")


def test_an_anomaly_fixed_quickly_counts_its_avoided_cost_once(db):
    (win,) = champions.anomaly_wins(db, CONFIG, MONTH, OCT_END)
    # Oct 5-6: 2 days; the other 28 days of a 30-day month at $50.00 a day over were avoided.
    assert (win.team, win.person) == ("search", "U0CAROL")
    assert dollars(win.monthly_savings_micros) == Decimal("50.00") * 28
    assert not win.recurring
    assert win.annual_micros == win.monthly_savings_micros  # never annualised
    # The 7-day one was not quick; the Oct 20 one ended with nobody acting.
    slow = parse_config({**CONFIG_DATA, "champions": {"quick_resolution_days": 7}})
    assert len(champions.anomaly_wins(db, slow, MONTH, OCT_END)) == 2


def test_the_leaderboard_adds_up_to_the_cent_and_the_point(db):
    board = champions.leaderboard(db, CONFIG, MONTH)
    # payments: $930.00 unit cost + $240.00 idle stop + $50.00 confirmed kudos a month, x 12;
    # compliance 90.0% -> 95.5%: 5.5 x 500; kudos: the confirmed one and the reported one.
    payments_monthly = Decimal("930.00") + Decimal("240.00") + Decimal("50.00")
    payments_points = payments_monthly * 12 + Decimal("5.5") * 500 + 2 * 250
    # search: $1,234.56 + $100.00 a month x 12, plus $1,400.00 avoided once.
    search_monthly = Decimal("1234.56") + Decimal("100.00")
    search_points = search_monthly * 12 + Decimal("1400.00")
    teams = {e.name: e for e in board.teams}
    assert [e.name for e in board.teams] == ["payments", "search"]
    assert teams["payments"].points == payments_points == Decimal("17890")
    assert dollars(teams["payments"].monthly_micros) == payments_monthly
    assert teams["search"].points == search_points == Decimal("17414.72")
    assert dollars(teams["search"].annual_micros) == search_monthly * 12 + Decimal("1400.00")
    assert teams["payments"].lines[0] == ("$1,220.00/month saved = $14,640.00/year → 14,640 points")
    assert "90.0% → 95.5% (+5.5 points of %) → 2,750 points" in teams["payments"].lines[1]
    people = {e.name: e.points for e in board.people}
    assert people == {
        "U0ALICE": Decimal(240 * 12 + 250),  # her stop, and her (unconfirmed) kudos
        "U0CAROL": Decimal("1400.00"),
        "U0BOB": Decimal(100 * 12),
        "U0DAVE": Decimal(50 * 12 + 250),  # confirmed: its amount and the kudos
    }
    assert [e.name for e in board.people] == ["U0ALICE", "U0CAROL", "U0BOB", "U0DAVE"]
    assert "U0EVE" not in people  # declined counts nothing
    assert dollars(board.monthly_micros) == payments_monthly + search_monthly
    assert dollars(board.one_off_micros) == Decimal("1400.00")


def test_ties_go_to_the_larger_savings_then_more_wins_then_the_name():
    def entry(name, points, annual, wins):
        return champions.Entry(
            "team", name, None, Decimal(points), (), (None,) * wins, 0, annual, 0, 0
        )

    ranked = champions.rank(
        [entry("b", 10, 5, 1), entry("a", 10, 5, 1), entry("c", 10, 9, 0), entry("d", 10, 5, 3)]
    )
    assert [e.name for e in ranked] == ["c", "d", "a", "b"]


def test_the_business_framing_rounds_engineers_down():
    config = parse_config({"champions": {"engineer_cost_per_year": 187500}})
    assert champions.business_framing(62_500 * MICROS, config) == (
        "$62,500.00 a month is $750,000.00 a year: about 4 engineers"
    )
    assert champions.business_framing(31_249_990_000, config).endswith("about 1 engineer")
    assert champions.business_framing(15_000 * MICROS, config).endswith(
        "$180,000.00 a year: less than one engineer"
    )


def test_recording_a_month_twice_keeps_one_row_per_win_and_leaves_kudos_alone(tmp_path):
    path = build(tmp_path)
    db = open_store(path)
    try:
        now = datetime(2026, 11, 1, 10, tzinfo=UTC)
        first = champions.record_month(db, CONFIG, MONTH, now)
        champions.record_month(db, CONFIG, MONTH, now)
        rows = list(db.query("SELECT * FROM wins WHERE month = ? ORDER BY id", [MONTH]))
        measured = [r for r in rows if r["status"] == "measured"]
        assert len(measured) == len(first) == 5
        assert sum(r["monthly_savings_micros"] for r in measured) == sum(
            w.monthly_savings_micros for w in first
        )
        assert len([r for r in rows if r["source"] == "kudos"]) == 3
        # A stored win whose data has gone is removed when the month is recorded again.
        db.execute("DELETE FROM verified_savings WHERE resource_id = 'i-idle1'")
        champions.record_month(db, CONFIG, MONTH, now)
        keys = {r["dedupe_key"] for r in db.query("SELECT dedupe_key FROM wins")}
        assert not any("i-idle1" in key for key in keys)
    finally:
        db.close()


def test_past_months_stay_queryable_and_a_team_has_its_record(tmp_path):
    path = build(tmp_path)
    db = open_store(path)
    try:
        add_kudos(db, "U0FRAN", "payments", "killed a NAT gateway", 10 * MICROS, "confirmed",
                  month="2026-09")  # fmt: skip
        add_compliance(db, "payments", date(2026, 8, 31), 500, 1000)
        add_compliance(db, "payments", date(2026, 9, 30), 900, 1000)  # kept (replaces)
        record = champions.team_record(db, CONFIG, "Payments", months=3, today=date(2026, 11, 2))
    finally:
        db.close()
    assert [r.month for r in record] == ["2026-11", "2026-10", "2026-09"]
    november, october, september = record
    assert november.rank is None and not november.wins
    assert october.rank == 1 and october.points == Decimal("17890")
    assert len(october.wins) == 4
    assert september.rank == 1
    # September: the $999.99 idle stop and the $10.00 kudos a month x 12, the kudos' 250, and
    # 50% -> 90% compliance (40 x 500).
    assert september.points == (Decimal("999.99") + 10) * 12 + 250 + 40 * 500


def test_a_month_is_read_as_YYYY_MM_only():
    assert champions.parse_month("2026-1") == "2026-01"
    for bad in ("2026-13", "october", "2026-10-01", "26-10", ""):
        with pytest.raises(champions.ChampionsError):
            champions.parse_month(bad)


def test_an_assigned_anomaly_credits_the_assignee(tmp_path):
    path = build(tmp_path)
    db = open_store(path)
    try:
        (episode_id,) = [
            row[0]
            for row in db.execute("SELECT id FROM anomaly_episodes WHERE start = '2026-10-05'")
        ]
        writers.record_anomaly_action(
            db, episode_id, "assign", "U0CAROL", today=date(2026, 10, 5), assignee="U0GINA"
        )
        (win,) = champions.anomaly_wins(db, CONFIG, MONTH, OCT_END)
    finally:
        db.close()
    assert win.person == "U0GINA"  # who was given it to fix, not who handed it out


def test_a_win_whose_data_was_corrected_no_longer_shows_and_one_whose_data_is_gone_stays(
    tmp_path,
):
    """The celebration stored October's wins; then the stop behind one of them is gone from the
    store while October's cost is still there (a correction): the board no longer shows it.
    Once October's cost itself is pruned, the stored wins are all the board has: they stay."""
    path = build(tmp_path)
    db = open_store(path)
    try:
        now = datetime(2026, 11, 1, 10, tzinfo=UTC)
        recorded = champions.record_month(db, CONFIG, MONTH, now)
        idle_key = next(w.dedupe_key for w in recorded if "i-idle1" in w.dedupe_key)
        db.execute("DELETE FROM verified_savings WHERE resource_id = 'i-idle1'")
        corrected = by_key(champions.month_wins(db, CONFIG, MONTH, OCT_END))
        assert idle_key not in corrected
        assert len([w for w in corrected.values() if w.status == "measured"]) == 4

        db.execute("DELETE FROM daily_cost WHERE date >= ?", [SEP_START.isoformat()])
        pruned = by_key(champions.month_wins(db, CONFIG, MONTH, OCT_END))
        assert {k for k, w in pruned.items() if w.status == "measured"} == {
            w.dedupe_key for w in recorded
        }
    finally:
        db.close()
