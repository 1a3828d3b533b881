"""Charts show what they must: read back from the matplotlib figure's artists (bar heights,
the budget line, the comparison line on matching weekdays, an amount axis that starts at 0),
and render to PNGs of a fixed Slack-friendly size."""

from __future__ import annotations

import struct
from datetime import date, timedelta

import pytest
from matplotlib.collections import PolyCollection
from matplotlib.dates import num2date

from bot.render.charts import (
    NO_COST_TEXT,
    daily_cost_chart,
    daily_cost_figure,
    ranking_bar_chart,
    ranking_figure,
    to_png,
    weekday_shift,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPECTED_SIZE = (1200, 500)
MICROS = 1_000_000


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which the PNG format requires to come first."""
    assert png[:8] == PNG_SIGNATURE, "not a PNG"
    length, chunk_type = struct.unpack(">I4s", png[8:16])
    assert chunk_type == b"IHDR" and length == 13
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def days_from(start: date, count: int) -> list[date]:
    return [start + timedelta(days=offset) for offset in range(count)]


def weekly_pattern(count: int, start: date = date(2026, 11, 2)) -> list[int]:
    """About $1,500 a weekday and $900 a weekend day (by the calendar), in micro-dollars."""
    return [
        (900 if (start + timedelta(days=offset)).weekday() >= 5 else 1_500) * MICROS
        + offset * 1_000
        for offset in range(count)
    ]


def bar_heights(axes) -> list[float]:
    """The signed height of each daily bar, left to right."""
    bars = next(c for c in axes.collections if isinstance(c, PolyCollection))
    heights = []
    for path in bars.get_paths():
        ys = [y for _, y in path.vertices]
        heights.append(min(ys) if min(ys) < 0 else max(ys))
    return heights


def line(axes, label_start: str):
    return next(item for item in axes.get_lines() if item.get_label().startswith(label_start))


def line_days(item) -> list[date]:
    return [num2date(x).date() for x in item.get_xdata()]


def test_bars_are_the_daily_amounts_and_the_axis_starts_at_zero():
    days = days_from(date(2026, 11, 2), 28)
    amounts = weekly_pattern(28)
    axes = daily_cost_figure(days, amounts, "payments").axes[0]
    assert bar_heights(axes) == pytest.approx([a / MICROS for a in amounts])
    assert axes.get_ylim()[0] == 0  # no empty band below $0
    assert axes.get_ylim()[1] >= max(amounts) / MICROS


def test_credits_go_below_zero_in_their_own_colour():
    days = days_from(date(2026, 1, 1), 30)
    amounts = [-250 * MICROS if offset == 10 else 800 * MICROS for offset in range(30)]
    figure = daily_cost_figure(days, amounts, "credits")
    axes = figure.axes[0]
    heights = bar_heights(axes)
    assert heights[10] == -250 and heights[0] == 800
    assert axes.get_ylim()[0] <= -250
    assert [text.get_text() for text in axes.get_legend().get_texts()][:2] == [
        "Daily cost",
        "Credits",
    ]


def test_the_budget_line_is_at_the_daily_budget_and_says_so():
    days = days_from(date(2026, 11, 1), 26)
    axes = daily_cost_figure(
        days, weekly_pattern(26), "payments", budget_daily_micros=666_666_666
    ).axes[0]
    budget = line(axes, "Budget")
    assert list(budget.get_ydata()) == pytest.approx([666.666666, 666.666666])
    assert budget.get_label() == r"Budget \$666.67/day"
    assert not any(item.get_label().startswith("previous") for item in axes.get_lines())


def test_the_previous_period_is_drawn_on_the_same_weekdays():
    days = days_from(date(2026, 11, 1), 26)  # Sunday Nov 1
    previous_start = date(2026, 10, 1)  # a Thursday
    previous = weekly_pattern(26, previous_start)
    axes = daily_cost_figure(
        days,
        weekly_pattern(26, days[0]),
        "payments",
        comparison=previous,
        comparison_label="previous period (Oct 1 – Oct 26, 2026)",
        comparison_start=previous_start,
    ).axes[0]
    comparison = line(axes, "previous period")
    assert "3 days earlier to match weekdays" in comparison.get_label()
    drawn_on = line_days(comparison)
    # Oct 4 (a Sunday) is drawn on Nov 1 (a Sunday), and every point keeps its weekday.
    assert drawn_on[0] == date(2026, 11, 1)
    for drawn, value in zip(drawn_on, comparison.get_ydata(), strict=True):
        source = previous_start + timedelta(days=(drawn - days[0]).days + 3)
        assert drawn.weekday() == source.weekday()
        assert value == pytest.approx(previous[(source - previous_start).days] / MICROS)
    assert min(drawn_on) >= days[0] and max(drawn_on) <= days[-1]  # nothing off the bars
    assert len(drawn_on) == 26 - 3


@pytest.mark.parametrize(
    ("current", "previous", "shift"),
    [
        (date(2026, 11, 1), date(2026, 10, 1), -3),  # Sun vs Thu: Oct 4 (Sun) on Nov 1
        (date(2026, 10, 1), date(2026, 9, 1), -2),  # Thu vs Tue: Sep 3 (Thu) on Oct 1
        (date(2026, 12, 1), date(2026, 11, 1), -2),  # Tue vs Sun: Nov 3 (Tue) on Dec 1
        (date(2026, 11, 4), date(2026, 10, 3), 3),  # Wed vs Sat: Oct 3 (Sat) on Nov 7
        (date(2026, 11, 2), date(2026, 10, 5), 0),  # Monday and Monday
    ],
)
def test_weekday_shift_is_the_smallest_move_that_matches_weekdays(current, previous, shift):
    assert weekday_shift(current, previous) == shift
    # The previous period's first day lands on the same weekday `shift` days after `current`.
    assert (current + timedelta(days=shift)).weekday() == previous.weekday()


def test_without_a_start_the_comparison_is_drawn_day_by_day():
    days = days_from(date(2026, 11, 2), 7)
    axes = daily_cost_figure(days, weekly_pattern(7), "x", comparison=[MICROS] * 9).axes[0]
    assert line_days(line(axes, "Previous period")) == days


def test_long_periods_draw_an_area_with_every_amount():
    days = days_from(date(2025, 1, 1), 400)
    amounts = [-(10**8) if offset % 50 == 0 else (offset + 1) * MICROS for offset in range(400)]
    axes = daily_cost_figure(days, amounts, "long").axes[0]
    drawn = {round(y, 6) for c in axes.collections for p in c.get_paths() for _, y in p.vertices}
    assert {round(a / MICROS, 6) for a in amounts} <= drawn
    assert axes.get_ylim()[0] < 0


def test_amounts_in_another_currency_are_labelled_with_it():
    days = days_from(date(2026, 11, 2), 14)
    figure = daily_cost_figure(days, weekly_pattern(14), "EUR", currency="EUR")
    figure.canvas.draw()
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels() if t.get_text()]
    assert labels and all(label.startswith("EUR ") for label in labels if label != "EUR 0")


@pytest.mark.parametrize(
    ("days", "amounts"),
    [([], []), (days_from(date(2026, 10, 1), 31), [0] * 31)],
    ids=["empty", "all-zero"],
)
def test_a_period_without_cost_says_so(days: list[date], amounts: list[int]):
    axes = daily_cost_figure(days, amounts, "payments", budget_daily_micros=10**9).axes[0]
    assert [text.get_text() for text in axes.texts] == [NO_COST_TEXT]
    assert not axes.collections and not axes.get_lines()


def test_a_free_period_after_a_costly_one_still_draws_the_comparison():
    days = days_from(date(2026, 1, 1), 30)
    axes = daily_cost_figure(days, [0] * 30, "went to zero", comparison=[10**9] * 30).axes[0]
    assert list(line(axes, "Previous period").get_ydata()) == [1000.0] * 30


def test_dollar_signs_in_titles_are_not_mathtext():
    days = days_from(date(2026, 2, 1), 10)
    figure = daily_cost_figure(days, [1] * 10, "$team$ costs $5")
    assert figure.axes[0].get_title(loc="left") == r"\$team\$ costs \$5"
    assert png_size(to_png(figure)) == EXPECTED_SIZE


@pytest.mark.parametrize("count", [1, 31, 120, 400])
def test_daily_chart_is_a_1200x500_png_and_the_same_input_gives_the_same_bytes(count: int):
    days = days_from(date(2025, 9, 1), count)
    options = {"budget_daily_micros": 1_400 * MICROS, "comparison": weekly_pattern(count)}
    png = daily_cost_chart(days, weekly_pattern(count), "payments", **options)
    assert png_size(png) == EXPECTED_SIZE
    assert png == daily_cost_chart(days, weekly_pattern(count), "payments", **options)


def test_daily_chart_rejects_mismatched_series():
    with pytest.raises(ValueError, match="3 days but 2 amounts"):
        daily_cost_figure(days_from(date(2026, 1, 1), 3), [1, 2], "x")


def test_ranking_shows_the_top_n_largest_first_with_their_amounts():
    labels = [f"team-{index}" for index in range(40)] + ["x" * 10_000, "$data$ & <ml>"]
    amounts = [index * 37 * MICROS for index in range(42)]
    axes = ranking_figure(labels, amounts, "Top teams").axes[0]
    widths = [patch.get_width() for patch in axes.patches]
    assert widths == [41 * 37, 40 * 37] + [index * 37 for index in range(39, 31, -1)]
    names = [t.get_text() for t in axes.get_yticklabels()]
    assert names[0] == r"\$data\$ & <ml>" and names[1].endswith("…") and len(names) == 10
    assert [t.get_text() for t in axes.texts if "more" in t.get_text()] == ["+32 more not shown"]
    assert axes.get_xlim()[0] == 0
    png = ranking_bar_chart(labels, amounts, "Top teams")
    assert png_size(png) == EXPECTED_SIZE and png == ranking_bar_chart(labels, amounts, "Top teams")


def test_ranking_labels_amounts_in_its_currency_and_draws_refunds_left_of_zero():
    axes = ranking_figure(
        ["refund", "vm"], [-3 * MICROS, 2_500 * MICROS], "x", currency="EUR"
    ).axes[0]
    annotations = [child.get_text() for child in axes.texts]
    assert "EUR 2.5k" in annotations and "-EUR 3" in annotations
    assert axes.get_xlim()[0] < 0


@pytest.mark.parametrize(
    ("labels", "amounts"), [([], []), (["a", "b"], [0, 0])], ids=["empty", "all-zero"]
)
def test_ranking_without_cost_says_so(labels: list[str], amounts: list[int]):
    axes = ranking_figure(labels, amounts, "Top services").axes[0]
    assert [text.get_text() for text in axes.texts] == [NO_COST_TEXT]


def test_ranking_chart_rejects_mismatched_series():
    with pytest.raises(ValueError):
        ranking_figure(["a"], [], "x")
