"""PNG charts for Slack, rendered with matplotlib's object-oriented API.

Bolt runs listeners on worker threads, and pyplot keeps global state (current figure, rcParams
edits), so nothing here imports pyplot: each chart builds its own `Figure` on an Agg canvas and
every style choice is passed explicitly instead of through global rcParams.

Each chart is built as a `Figure` (`daily_cost_figure`, `ranking_figure`: tests read what it
shows from its artists) and rendered to PNG separately (`to_png`). Charts are a plain function
of their data: the same input gives the same PNG bytes. One chart shows one currency.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.dates import DayLocator, MonthLocator, WeekdayLocator, date2num, num2date
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bot.analytics.anomalies import Alert, Band
from bot.money import DEFAULT_CURRENCY, MICROS_PER_DOLLAR, format_money, format_money_short
from bot.periods import format_day, format_range

if TYPE_CHECKING:
    from bot.render.cost import Chart

# 8 x 3.33 inches at 150 dpi: 1200 x 500 px, wide enough for 400 days and sharp on retina
# screens, while fonts stay big enough to read in Slack's scaled-down preview.
FIGURE_SIZE_INCHES = (8.0, 500 / 150)
DPI = 150

COST_COLOR = "#3b6fb6"
CREDIT_COLOR = "#2e9e6b"
BUDGET_COLOR = "#d1495b"
COMPARISON_COLOR = "#8a8f98"
TEXT_COLOR = "#1d1c1d"
MUTED_COLOR = "#616061"
GRID_COLOR = "#e8e8e8"
TITLE_SIZE = 11
LABEL_SIZE = 8
NO_COST_TEXT = "No cost in this period"
# Fixed margins instead of tight/constrained layout: cheaper, and identical framing per chart.
MARGINS = {"left": 0.085, "right": 0.985, "top": 0.88, "bottom": 0.12}
RANKING_LABEL_MAX = 28
BAR_WIDTH = 0.8  # in days
ANOMALY_COLOR = BUDGET_COLOR
EXPECTED_COLOR = "#1d1c1d"
BAND_COLOR = "#f2b134"
LEGEND_ROW_CHARS = 110
BARS_MAX_DAYS = 93  # beyond about a quarter, daily bars get too thin to read


def _plain(text: str) -> str:
    """Escape `$` so names and amounts are never parsed as matplotlib mathtext."""
    return text.replace("$", r"\$")


def _dollars(micros: int) -> float:
    return micros / MICROS_PER_DOLLAR


def _short_amount(micros: int, currency: str = DEFAULT_CURRENCY) -> str:
    """`$1.2k`, with the sign in front (`-$40`) for credits."""
    return ("-" if micros < 0 else "") + format_money_short(abs(micros), currency)


def _axis_amount(dollars: float, axis_max: float, currency: str = DEFAULT_CURRENCY) -> str:
    """Tick label: `$1.2k` style, but with cents when the whole axis is under 10."""
    micros = round(abs(dollars) * MICROS_PER_DOLLAR)
    small = abs(axis_max) < 10
    text = format_money(micros, currency) if small else _short_amount(micros, currency)
    return _plain(("-" if dollars < 0 else "") + text)


def _new_figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=FIGURE_SIZE_INCHES, dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    figure.subplots_adjust(**MARGINS)
    return figure, figure.add_subplot()


def _style_axes(axes: Axes, title: str, *, value_axis: str) -> None:
    axes.set_title(_plain(title), loc="left", fontsize=TITLE_SIZE, color=TEXT_COLOR, pad=10)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color("#bbbbbb")
    axes.tick_params(labelsize=LABEL_SIZE, colors=MUTED_COLOR, length=3)
    axes.grid(axis=value_axis, color=GRID_COLOR, linewidth=0.8)
    axes.set_axisbelow(True)


def to_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No "Software" metadata: keeps the bytes identical across matplotlib patch versions.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _no_cost_figure(title: str) -> Figure:
    figure, axes = _new_figure()
    axes.set_axis_off()
    axes.set_title(_plain(title), loc="left", fontsize=TITLE_SIZE, color=TEXT_COLOR, pad=10)
    axes.text(
        0.5, 0.5, NO_COST_TEXT, ha="center", va="center", fontsize=14, color=MUTED_COLOR,
        transform=axes.transAxes,
    )  # fmt: skip
    return figure


def _format_day(value: float, _position: int) -> str:
    day = num2date(value)
    return f"{day:%b} {day.day}"


def _set_date_axis(axes: Axes, span_days: int) -> None:
    """Short "Oct 3" labels, about 6 to 14 of them whatever the span (7 to 400+ days)."""
    if span_days <= 14:
        locator = DayLocator()
    elif span_days <= 45:
        locator = DayLocator(interval=max(2, span_days // 10))
    elif span_days <= 120:
        locator = WeekdayLocator(byweekday=0)  # Mondays: weekly digests start there
    elif span_days <= 240:
        locator = MonthLocator(bymonthday=(1, 15))
    else:
        locator = MonthLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(FuncFormatter(_format_day))


def _set_amount_axis(
    axes: Axes, axis: str, values: Sequence[float], currency: str = DEFAULT_CURRENCY
) -> None:
    largest = max((abs(value) for value in values), default=0.0)
    formatter = FuncFormatter(lambda value, _pos: _axis_amount(value, largest, currency))
    target = axes.yaxis if axis == "y" else axes.xaxis
    locator = MaxNLocator(nbins=5, min_n_ticks=3)
    target.set_major_locator(locator)
    target.set_major_formatter(formatter)
    # With credits, extend the axis down to a round tick so the negative side gets a label too.
    low, high = axes.get_ylim() if axis == "y" else axes.get_xlim()
    set_limits = axes.set_ylim if axis == "y" else axes.set_xlim
    if min(values, default=0.0) < 0:
        bottom = min(locator.tick_values(low, high)[0], low)
        set_limits(bottom, high)
    else:
        # Costs start at zero: no empty band below $0 when nothing is negative.
        set_limits(0.0, high)


def _draw_bars(
    axes: Axes,
    x: Sequence[float],
    heights: Sequence[float],
    colors: Sequence[str] | None = None,
) -> None:
    """Daily bars as one PolyCollection: `axes.bar` makes an artist per bar, which costs
    about half the render time of a 90-day chart. Credits are green unless `colors` says."""
    half = BAR_WIDTH / 2
    rectangles = [
        [(left - half, 0.0), (left - half, height), (left + half, height), (left + half, 0.0)]
        for left, height in zip(x, heights, strict=True)
    ]
    if colors is None:
        colors = [CREDIT_COLOR if height < 0 else COST_COLOR for height in heights]
    axes.add_collection(PolyCollection(rectangles, facecolors=colors, linewidths=0))
    axes.update_datalim([(min(x) - half, min(0.0, *heights)), (max(x) + half, max(0.0, *heights))])


def weekday_shift(current_start: date, previous_start: date) -> int:
    """Days to move the previous period's series forward (or back, if negative) so that
    each of its days sits on the same weekday of the current period: at most 3 either way."""
    shift = (previous_start.weekday() - current_start.weekday()) % 7
    return shift - 7 if shift > 3 else shift


def daily_cost_figure(
    days: list[date],
    amounts_micros: list[int],
    title: str,
    *,
    budget_daily_micros: int | None = None,
    comparison: list[int] | None = None,
    comparison_label: str | None = None,
    comparison_start: date | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> Figure:
    """Daily cost bars (credits in green, below zero), with optional budget and comparison lines.

    `comparison[i]` is the previous period's cost on its i-th day. With `comparison_start` (the
    previous period's first day) it is drawn on the same weekday of the current period
    (`weekday_shift`), so weekends sit on weekends; without it, against `days[i]`. Points that
    fall outside the current days are dropped. All amounts are in `currency`.
    """
    if len(days) != len(amounts_micros):
        raise ValueError(f"{len(days)} days but {len(amounts_micros)} amounts")
    if not days or (not any(amounts_micros) and not any(comparison or ())):
        return _no_cost_figure(title)

    figure, axes = _new_figure()
    _style_axes(axes, title, value_axis="y")
    x = date2num(days)
    dollars = [_dollars(amount) for amount in amounts_micros]
    if len(days) <= BARS_MAX_DAYS:
        _draw_bars(axes, x, dollars)
    else:
        # Hundreds of bars would be 1-2 px each and one artist per bar is slow to draw: a
        # stepped area looks the same and is a single artist.
        positive = [max(value, 0.0) for value in dollars]
        negative = [min(value, 0.0) for value in dollars]
        axes.fill_between(x, positive, step="mid", color=COST_COLOR, lw=0)
        if min(negative) < 0:
            axes.fill_between(x, negative, step="mid", color=CREDIT_COLOR, lw=0)
    plotted = list(dollars)

    if comparison:
        shift = weekday_shift(days[0], comparison_start) if comparison_start else 0
        first, last = days[0], days[-1]
        points = [
            (first + timedelta(days=index + shift), _dollars(amount))
            for index, amount in enumerate(comparison)
            if first <= first + timedelta(days=index + shift) <= last
        ]
        label = comparison_label or "Previous period"
        if shift:
            direction = "later" if shift > 0 else "earlier"
            plural = "s" if abs(shift) > 1 else ""
            label += f", {abs(shift)} day{plural} {direction} to match weekdays"
        if points:
            axes.plot(
                date2num([day for day, _ in points]),
                [amount for _, amount in points],
                color=COMPARISON_COLOR,
                linewidth=1.4,
                label=_plain(label),
            )
            plotted += [amount for _, amount in points]
    if budget_daily_micros is not None:
        budget = _dollars(budget_daily_micros)
        label = _plain(f"Budget {format_money(budget_daily_micros, currency)}/day")
        axes.axhline(budget, color=BUDGET_COLOR, linestyle=(0, (5, 3)), linewidth=1.2, label=label)
        plotted.append(budget)
    if min(plotted) < 0:
        axes.axhline(0, color="#999999", linewidth=0.8)

    _set_amount_axis(axes, "y", plotted, currency)
    _set_date_axis(axes, (max(days) - min(days)).days + 1)
    # At least a week wide, centred, so one or two days do not turn into giant bars.
    padding = 0.7 + max(0.0, 7 - (max(x) - min(x) + 1)) / 2
    axes.set_xlim(min(x) - padding, max(x) + padding)
    has_credits = min(amounts_micros) < 0
    if comparison or budget_daily_micros is not None or has_credits:
        # Explicit handles: a bar chart's own legend entry takes the first bar's colour.
        handles = [Patch(color=COST_COLOR, label="Daily cost")]
        if has_credits:
            handles.append(Patch(color=CREDIT_COLOR, label="Credits"))
        handles += axes.get_legend_handles_labels()[0]
        # One row while it fits the width (about 110 characters at LABEL_SIZE), else two.
        one_row = sum(len(handle.get_label()) + 8 for handle in handles) <= LEGEND_ROW_CHARS
        axes.legend(
            handles=handles,
            loc="upper left",
            fontsize=LABEL_SIZE,
            frameon=False,
            ncols=len(handles) if one_row else 2,
        )
        if max(plotted) > 0:
            axes.set_ylim(top=axes.get_ylim()[1] * (1.15 if one_row else 1.3))
    return figure


def daily_cost_chart(days: list[date], amounts_micros: list[int], title: str, **options) -> bytes:
    """`daily_cost_figure` rendered as PNG bytes."""
    return to_png(daily_cost_figure(days, amounts_micros, title, **options))


def _short_label(label: str) -> str:
    label = " ".join(label.split()) or "-"
    return label if len(label) <= RANKING_LABEL_MAX else label[: RANKING_LABEL_MAX - 1] + "…"


def ranking_figure(
    labels: list[str],
    amounts_micros: list[int],
    title: str,
    *,
    top_n: int = 10,
    currency: str = DEFAULT_CURRENCY,
) -> Figure:
    """Horizontal bars of the `top_n` largest amounts, biggest on top, each labelled `$1.2k`."""
    if len(labels) != len(amounts_micros):
        raise ValueError(f"{len(labels)} labels but {len(amounts_micros)} amounts")
    if not any(amounts_micros):
        return _no_cost_figure(title)

    ranked = sorted(zip(labels, amounts_micros, strict=True), key=lambda row: -row[1])
    shown = ranked[:top_n]
    figure, axes = _new_figure()
    # Room on the left for the longest label: about 0.6 em per character at LABEL_SIZE points.
    longest = max(len(_short_label(label)) for label, _ in shown)
    label_inches = 0.2 + longest * LABEL_SIZE * 0.6 / 72
    figure.subplots_adjust(left=min(0.45, label_inches / FIGURE_SIZE_INCHES[0]), right=0.93)
    _style_axes(axes, title, value_axis="x")

    positions = range(len(shown))
    dollars = [_dollars(amount) for _, amount in shown]
    colors = [CREDIT_COLOR if amount < 0 else COST_COLOR for _, amount in shown]
    axes.barh(positions, dollars, height=0.7, color=colors, linewidth=0)
    axes.set_yticks(list(positions), [_plain(_short_label(label)) for label, _ in shown])
    axes.invert_yaxis()
    axes.tick_params(axis="y", length=0, labelcolor=TEXT_COLOR)
    _set_amount_axis(axes, "x", dollars, currency)
    low, high = axes.get_xlim()
    axes.set_xlim(min(low, 0), high * 1.12 if high > 0 else high)  # room for the value labels
    for position, (_, amount) in zip(positions, shown, strict=True):
        axes.annotate(
            _plain(_short_amount(amount, currency)), (_dollars(amount), position),
            xytext=(4 if amount >= 0 else -4, 0), textcoords="offset points",
            ha="left" if amount >= 0 else "right", va="center",
            fontsize=LABEL_SIZE, color=TEXT_COLOR,
        )  # fmt: skip
    if len(ranked) > len(shown):
        axes.text(
            1.0, -0.1, f"+{len(ranked) - len(shown)} more not shown", transform=axes.transAxes,
            ha="right", va="top", fontsize=LABEL_SIZE, color=MUTED_COLOR,
        )  # fmt: skip
    return figure


def ranking_bar_chart(labels: list[str], amounts_micros: list[int], title: str, **options) -> bytes:
    """`ranking_figure` rendered as PNG bytes."""
    return to_png(ranking_figure(labels, amounts_micros, title, **options))


# ---- anomalies

ANOMALY_CHART_DAYS = 60
FIGURE_TITLE_CHARS = 80


def anomaly_figure(
    band: Band, title: str, *, currency: str = DEFAULT_CURRENCY, days: int = ANOMALY_CHART_DAYS
) -> Figure:
    """The last `days` days of one series: daily cost bars (the anomalous days in red), the
    expected level as a line and its usual range shaded behind. A day the detector had no
    expectation for yet (NaN) leaves a gap in the line and band."""
    count = min(days, len(band.actual))
    first = band.first_day + timedelta(days=len(band.actual) - count)
    actual = [float(value) for value in band.actual[-count:]]
    expected = [float(value) for value in band.expected[-count:]]
    low = [float(value) for value in band.low[-count:]]
    high = [float(value) for value in band.high[-count:]]
    anomalous = [bool(value) for value in band.anomalous[-count:]]
    dates = [first + timedelta(days=offset) for offset in range(count)]
    finite = [v for v in (*actual, *expected, *low, *high) if math.isfinite(v)]
    if not dates or not any(finite):
        return _no_cost_figure(title)

    figure, axes = _new_figure()
    _style_axes(axes, title, value_axis="y")
    x = date2num(dates)
    colors = [
        ANOMALY_COLOR if flagged else CREDIT_COLOR if value < 0 else COST_COLOR
        for value, flagged in zip(actual, anomalous, strict=True)
    ]
    # Behind the bars, stepped like them: drawn over them, the band's tint made every bar look
    # as short as the band's low edge.
    axes.fill_between(
        x,
        low,
        high,
        step="mid",
        color=BAND_COLOR,
        alpha=0.55,
        linewidth=0,
        label="Usual range",
        zorder=0.5,
    )
    _draw_bars(axes, x, [v if math.isfinite(v) else 0.0 for v in actual], colors)
    axes.plot(
        x, expected, drawstyle="steps-mid", color=EXPECTED_COLOR, linewidth=1.4, label="Expected"
    )
    if min(finite) < 0:
        axes.axhline(0, color="#999999", linewidth=0.8)
    _set_amount_axis(axes, "y", finite, currency)
    _set_date_axis(axes, count)
    padding = 0.7 + max(0.0, 7 - count) / 2
    axes.set_xlim(min(x) - padding, max(x) + padding)
    handles = [Patch(color=COST_COLOR, label="Daily cost")]
    if any(anomalous):
        handles.append(Patch(color=ANOMALY_COLOR, label="Anomalous days"))
    handles += axes.get_legend_handles_labels()[0]
    axes.legend(handles=handles, loc="upper left", fontsize=LABEL_SIZE, frameon=False,
                ncols=len(handles))  # fmt: skip
    if max(finite) > 0:
        axes.set_ylim(top=axes.get_ylim()[1] * 1.15)
    return figure


def anomaly_alt_text(alert: Alert) -> str:
    """What the chart shows, in words: the series, the period, expected against actual, the
    increase and the days marked."""
    from bot.render.anomalies import series_label, shown_increase_micros

    band = _require_band(alert)
    currency = alert.key.currency
    count = min(ANOMALY_CHART_DAYS, len(band.actual))
    first = band.first_day + timedelta(days=len(band.actual) - count)
    last = first + timedelta(days=count - 1)
    flagged = [
        first + timedelta(days=offset)
        for offset, value in enumerate(band.anomalous[-count:])
        if bool(value)
    ]
    marked = ", ".join(format_day(day, with_year=False) for day in flagged[:5])
    if len(flagged) > 5:
        marked += f" and {len(flagged) - 5} more"
    percent = alert.increase_percent
    shown = shown_increase_micros(alert)
    increase = ("+" if shown >= 0 else "") + format_money(shown, currency) + "/day"
    increase += f", {percent:+,}%" if percent is not None else ""
    days_text = (
        f"{len(flagged)} anomalous day{'s' if len(flagged) != 1 else ''} in red: {marked}"
        if flagged
        else "no day marked anomalous"
    )
    return (
        f"Bar chart of daily cost for {series_label(alert)}, {format_range(first, last)}, "
        f"with the expected level as a line and its usual range shaded: expected "
        f"{format_money(alert.expected_micros, currency)}/day, actual "
        f"{format_money(alert.actual_micros, currency)}/day since "
        f"{format_day(alert.start)} ({increase}); {days_text}."
    )


def _short_title(text: str, limit: int) -> str:
    limit = max(limit, 12)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _require_band(alert: Alert) -> Band:
    if alert.band is None:
        raise ValueError("the alert has no band to chart (Alert.band is None)")
    return alert.band


def anomaly_chart(alert: Alert) -> Chart:
    """The chart of an alert's series, for the message's chart placeholder."""
    # Imported here: bot.render.cost and bot.render.anomalies import this module.
    from bot.render.anomalies import series_label
    from bot.render.blocks import plain_safe
    from bot.render.cost import Chart

    band = _require_band(alert)
    count = min(ANOMALY_CHART_DAYS, len(band.actual))
    first = band.first_day + timedelta(days=len(band.actual) - count)
    period = format_range(first, first + timedelta(days=max(count, 1) - 1))
    label = series_label(alert)
    currency_note = f" ({alert.key.currency})" if alert.key.currency != DEFAULT_CURRENCY else ""
    suffix = f": daily cost vs expected{currency_note}, {period}"
    title = f"{label}{suffix}"
    # The figure's title line holds about 80 characters: the name gives way, not the dates.
    shown = f"{_short_title(label, FIGURE_TITLE_CHARS - len(suffix))}{suffix}"
    figure = anomaly_figure(band, shown, currency=alert.key.currency)
    slug = "".join(ch if ch.isalnum() else "-" for ch in label.lower()).strip("-")[:60]
    return Chart(
        png=to_png(figure),
        # Plain-text fields in Slack (the image's title and alt text): never a raw `<!here>`.
        title=plain_safe(title),
        alt_text=plain_safe(anomaly_alt_text(alert)),
        filename=f"anomaly-{slug.strip('-') or 'series'}-{alert.day.isoformat()}.png",
    )
