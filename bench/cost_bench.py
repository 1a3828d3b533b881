"""`/cost team` compute (`answer_cost` without the chart) on the large store, against one
`queries.total` of the same team and period; and chart rendering (`daily_cost_chart`, 30 and
90 days) against rendering an empty figure of the same size to PNG.

    .venv/bin/python bench/cost_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import inspect
import io
import random
import time
from collections import defaultdict
from datetime import timedelta

from _common import OUT, Figure, Section, log, median, ms, percentile, time_calls
from focus_data import TEAMS
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from query_bench import QUICK_DAYS
from store_data import DAYS, LAST_DAY, ROWS_PER_DAY, cost_store

from bot.answers.cost import answer_cost
from bot.config import parse_config
from bot.periods import parse_period
from bot.render.charts import DPI, FIGURE_SIZE_INCHES, daily_cost_chart
from bot.store import open_store, queries
from bot.store.queries import Scope

GOAL_ANSWER_P95 = 0.050
GOAL_CHART_MEDIAN = 0.150
ANSWER_SAMPLES = 100
QUICK_ANSWER_SAMPLES = 20
CHART_SAMPLES = 15
QUICK_CHART_SAMPLES = 5
TODAY = LAST_DAY + timedelta(days=1)


def _config():
    # Every team configured with a budget, so answers include burn and forecast.
    return parse_config({"teams": [{"name": t, "monthly_budget": 25_000} for t in TEAMS]})


def _query_breakdown(db, config, teams: list[str]) -> dict[str, float]:
    """Median seconds per `/cost team` answer spent in each `bot.queries` function, by
    wrapping them (a separate pass: the timed answers run unwrapped)."""
    spent: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(teams))
    originals = {
        name: function
        for name, function in vars(queries).items()
        if inspect.isfunction(function) and function.__module__ == queries.__name__
    }
    current = 0

    def wrap(name, function):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name][current] += time.perf_counter() - start

        return timed

    try:
        for name, function in originals.items():
            setattr(queries, name, wrap(name, function))
        for current, team in enumerate(teams):  # noqa: B007 (read by `timed`)
            answer_cost(f"team {team} mtd", db=db, config=config, today=TODAY, with_chart=False)
    finally:
        for name, function in originals.items():
            setattr(queries, name, function)
    return {name: median(values) for name, values in spent.items()}


def measure_answer(db, samples: int, rng: random.Random, section: Section) -> None:
    config = _config()
    teams = [rng.choice(TEAMS) for _ in range(samples)]
    log(f"cost: answer_cost('team <name> mtd') x {samples}")
    answer_cost(f"team {teams[0]} mtd", db=db, config=config, today=TODAY, with_chart=False)
    times = []
    for team in teams:
        start = time.perf_counter()
        reply = answer_cost(f"team {team} mtd", db=db, config=config, today=TODAY, with_chart=False)
        times.append(time.perf_counter() - start)
    assert "Type `/cost help`" not in reply.text, reply.text  # an answer, not a notice

    period = parse_period("mtd", TODAY)
    one_query = [
        time_calls(lambda team=team: queries.total(db, period, Scope(team=team)), 1, warmup=0)[0]
        for team in teams
    ]
    p95, floor = percentile(times, 95), percentile(one_query, 95)
    section.figures += [
        Figure("`/cost team <name> mtd` compute p50", ms(percentile(times, 50))),
        Figure(
            "`/cost team <name> mtd` compute p95",
            ms(p95),
            "one `queries.total` (p95)",
            ms(floor),
            p95 / floor,
            f"< {ms(GOAL_ANSWER_P95)}",
            p95 < GOAL_ANSWER_P95,
        ),
    ]
    breakdown = _query_breakdown(db, config, teams[: min(10, len(teams))])
    top = sorted(breakdown.items(), key=lambda item: -item[1])[:4]
    section.notes.append(
        "Where an answer's time goes (median per answer in each `bot.queries` function, "
        "including the functions it calls): "
        + ", ".join(f"`{name}` {ms(seconds)}" for name, seconds in top)
        + "."
    )


def _empty_png() -> bytes:
    figure = MplFigure(figsize=FIGURE_SIZE_INCHES, dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def measure_charts(db, samples: int, section: Section) -> None:
    log(f"cost: daily_cost_chart 30 and 90 days x {samples}, empty figure x {samples}")
    empty = median(time_calls(_empty_png, samples))
    team = TEAMS[0]
    for name in ("30d", "90d"):
        period = parse_period(name, TODAY)
        daily = queries.daily_series(db, period, Scope(team=team))
        previous = queries.daily_series(db, period.previous(), Scope(team=team))

        def render(daily=daily, previous=previous, period=period) -> bytes:
            # As `cost_render.summary_chart` draws it: bars, budget line, previous period.
            return daily_cost_chart(
                [day for day, _ in daily],
                [amount for _, amount in daily],
                f"{team}: daily cost, {period.label}",
                budget_daily_micros=800_000_000,
                comparison=[amount for _, amount in previous][: len(daily)],
                comparison_label=f"previous period ({period.previous().label})",
            )

        seconds = median(time_calls(render, samples))
        section.figures.append(
            Figure(
                f"chart, {len(daily)} days, median",
                ms(seconds),
                "empty figure to PNG",
                ms(empty),
                seconds / empty,
                f"< {ms(GOAL_CHART_MEDIAN)}",
                seconds < GOAL_CHART_MEDIAN,
            )
        )


def measure(quick: bool) -> Section:
    days = QUICK_DAYS if quick else DAYS
    log(f"cost: preparing the store of {days * ROWS_PER_DAY:,} daily rows (cached in {OUT})")
    db = open_store(cost_store(OUT, days))
    answers = QUICK_ANSWER_SAMPLES if quick else ANSWER_SAMPLES
    charts = QUICK_CHART_SAMPLES if quick else CHART_SAMPLES
    section = Section(
        key="cost",
        title="3. `/cost team` compute and chart render",
        setup=[
            f"Same store as section 2 ({days * ROWS_PER_DAY:,} daily rows); config with the "
            "200 teams, each with a monthly budget; today = the day after the data ends.",
            f"Compute: `answer_cost('team <name> mtd', ..., with_chart=False)` (every query "
            f"and the Block Kit payload, no chart), {answers} random teams. Baseline: one "
            "`queries.total` of the same team and period. Ratio = p95 / baseline p95.",
            f"Chart: `daily_cost_chart` of a 30-day and a 90-day series with budget line and "
            f"previous-period line, as `/cost` draws it, median of {charts}. Baseline: an "
            f"empty {FIGURE_SIZE_INCHES[0]:g} x {FIGURE_SIZE_INCHES[1]:.2f} in figure at "
            f"{DPI} dpi saved as PNG (the floor of any chart). Ratio = median / baseline.",
        ],
    )
    measure_answer(db, answers, random.Random(20261027), section)
    measure_charts(db, charts, section)
    db.close()
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_DAYS} days of data")
    measure(parser.parse_args().quick).print()


if __name__ == "__main__":
    main()
