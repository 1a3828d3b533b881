"""Block Kit messages and the weekly chart for `/unitcost` answers, from plain analytics values.
Every figure the answer rests on is in the fallback text too (the unit cost, the cost to the
cent, the volume, the dates), so `costbot ask --json` can be checked against the data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bot.analytics.unit_cost import ReferenceCheck, Sums, UnitDefinition, UnitFigures
from bot.money import format_money, format_money_short, format_unit_cost, to_micros
from bot.periods import Period, format_day, format_range
from bot.render import blocks
from bot.render.charts import (
    COST_COLOR,
    LABEL_SIZE,
    MUTED_COLOR,
    TEXT_COLOR,
    _new_figure,
    _plain,
    _style_axes,
    to_png,
)
from bot.render.cost import METRIC_LABELS, Chart

ICON = "📏"
VOLUME_COLOR = "#f2b134"
MAX_LISTED_DAYS = 6
USAGE_HINT = "`/unitcost help` for more"


def format_volume(volume: Decimal) -> str:
    """`1,234,567` or `12,345.5`: as loaded, with thousands separators."""
    if volume == volume.to_integral_value():
        return f"{int(volume):,}"
    return f"{volume.normalize():,f}"


def format_percent(value: Fraction) -> str:
    """A share with three significant figures: `32.4%`, `3.24%`, `0.0312%`, `132%`."""
    amount = Decimal(value.numerator) / Decimal(value.denominator)
    if amount == 0:
        return "0%"
    places = max(2 - amount.adjusted(), 0)
    rounded = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if rounded.adjusted() > amount.adjusted() and places:  # 99.96 -> 100%, not 100.0%
        places -= 1
        rounded = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{rounded:,.{places}f}%"


def _volume_text(definition: UnitDefinition, volume: Decimal, currency: str) -> str:
    """A money metric (revenue, for a percent) as money; any other as a count."""
    if definition.as_percent:
        return format_money(to_micros(volume), currency)
    return format_volume(volume)


def unit_figure_text(definition: UnitDefinition, unit: Fraction | None, currency: str) -> str:
    """`$0.00312 per api request`, `18.4% of revenue`, or why there is none."""
    if unit is None:
        return "no figure (no volume)"
    if definition.as_percent:
        return f"{format_percent(unit * 100)} of {definition.unit}"
    return f"{format_unit_cost(unit, currency)} per {definition.unit}"


def change_text(figures: UnitFigures) -> str:
    """`▼ 12.3% vs Oct 1 – Oct 26, 2026 ($0.00356 per ...)`, or why there is no change."""
    previous = figures.previous
    if figures.current.unit_cost is None:
        return f"no comparison: no figure for {figures.period.label}"
    if previous is None or previous.unit_cost is None:
        data_from = figures.data_from
        if data_from is not None and figures.previous_period.start < data_from:
            return f"no comparison: the data starts {format_day(data_from)}"
        return f"no comparison: no cost and volume for {figures.previous_period.label}"
    change = figures.change_percent
    assert change is not None
    arrow = "▲" if change > 0 else "▼" if change < 0 else "="
    sign = "+" if change > 0 else "-" if change < 0 else ""
    shown = f"{sign}{abs(Decimal(change.numerator) / Decimal(change.denominator)):.1f}%"
    before = unit_figure_text(figures.definition, previous.unit_cost, figures.currency)
    return f"{arrow} {shown} vs {figures.previous_period.label} ({before})"


def _day_list(days: Sequence[date]) -> str:
    """`4 – 6 November` style runs: `Nov 4 – Nov 6, 2026; Nov 9, 2026`, cut after a few."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and (day - runs[-1][1]).days == 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    shown = [format_range(start, end) for start, end in runs[:MAX_LISTED_DAYS]]
    more = len(runs) - MAX_LISTED_DAYS
    return "; ".join(shown) + (f" and {more} more" if more > 0 else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


def gap_lines(sums: Sums, currency: str, definition: UnitDefinition) -> list[str]:
    metric = definition.metric
    lines = []
    if sums.cost_only:
        lines.append(
            f"{_plural(len(sums.cost_only), 'day')} with cost but no {metric}"
            f" {_were(len(sums.cost_only))} left out "
            f"({format_money(sums.cost_left_out_micros, currency)}): {_day_list(sums.cost_only)}"
        )
    if sums.volume_only:
        lines.append(
            f"{_plural(len(sums.volume_only), 'day')} with {metric} but no cost"
            f" {_were(len(sums.volume_only))} left out "
            f"({_volume_text(definition, sums.volume_left_out, currency)}): "
            f"{_day_list(sums.volume_only)}"
        )
    return lines


def reference_text(check: ReferenceCheck | None, definition: UnitDefinition) -> str | None:
    if check is None:
        return None
    ref = check.reference
    if ref.percent:
        span = f"{ref.low:g}–{ref.high:g}% {ref.per}"
    else:
        span = f"${ref.low:f}–${ref.high:f} {ref.per}"
    where = {"below": "below", "within": "within", "above": "above"}[check.position]
    return f"Reference: {ref.field} typically spend {span} on cloud; this is {where} that range."


def subject_text(figures: UnitFigures) -> str:
    """`payments` / `product api-gateway` / `all cloud cost`, for titles and sentences."""
    subject = figures.subject
    if subject.label is not None:
        return subject.label if subject.cost.kind == "team" else f"product {subject.label}"
    return subject.cost.description


def _sums_sentence(figures: UnitFigures) -> str:
    current, definition = figures.current, figures.definition
    per = f"{definition.metric}" + (
        f" ({figures.subject.metric_scope})" if figures.subject.metric_scope else ""
    )
    days = _plural(current.days_with_both, "day")
    return (
        f"{format_money(current.cost_micros, figures.currency)} of {subject_text(figures)} / "
        f"{_volume_text(definition, current.volume, figures.currency)} {per}, "
        f"{figures.period.label} ({days} with both)"
    )


def fallback_text(figures: UnitFigures) -> str:
    definition = figures.definition
    figure = unit_figure_text(definition, figures.current.unit_cost, figures.currency)
    return blocks.escape_mrkdwn(
        f"{definition.name}: {figure} = {_sums_sentence(figures)}; {change_text(figures)}"
    )


def footer(figures_metric: str, data_through: date | None, currency: str) -> str:
    through = f"cost data through {format_day(data_through)}" if data_through else "no cost data"
    return (
        f"{METRIC_LABELS[figures_metric]} in {currency} · {through} · sums over the days with "
        f"both cost and volume, not an average of daily ratios · {USAGE_HINT}"
    )


def render_unit_figures(figures: UnitFigures, chart_file_id: str | None = None) -> dict[str, Any]:
    """`/unitcost METRIC [team] [period]`."""
    definition = figures.definition
    title = f"{ICON} {definition.title}: {subject_text(figures)} · {figures.period.title}"
    figure = unit_figure_text(definition, figures.current.unit_cost, figures.currency)
    body = (
        f"*{blocks.escape_mrkdwn(figure)}*\n{blocks.escape_mrkdwn(_sums_sentence(figures))}\n"
        f"{blocks.escape_mrkdwn(change_text(figures))}"
    )
    content = [blocks.header(blocks.plain_safe(blocks.shorten(title, 140))), blocks.section(body)]
    gaps = gap_lines(figures.current, figures.currency, definition)
    if gaps:
        content.append(blocks.section(blocks.bulleted_list(gaps)))
    reference = reference_text(figures.reference, definition)
    if reference:
        content.append(blocks.context([blocks.escape_mrkdwn(reference)]))
    if chart_file_id and figures.weeks:
        content.append(
            blocks.image(
                chart_alt_text(figures),
                slack_file_id=chart_file_id,
                title=blocks.plain_safe(f"Weekly {definition.title.lower()}"),
            )
        )
    content.append(
        blocks.context([footer(figures.cost_metric, figures.data_through, figures.currency)])
    )
    return blocks.message(fallback_text(figures), content)


def overview_line(figures: UnitFigures) -> str:
    definition = figures.definition
    figure = unit_figure_text(definition, figures.current.unit_cost, figures.currency)
    change = change_text(figures).split(" vs ")[0] if figures.previous else "no comparison"
    gaps = " · gaps" if figures.current.has_gaps else ""
    return (
        f"`{blocks.escape_mrkdwn(definition.name)}`: *{blocks.escape_mrkdwn(figure)}* "
        f"({blocks.escape_mrkdwn(change)}) · "
        f"{format_money(figures.current.cost_micros, figures.currency)} / "
        f"{_volume_text(definition, figures.current.volume, figures.currency)}{gaps}"
    )


def render_overview(
    all_figures: list[UnitFigures],
    period: Period,
    scope_label: str | None,
    data_through: date | None,
    metric: str,
    currency: str,
    without_values: Sequence[str] = (),
) -> dict[str, Any]:
    """Bare `/unitcost` (or `/unitcost TEAM`): every unit metric, one line each, then the
    configured ones that cannot be shown yet (`without_values`: plain text, with why)."""
    who = f": {scope_label}" if scope_label else ""
    title = f"{ICON} Unit costs{who} · {period.title}"
    intro = (
        f"{period.label}, change vs the same days of the previous period "
        "(month to date: the same days of last month)"
    )
    lines = [overview_line(f) for f in all_figures]
    listing = blocks.bulleted_list(lines, escape=False, empty_text="_No unit metrics to show._")
    content = [
        blocks.header(blocks.plain_safe(blocks.shorten(title, 140))),
        blocks.section(blocks.escape_mrkdwn(intro)),
        blocks.section(listing),
        blocks.context(
            ["`/unitcost METRIC [team] [period]` for one with its weekly trend and gaps"]
        ),
        blocks.context([footer(metric, data_through, currency)]),
    ]
    if without_values:
        waiting = blocks.truncate(
            blocks.escape_mrkdwn("Not shown: " + "; ".join(without_values)),
            blocks.CONTEXT_TEXT_MAX,
        )
        content.insert(3, blocks.context([waiting]))
    summary = "; ".join(
        f"{f.definition.name} {unit_figure_text(f.definition, f.current.unit_cost, f.currency)}"
        for f in all_figures[:20]
    )
    text = blocks.escape_mrkdwn(f"Unit costs{who}, {period.label}: {summary or 'none'}")
    return blocks.message(text, content)


# ---- chart


def _float(value: Fraction | None) -> float:
    return float(value) if value is not None else float("nan")


def chart_alt_text(figures: UnitFigures) -> str:
    weeks = figures.weeks
    definition = figures.definition
    points = [
        f"week of {format_day(w.start, with_year=False)}: "
        + unit_figure_text(definition, w.unit_cost, figures.currency)
        for w in weeks[-6:]
    ]
    gaps = sum(1 for w in weeks if w.unit_cost is None)
    gap_note = f"; {_plural(gaps, 'week')} without volume left blank" if gaps else ""
    # Plain text, but a `<!here>` in a metric name must never reach Slack raw in any field.
    return blocks.truncate(
        blocks.plain_safe(
            f"Line chart of weekly {definition.title.lower()} for {subject_text(figures)}, "
            f"{format_range(weeks[0].start, weeks[-1].end)}, with weekly cost (bars) and volume "
            f"(dotted line) as context; last weeks: {', '.join(points)}{gap_note}."
        ),
        blocks.IMAGE_ALT_TEXT_MAX,
        mrkdwn=False,
    )


def unit_figure_chart(figures: UnitFigures) -> Figure:
    """Cost per unit per ISO week as the line; the week's cost (bars, right axis) and volume
    (dotted, scaled onto the cost axis) as context. A week without volume leaves a gap."""
    definition, weeks = figures.definition, figures.weeks
    figure, axes = _new_figure()
    # Room for per-unit labels ($0.0000240) on the left and cost labels on the right.
    figure.subplots_adjust(left=0.12, right=0.92)
    title = f"{definition.title}: {subject_text(figures)}, weekly"
    _style_axes(axes, title, value_axis="y")
    x = list(range(len(weeks)))
    context_axes = axes.twinx()
    costs = [w.cost_micros / 1_000_000 for w in weeks]
    context_axes.bar(x, costs, width=0.6, color=COST_COLOR, alpha=0.18, zorder=0)
    volumes = [float(w.volume) for w in weeks]
    top_volume = max(volumes, default=0.0) or 1.0
    top_cost = max(costs, default=0.0) or 1.0
    context_axes.plot(
        x,
        [v / top_volume * top_cost for v in volumes],
        color=VOLUME_COLOR,
        linestyle=":",
        linewidth=1.4,
    )
    context_axes.set_ylim(0, top_cost * 1.15)
    context_axes.tick_params(labelsize=LABEL_SIZE, colors=MUTED_COLOR, length=3)
    context_axes.yaxis.set_major_formatter(
        FuncFormatter(
            lambda v, _p: _plain(format_money_short(round(v * 1_000_000), figures.currency))
        )
    )
    for side in ("top", "left"):
        context_axes.spines[side].set_visible(False)
    axes.set_zorder(context_axes.get_zorder() + 1)
    axes.patch.set_visible(False)
    units = [
        w.unit_cost * 100 if definition.as_percent and w.unit_cost else w.unit_cost for w in weeks
    ]
    axes.plot(x, [_float(u) for u in units], color=TEXT_COLOR, marker="o", markersize=3)
    known = [float(u) for u in units if u is not None]
    axes.set_ylim(0, (max(known) * 1.3) if known else 1)  # room for the legend

    def unit_label(value: float, _position: int) -> str:
        exact = Fraction(value).limit_denominator(10**12)
        if definition.as_percent:
            return _plain(format_percent(exact))
        return _plain(format_unit_cost(exact, figures.currency))

    axes.yaxis.set_major_locator(MaxNLocator(nbins=5))
    axes.yaxis.set_major_formatter(FuncFormatter(unit_label))
    axes.set_xticks(x)
    axes.set_xticklabels([format_day(w.start, with_year=False) for w in weeks], fontsize=LABEL_SIZE)
    axes.set_xlim(-0.6, len(weeks) - 0.4)
    axes.legend(
        handles=[
            Line2D([], [], color=TEXT_COLOR, marker="o", markersize=3, label="cost per unit"),
            Patch(color=COST_COLOR, alpha=0.18, label="weekly cost (right axis)"),
            Line2D([], [], color=VOLUME_COLOR, linestyle=":", label="volume (scaled)"),
        ],
        loc="upper left",
        ncol=3,
        fontsize=LABEL_SIZE - 1,
        frameon=False,
    )
    return figure


def unit_chart(figures: UnitFigures) -> Chart:
    slug = "".join(ch if ch.isalnum() else "-" for ch in figures.definition.name.lower())
    return Chart(
        png=to_png(unit_figure_chart(figures)),
        title=blocks.plain_safe(f"Weekly {figures.definition.title.lower()}"),
        alt_text=chart_alt_text(figures),
        filename=f"unitcost-{slug}-{figures.period.start}-{figures.period.end}.png",
    )
