"""Charts are valid PNGs of a fixed Slack-friendly size, for any series, including empty ones."""

from __future__ import annotations

import struct
from datetime import date, timedelta

import pytest

from bot.render.charts import daily_cost_chart, ranking_bar_chart

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPECTED_SIZE = (1200, 500)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which the PNG format requires to come first."""
    assert png[:8] == PNG_SIGNATURE, "not a PNG"
    length, chunk_type = struct.unpack(">I4s", png[8:16])
    assert chunk_type == b"IHDR" and length == 13
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def days_from(start: date, count: int) -> list[date]:
    return [start + timedelta(days=offset) for offset in range(count)]


def weekly_pattern(count: int) -> list[int]:
    """About $1,500 a weekday and $900 a weekend day, in micro-dollars."""
    return [
        (1_500 if offset % 7 < 5 else 900) * 1_000_000 + offset * 1_000 for offset in range(count)
    ]


@pytest.mark.parametrize("count", [1, 7, 31, 90, 120, 365, 400])
def test_daily_chart_is_a_1200x500_png_for_any_period_length(count: int) -> None:
    days = days_from(date(2025, 9, 1), count)
    png = daily_cost_chart(
        days,
        weekly_pattern(count),
        "payments — daily cost",
        budget_daily_micros=1_400_000_000,
        comparison=weekly_pattern(count - 2 if count > 2 else count),
        comparison_label="Previous period",
    )
    assert png_size(png) == EXPECTED_SIZE


@pytest.mark.parametrize(
    ("days", "amounts"),
    [
        ([], []),
        (days_from(date(2026, 10, 1), 31), [0] * 31),
    ],
    ids=["empty", "all-zero"],
)
def test_daily_chart_without_cost_renders_a_no_cost_chart(days: list[date], amounts: list[int]):
    png = daily_cost_chart(days, amounts, "payments — Oct 2026", budget_daily_micros=10**9)
    assert png_size(png) == EXPECTED_SIZE
    # Both cases draw the same "No cost in this period" chart.
    assert png == daily_cost_chart([], [], "payments — Oct 2026")


def test_daily_chart_draws_credits_and_a_zero_series_with_a_comparison() -> None:
    days = days_from(date(2026, 1, 1), 30)
    with_credits = [-250_000_000 if offset == 10 else 800_000_000 for offset in range(30)]
    assert png_size(daily_cost_chart(days, with_credits, "credits")) == EXPECTED_SIZE
    only_credits = [-5_000_000] * 30
    assert png_size(daily_cost_chart(days, only_credits, "refunds")) == EXPECTED_SIZE
    long_days = days_from(date(2025, 1, 1), 400)
    long_credits = [-(10**8) if offset % 50 == 0 else 10**9 for offset in range(400)]
    assert png_size(daily_cost_chart(long_days, long_credits, "long")) == EXPECTED_SIZE
    # This period is free, but the previous one was not: that is worth drawing.
    png = daily_cost_chart(days, [0] * 30, "went to zero", comparison=[10**9] * 30)
    assert png != daily_cost_chart([], [], "went to zero")


def test_daily_chart_handles_tiny_amounts_and_dollar_signs_in_titles() -> None:
    days = days_from(date(2026, 2, 1), 10)
    cents = [offset * 10_000 for offset in range(10)]  # $0.00 to $0.09 a day
    png = daily_cost_chart(
        days, cents, "$team$ costs $5", comparison_label="$prev$", comparison=cents
    )
    assert png_size(png) == EXPECTED_SIZE


def test_daily_chart_rejects_mismatched_series() -> None:
    with pytest.raises(ValueError, match="3 days but 2 amounts"):
        daily_cost_chart(days_from(date(2026, 1, 1), 3), [1, 2], "x")


def test_same_input_gives_the_same_png() -> None:
    days = days_from(date(2026, 3, 1), 31)
    first = daily_cost_chart(days, weekly_pattern(31), "payments", budget_daily_micros=10**9)
    second = daily_cost_chart(days, weekly_pattern(31), "payments", budget_daily_micros=10**9)
    assert png_size(first) == png_size(second) == EXPECTED_SIZE
    assert first == second


def test_ranking_chart_shows_the_top_n_of_many_with_long_and_odd_labels() -> None:
    labels = [f"team-{index}" for index in range(40)] + ["x" * 10_000, "$data$ & <ml>"]
    amounts = [index * 37_000_000 for index in range(42)]
    png = ranking_bar_chart(labels, amounts, "Top teams — October 2026")
    assert png_size(png) == EXPECTED_SIZE
    assert png == ranking_bar_chart(labels, amounts, "Top teams — October 2026")
    assert png != ranking_bar_chart(labels, amounts, "Top teams — October 2026", top_n=5)


@pytest.mark.parametrize(
    ("labels", "amounts"),
    [([], []), (["a", "b"], [0, 0]), (["refund"], [-3_000_000]), (["one"], [1])],
    ids=["empty", "all-zero", "negative", "one-micro"],
)
def test_ranking_chart_edge_cases(labels: list[str], amounts: list[int]) -> None:
    assert png_size(ranking_bar_chart(labels, amounts, "Top services")) == EXPECTED_SIZE


def test_ranking_chart_rejects_mismatched_series() -> None:
    with pytest.raises(ValueError):
        ranking_bar_chart(["a"], [], "x")
