"""Query latency: `queries.total` and `queries.daily_series` for one team over mtd, last-month,
30d and 90d, on a store of 13 months x 200 teams x 20 services x 3 accounts of daily rows,
against the same SQL forced to scan the table (`NOT INDEXED`).

    .venv/bin/python bench/query_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import timedelta

from _common import OUT, Figure, Section, log, median, ms, percentile, time_calls
from focus_data import TEAMS
from store_data import DAYS, LAST_DAY, ROWS_PER_DAY, cost_store

from bot.periods import parse_period
from bot.store import open_store, queries
from bot.store.queries import Scope

QUICK_DAYS = 100
PERIODS = ("mtd", "last-month", "30d", "90d")
GOAL_P95 = 0.020
SAMPLES_PER_PERIOD = 100
QUICK_SAMPLES_PER_PERIOD = 25
BASELINE_SAMPLES = 3

# The SQL of each query with the index ruled out: what the answer would cost without it.
FULL_SCAN_SQL = {
    "total": "SELECT coalesce(sum(effective_micros), 0) FROM daily_cost NOT INDEXED"
    " WHERE team = ? AND date BETWEEN ? AND ?",
    "daily_series": "SELECT date, sum(effective_micros) FROM daily_cost NOT INDEXED"
    " WHERE team = ? AND date BETWEEN ? AND ? GROUP BY date",
}


def random_asks(rng: random.Random, samples_per_period: int):
    """(team, period) pairs: a random team, each period kind equally often, as asked on a
    random day of the last four weeks of data."""
    asks = []
    for name in PERIODS:
        for _ in range(samples_per_period):
            today = LAST_DAY + timedelta(days=1 - rng.randrange(28))
            asks.append((rng.choice(TEAMS), parse_period(name, today)))
    rng.shuffle(asks)
    return asks


def measure(quick: bool) -> Section:
    days = QUICK_DAYS if quick else DAYS
    samples = QUICK_SAMPLES_PER_PERIOD if quick else SAMPLES_PER_PERIOD
    log(f"query: preparing the store of {days * ROWS_PER_DAY:,} daily rows (cached in {OUT})")
    path = cost_store(OUT, days)
    db = open_store(path)
    rng = random.Random(20261027)
    section = Section(
        key="query",
        title=f"2. Query latency ({days * ROWS_PER_DAY:,} rows in daily_cost)",
        setup=[
            f"Store: {days} days x 200 teams x 20 services x 3 accounts of daily aggregates "
            f"({path.stat().st_size / 2**30:.1f} GiB), schema and indexes from "
            "`bot.store.open_store` (`bench/store_data.py`); one open connection, warm page "
            "cache (every call below made once untimed first), as the bot answers.",
            f"Figure: latency of `queries.total(db, period, Scope(team=...))` and "
            f"`queries.daily_series(...)`, {samples * len(PERIODS)} calls each: random team, "
            f"periods {', '.join(PERIODS)} ({samples} each), asked on random days of the "
            "last 4 weeks of data.",
            f"Baseline: the same SQL with `NOT INDEXED` (a full scan), median of "
            f"{BASELINE_SAMPLES} calls. Ratio = p95 / baseline.",
        ],
    )
    asks = random_asks(rng, samples)
    functions = (("total", queries.total), ("daily_series", queries.daily_series))
    log("query: warm-up, every call once untimed")
    for _, function in functions:
        for team, period in asks:
            function(db, period, Scope(team=team))
    for name, function in functions:
        log(f"query: {name} x {len(asks)}")
        by_period: dict[str, list[float]] = {p: [] for p in PERIODS}
        for team, period in asks:
            start = time.perf_counter()
            function(db, period, Scope(team=team))
            by_period[period.name].append(time.perf_counter() - start)
        times = [t for values in by_period.values() for t in values]

        team, period = asks[0]
        params = [team, period.start.isoformat(), period.end.isoformat()]
        scan = median(
            time_calls(
                lambda sql=FULL_SCAN_SQL[name], params=params: db.execute(sql, params).fetchall(),
                BASELINE_SAMPLES,
                warmup=0,
            )
        )
        p95 = percentile(times, 95)
        section.figures += [
            Figure(f"`{name}` p50", ms(percentile(times, 50))),
            Figure(
                f"`{name}` p95",
                ms(p95),
                "full scan (NOT INDEXED)",
                ms(scan),
                p95 / scan,
                f"< {ms(GOAL_P95)}",
                p95 < GOAL_P95,
            ),
        ]
        section.notes.append(
            f"`{name}` p95 by period: "
            + ", ".join(f"{p} {ms(percentile(v, 95))}" for p, v in by_period.items())
            + "."
        )
    where, _ = Scope(team="x").where()
    plan = db.execute(
        f"EXPLAIN QUERY PLAN SELECT coalesce(sum(effective_micros), 0) FROM daily_cost"
        f" WHERE {where} AND date BETWEEN ? AND ?",
        ["x", "2026-01-01", "2026-01-31"],
    ).fetchall()
    section.notes.append(f"Plan of `total` for a team: `{plan[-1][-1]}`.")
    db.close()
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_DAYS} days of data")
    measure(parser.parse_args().quick).print()


if __name__ == "__main__":
    main()
