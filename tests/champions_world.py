"""A month of cost-champion wins (October 2026, against September), loaded through the real
paths: FOCUS rows through the ingest, business metrics through the metrics writer, stops
through `writers.record_saving` (as the ladder and the idle Stop button record them),
anomaly episodes and button presses through the anomaly writers. Daily tagging compliance
rows and kudos rows are inserted as the sync job and `/kudos` would leave them (test-only
inserters: `add_compliance`, `add_kudos`).

The figures the tests expect are computed here by hand from these numbers, not by Costbot.

- payments: Sep $100.00/day for 1,000 orders/day; Oct $70.00/day for 1,000 orders/day: its
  unit cost fell 30%: saving = $3,000 x 31,000 / 30,000 - $2,170 = $930.00 a month.
- retail (a shrinking business): Sep $100.00/day for 1,000 orders; Oct $70.00/day for 700
  orders: the same unit cost, no win.
- search: Sep $50.00/day, Oct $49.00/day for 500 searches/day both months: 2% down, noise.
- stops: U0ALICE stopped an idle instance of payments ($240.00/month, Oct 10); the ladder
  stopped one of search ($1,234.56/month, Oct 12, nobody credited); U0BOB approved deleting
  one of search ($100.00/month, Oct 20); one in September ($999.99) is not October's.
- anomalies of search: Oct 5-6 acknowledged by U0CAROL, $50.00/day over: 28 days avoided,
  $1,400.00 once; Oct 8-14 (7 days: not quick); Oct 20 with nobody acting.
- tagging compliance of payments: 90.0% of cost on Sep 30, 95.5% on Oct 31 (+5.5 points).
- kudos: U0DAVE (payments) confirmed, $50.00/month; U0ALICE (payments) reported, $20.00
  claimed (not counted until confirmed); U0EVE declined.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from focus_rows import focus_row, write_rows
from unit_cost_data import load_metrics

from bot.config import Config, parse_config
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store, writers

MONTH = "2026-10"
SEP_START, SEP_END = date(2026, 9, 1), date(2026, 9, 30)
OCT_START, OCT_END = date(2026, 10, 1), date(2026, 10, 31)
CONFIG_DATA = {
    "teams": [
        {"name": "payments", "channel": "#team-payments"},
        {"name": "search", "channel": "#team-search"},
        {"name": "retail"},
    ],
    "champions": {"channel": "#finops"},
}
CONFIG: Config = parse_config(CONFIG_DATA)
# (team, metric, Sep cost/day, Sep volume/day, Oct cost/day, Oct volume/day)
TEAMS = (
    ("payments", "orders", "100.00", 1000, "70.00", 1000),
    ("retail", "orders", "100.00", 1000, "70.00", 700),
    ("search", "searches", "50.00", 500, "49.00", 500),
)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def build(folder: Path, *, with_wins: bool = True) -> Path:
    rows, metrics = [], []
    for index, (team, metric, sep_cost, sep_volume, oct_cost, oct_volume) in enumerate(TEAMS):
        for day in days(SEP_START, OCT_END):
            september = day <= SEP_END
            cost = sep_cost if september else oct_cost
            rows.append(focus_row(day, cost, team=team, resource=f"r-{index}"))
            volume = sep_volume if september else oct_volume
            metrics.append((day.isoformat(), metric, team, str(volume)))
    focus_file = write_rows(folder / "focus.csv", rows)
    db_path = folder / "costbot.db"
    ingest_focus([str(focus_file)], CONFIG, db_path)
    load_metrics(db_path, metrics)
    if with_wins:
        add_wins(db_path)
    return db_path


def add_wins(db_path: Path) -> None:
    db = open_store(db_path)
    try:
        _stops(db)
        _anomalies(db)
        add_compliance(db, "payments", SEP_END, 900_000_000, 1_000_000_000)
        add_compliance(db, "payments", OCT_END, 955_000_000, 1_000_000_000)
        # Resources without a team tag got better too: nobody's win.
        add_compliance(db, "(untagged)", SEP_END, 100_000_000, 1_000_000_000)
        add_compliance(db, "(untagged)", OCT_END, 500_000_000, 1_000_000_000)
        add_kudos(db, "U0DAVE", "payments", "rightsized the ledger DB", 50_000_000, "confirmed")
        add_kudos(db, "U0ALICE", "payments", "cleaned old snapshots", 20_000_000, "reported")
        add_kudos(db, "U0EVE", "search", "said thanks", None, "declined")
    finally:
        db.close()


def _stops(db) -> None:
    oct10, oct12, oct20 = (date(2026, 10, d) for d in (10, 12, 20))
    sep15 = date(2026, 9, 15)
    stops = (
        (oct10, "i-idle1", "idle-stop", 240_000_000, "U0ALICE", "U0ALICE", "payments"),
        (oct12, "i-untag1", "enforcement-stop", 1_234_560_000, "costbot", None, "search"),
        (oct20, "db-old", "enforcement-terminate", 100_000_000, "costbot", "U0BOB", "search"),
        (sep15, "i-sept", "idle-stop", 999_990_000, "U0ALICE", "U0ALICE", "payments"),
    )
    for day, resource, action, micros, actor, approver, team in stops:
        writers.record_saving(
            db,
            at=at(day),
            arn=f"arn:aws:ec2:us-east-1:222222222222:instance/{resource}",
            action=action,
            monthly_micros=micros,
            currency="USD",
            basis="its last 7 days of cost",
            actor=actor,
            resource_id=resource,
            resource_type="ec2:instance",
            account="222222222222",
            region="us-east-1",
            team=team,
            approved_by=approver,
        )


def _anomalies(db) -> None:
    episodes = (
        (date(2026, 10, 5), date(2026, 10, 6), "U0CAROL"),
        (date(2026, 10, 8), date(2026, 10, 14), "U0CAROL"),
        (date(2026, 10, 20), date(2026, 10, 20), None),
    )
    for start, last, who in episodes:
        episode_id = writers.open_episode(
            db,
            series=json.dumps(["search", "Amazon Elastic Compute Cloud", None, "USD", str(start)]),
            team="search",
            service="Amazon Elastic Compute Cloud",
            currency="USD",
            kind="spike",
            start=start.isoformat(),
            last_day=last.isoformat(),
            detected_on=start.isoformat(),
            expected_micros=49_000_000,
            actual_micros=99_000_000,
            alerted_excess_micros=50_000_000,
        )
        if who:
            writers.record_anomaly_action(db, episode_id, "acknowledge", who, today=start)
        writers.update_episode(db, episode_id, status="closed")


def add_compliance(db, team: str, day: date, compliant_micros: int, cost_micros: int) -> None:
    """A day's stored tagging compliance of a team, as the sync job leaves it."""
    db["tag_compliance"].insert(
        {
            "day": day.isoformat(),
            "kind": "team",
            "value": team,
            "month": day.strftime("%Y-%m"),
            "resources": 10,
            "compliant_resources": 9,
            "exempt_resources": 0,
            "cost_micros": cost_micros,
            "compliant_cost_micros": compliant_micros,
            "exempt_cost_micros": 0,
            "unlisted_cost_micros": 0,
            "missing": "{}",
            "required_tags": '["Team"]',
            "computed_at": at(day).isoformat(),
        },
        replace=True,
    )


def add_kudos(
    db,
    person: str,
    team: str | None,
    what: str,
    monthly_micros: int | None,
    status: str,
    month: str = MONTH,
    reported_by: str = "U0LEAD",
) -> None:
    """A kudos recorded through the writers `/kudos` uses, then confirmed or declined by a
    lead as the Confirm and Decline buttons do."""
    given = at(OCT_START)
    entry = writers.KudosEntry(
        month=month,
        person=person,
        team=team,
        what=what,
        monthly_savings_micros=monthly_micros,
        currency="USD",
        dedupe_key=f"kudos:{month}:{person}:{what}",
        channel=None,
    )
    (recorded,) = writers.record_kudos(db, [entry], reported_by, given)
    if status != "reported":
        writers.decide_kudos(db, [recorded.win["id"]], status, "U0CONFIRMER", given)
