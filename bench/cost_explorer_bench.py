"""Paid Cost Explorer requests ($0.01 each) of `costbot sync aws` for an organisation of 50
accounts, 40 teams (and untagged spend) and 30 services over 13 months, counted by the fake
Cost Explorer of the tests (tests/fake_cost_explorer.py) on its side, for a first sync and for
daily syncs; against a naive design run on the same fake in the same run.

    .venv/bin/python bench/cost_explorer_bench.py [--quick]

STS (the payer's account id) is moto's server; Cost Explorer is the fake, reached through
`AWS_ENDPOINT_URL_COST_EXPLORER` as in the tests.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from _common import REPO, Figure, Section, log

sys.path.append(str(REPO / "tests"))

import boto3
from fake_cost_explorer import FakeCostExplorer, organisation

from bot.config import Config
from bot.sources.aws.cost_explorer import plan_sync, sync_cost_explorer
from bot.store import open_reader

GOAL_DAILY = 20
# GetCostAndUsage pages by groups (AWS: "if your result set is paginated each page counts as
# a separate request"); AWS documents no page size. Assumed here: 1,000 groups per page, with
# the figures at 500 and 5,000 alongside.
PAGE_SIZE = 1000
OTHER_PAGE_SIZES = (500, 5000)
FIRST_DAY = date(2026, 11, 20)  # mid-month: the first sync, then a daily sync the next day
MONTH_START = date(2026, 12, 2)  # a daily sync that re-reads November (bill not yet final)
RESTATED_DAYS = (date(2026, 11, 1), date(2026, 11, 15))  # restated before the month-start sync
FULL = {"accounts": 50, "teams": 40, "services": 30}
QUICK = {"accounts": 10, "teams": 8, "services": 10}


def _naive_requests(fake: FakeCostExplorer, start: date, end: date) -> int:
    """A naive sync: three groupings (team x service, team x account, service x account),
    one request per day (plus its pages): what the fake answers for it."""
    client = boto3.client("ce", region_name="us-east-1")
    before = fake.paid_requests
    pairs = (
        [{"Type": "TAG", "Key": "Team"}, {"Type": "DIMENSION", "Key": "SERVICE"}],
        [{"Type": "TAG", "Key": "Team"}, {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}],
        [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}],
    )
    day = start
    while day <= end:
        for group_by in pairs:
            token = None
            while True:
                extra = {"NextPageToken": token} if token else {}
                page = client.get_cost_and_usage(
                    TimePeriod={"Start": day.isoformat(), "End": (day + timedelta(1)).isoformat()},
                    Granularity="DAILY",
                    Metrics=["AmortizedCost", "UnblendedCost"],
                    GroupBy=group_by,
                    **extra,
                )
                token = page.get("NextPageToken")
                if not token:
                    break
        day += timedelta(days=1)
    return fake.paid_requests - before


def _sync(fake: FakeCostExplorer, db_path: Path, today: date) -> tuple[int, int]:
    before = fake.paid_requests
    result = sync_cost_explorer(db_path, Config(), today, say=lambda _: None, warn=log)
    counted = fake.paid_requests - before
    assert result.paid.total == counted, (result.paid.total, counted)
    return counted, result.rows


def _check_totals(fake: FakeCostExplorer, db_path: Path, start: date, end: date) -> str:
    truth = sum(
        (Decimal(r.amortized) for r in fake.rows if start <= r.day <= end), Decimal(0)
    ).quantize(Decimal("0.01"))
    db = open_reader(db_path)
    try:
        micros = db.execute(
            "SELECT sum(effective_micros) FROM daily_cost WHERE grain = 'team,service'"
            " AND date BETWEEN ? AND ?",
            [start.isoformat(), end.isoformat()],
        ).fetchone()[0]
    finally:
        db.close()
    stored = (Decimal(micros) / 1_000_000).quantize(Decimal("0.01"))
    assert stored == truth, (stored, truth)
    return f"${stored:,.2f}"


def _environment(moto_url: str, fake_url: str) -> None:
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ENDPOINT_URL_COST_EXPLORER": fake_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)


def measure(quick: bool) -> Section:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request
    shape = QUICK if quick else FULL
    settings = Config().aws
    backfill = plan_sync(None, FIRST_DAY, settings)
    log(f"cost_explorer: generating {shape} from {backfill.start} to {MONTH_START}")
    rows, names = organisation(backfill.start, MONTH_START, **shape)
    per_day = len(rows) // ((MONTH_START - backfill.start).days + 1)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    moto.start()
    figures: list[Figure] = []
    notes: list[str] = []
    try:
        host, port = moto.get_host_and_port()
        with FakeCostExplorer(rows, page_size=PAGE_SIZE, account_names=names) as fake:
            _environment(f"http://{host}:{port}", fake.url)
            counts: dict[str, dict[int, int]] = {}
            with tempfile.TemporaryDirectory() as scratch:
                for page_size in (PAGE_SIZE, *OTHER_PAGE_SIZES):
                    fake.page_size = page_size
                    db_path = Path(scratch) / f"costbot-{page_size}.db"
                    log(f"cost_explorer: syncs at {page_size:,} groups per page")
                    first, stored_rows = _sync(fake, db_path, FIRST_DAY)
                    daily, _ = _sync(fake, db_path, FIRST_DAY + timedelta(days=1))
                    # the days up to the month-start sync, one sync a day
                    day = FIRST_DAY + timedelta(days=2)
                    while day < MONTH_START:
                        _sync(fake, db_path, day)
                        day += timedelta(days=1)
                    # As the previous month's bill closes, AWS restates some of its days:
                    # its first (monthly fees) and one in the middle (a late credit).
                    for restated in RESTATED_DAYS:
                        fake.restate(restated, factor="1.07")
                    month_start, _ = _sync(fake, db_path, MONTH_START)
                    counts[page_size] = {"first": first, "daily": daily, "month": month_start}
                    if page_size == PAGE_SIZE:
                        total = _check_totals(
                            fake, db_path, backfill.start, MONTH_START - timedelta(days=1)
                        )
                        notes.append(
                            f"Stored after the syncs: {stored_rows:,} rows from the first sync;"
                            f" {backfill.start} .. {MONTH_START - timedelta(days=1)} totals"
                            f" {total}, equal to the fake's own sum to the cent (after"
                            f" {len(RESTATED_DAYS)} days of the previous month were restated)."
                        )
                    # The restated days back as they were, for the next page size.
                    for restated in RESTATED_DAYS:
                        fake.restate(restated, factor=str(1 / Decimal("1.07")))
                fake.page_size = PAGE_SIZE
                log("cost_explorer: the naive design")
                naive_first = _naive_requests(fake, backfill.start, backfill.end)
                # Naive daily: it does not know what changed, so it re-reads the month so far
                # (and, early in a month, the previous one too).
                next_day = FIRST_DAY + timedelta(days=1)
                naive_daily = _naive_requests(fake, next_day.replace(day=1), FIRST_DAY)
                naive_month = _naive_requests(
                    fake, date(2026, 11, 1), MONTH_START - timedelta(days=1)
                )
    finally:
        moto.stop()

    def dollars(requests: int) -> str:
        return f"{requests:,} (${requests / 100:,.2f})"

    main = counts[PAGE_SIZE]
    naive = "3 groupings, 1 request a day"
    figures.append(
        Figure(
            "first sync (13 months back-filled)",
            dollars(main["first"]),
            naive,
            dollars(naive_first),
            main["first"] / naive_first,
        )
    )
    figures.append(
        Figure(
            f"daily sync ({next_day}: last {settings.restate_days} days, and the month's"
            " daily totals by team)",
            dollars(main["daily"]),
            naive + ", month to date",
            dollars(naive_daily),
            main["daily"] / naive_daily,
            f"<= {GOAL_DAILY} requests",
            main["daily"] <= GOAL_DAILY,
        )
    )
    figures.append(
        Figure(
            f"daily sync on days 1-{settings.bill_final_day} ({MONTH_START}: also the previous"
            f" month's daily totals by team, and its {len(RESTATED_DAYS)} restated days)",
            dollars(main["month"]),
            naive + ", previous month and month to date",
            dollars(naive_month),
            main["month"] / naive_month,
            f"<= {GOAL_DAILY} requests",
            main["month"] <= GOAL_DAILY,
        )
    )
    final_day = settings.bill_final_day
    month = (30 - final_day) * main["daily"] + final_day * main["month"]
    notes.append(
        f"Over a 30-day month: {30 - final_day} daily syncs of {main['daily']} and {final_day}"
        f" of {main['month']} requests = {month} requests (${month / 100:,.2f}), {month / 30:.1f}"
        " a day on average. On days 1-5 the previous month is checked with one request of"
        " daily totals by team and re-read by team only on the days that changed (here"
        f" {', '.join(str(d) for d in RESTATED_DAYS)}: 2 requests each), instead of re-reading"
        " the whole month by team (about 26 pages at 1,000 groups a page)."
    )
    for page_size in OTHER_PAGE_SIZES:
        c = counts[page_size]
        notes.append(
            f"At {page_size:,} groups per page: first sync {c['first']:,}, daily {c['daily']},"
            f" daily on days 1-{settings.bill_final_day} {c['month']} requests."
        )
    notes.append(
        "Besides the two groupings every sync makes up to 4 requests: Savings Plans coverage,"
        " utilization (the fake, like AWS for an account without Savings Plans, answers"
        " DataUnavailableException: not billed), the spot share (MONTHLY GetCostAndUsage) and"
        " the month's forecast."
    )
    return Section(
        key="cost_explorer",
        title=(
            f"6. Cost Explorer paid requests ({shape['accounts']} accounts, {shape['teams']}"
            f" teams + untagged, {shape['services']} services, 13 months)"
        ),
        setup=[
            f"Organisation from `tests/fake_cost_explorer.py` `organisation()`: each team and"
            f" the untagged spend uses 8 services in 3 of the accounts, {per_day:,} rows a day,"
            f" {len(rows):,} rows from {backfill.start} to {MONTH_START}.",
            "Figure: `sync_cost_explorer` (what `costbot sync aws` runs), requests counted by"
            " the fake on its side (and equal to what the sync printed). A first sync on"
            f" {FIRST_DAY}, then one sync a day through {MONTH_START}.",
            f"Page size: AWS documents none; assumed {PAGE_SIZE:,} groups per page (500 and"
            " 5,000 below). A page is a paid request.",
            "Baseline: a naive design on the same fake: three groupings (team x service, team"
            " x account, service x account), one DAILY request per day and grouping (plus"
            " pages); its daily sync re-reads the month to date. Ratio = figure / baseline.",
        ],
        figures=figures,
        notes=notes,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    measure(args.quick).print()


if __name__ == "__main__":
    main()
