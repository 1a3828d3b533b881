"""Block Kit messages and charts for `/cost` answers, from plain analytics values."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure

from bot.analytics.cost_report import Budget, CostSummary, Forecast, Ranking, RankingPart
from bot.money import format_change, format_money
from bot.periods import Period, format_day
from bot.render import blocks
from bot.render.charts import daily_cost_figure, ranking_bar_chart, to_png, weekday_shift
from bot.store.queries import Change

METRIC_LABELS = {
    "effective": "Amortized cost (FOCUS EffectiveCost)",
    "billed": "Billed cost (FOCUS BilledCost)",
    "list": "List cost (FOCUS ListCost)",
}
# How much of a name from data a title or sentence shows.
SUBJECT_MAX = 80
SUBJECT_ICONS = {"team": "👥", "service": "🧩", "account": "🏦", "organisation": "🏢"}


@dataclass(frozen=True)
class Chart:
    png: bytes
    title: str
    alt_text: str
    filename: str


# Stands in for the chart's Slack file id until the handler has uploaded it.
CHART_PLACEHOLDER = "costbot-chart"


@dataclass
class Reply:
    """One answer: the Slack payload, and the chart to upload beside it (if any). The
    payload's image block points at CHART_PLACEHOLDER until the chart is uploaded."""

    payload: dict[str, Any]
    chart: Chart | None = None
    # A notice about bad input (unknown name, bad period): `costbot ask` exits 2 on it.
    is_error: bool = False

    @property
    def text(self) -> str:
        return self.payload["text"]

    def with_chart_file(self, file_id: str) -> dict[str, Any]:
        """The payload with the image block pointing at the uploaded file."""
        return _map_chart_blocks(
            self.payload, lambda block: {**block, "slack_file": {"id": file_id}}
        )

    def without_chart(self, note: str) -> dict[str, Any]:
        """The payload with the image block replaced by a note saying why it is missing."""
        return _map_chart_blocks(self.payload, lambda _: blocks.context([note]))


def _map_chart_blocks(payload: dict[str, Any], change) -> dict[str, Any]:
    new_blocks = [
        change(block)
        if block.get("type") == "image"
        and block.get("slack_file", {}).get("id") == CHART_PLACEHOLDER
        else block
        for block in payload.get("blocks", [])
    ]
    return {**payload, "blocks": new_blocks}


def period_line(period: Period) -> str:
    return f"{period.title}: {period.label}"


def no_comparison_text(data_from) -> str:
    """Said instead of a change when the previous period starts before the stored data."""
    return f"no comparison: the store starts {format_day(data_from)}"


def _change_text(change: Change, currency: str, has_comparison: bool = True) -> str:
    if not has_comparison:
        return ""
    if change.previous == 0 and change.current:
        return "new this period"
    return format_change(change.current, change.previous, currency)


def _budget_field(summary: CostSummary) -> str | None:
    return budget_text(summary.budget) if summary.budget is not None else None


def budget_text(budget: Budget) -> str:
    """Budget burn: spent against the month's budget, against the share of the month gone
    (`/cost team`'s, the weekly digest's)."""
    used = budget.used_fraction * 100
    elapsed = budget.share_of_month_elapsed * 100
    flag = "🔴" if budget.spent_micros > budget.monthly_micros else "🟢"
    if budget.share_of_month_elapsed < 1 and used > elapsed:
        flag = "🟠"
    days = (
        f" ({budget.days_elapsed} of {budget.days_in_month} days with data)"
        if budget.days_elapsed < budget.days_in_month
        else ""
    )
    return (
        f"*Budget ({budget.month_label})*\n{flag} "
        f"{format_money(budget.spent_micros, budget.currency)} of "
        f"{format_money(budget.monthly_micros, budget.currency)}: {used:.1f}% used, "
        f"{elapsed:.0f}% of the month gone{days}"
    )


def _forecast_field(summary: CostSummary) -> str | None:
    if summary.forecast is None:
        return None
    return forecast_text(summary.forecast, summary.currency, summary.budget)


def forecast_text(forecast: Forecast, currency: str, budget: Budget | None) -> str:
    """The month-end forecast with how it is made, and where it lands against the budget:
    `/cost team`'s, the weekly digest's."""
    text = (
        f"*Forecast for {format_day(forecast.month_end)}*\n"
        f"{format_money(forecast.projected_micros, currency)}: through "
        f"{format_day(forecast.average_window.end, with_year=False)} "
        f"{format_money(forecast.month_to_date_micros, currency)} + "
        # The average is shown to the cent, the projection uses it unrounded: "≈" says why
        # the parts may differ from the total by a few cents.
        f"≈{format_money(forecast.daily_average_micros, currency)}/day (average of "
        f"{forecast.average_window.label}) × {forecast.remaining_days} days left"
    )
    if budget is not None:
        over = forecast.projected_micros - budget.monthly_micros
        text += (
            f"\n⚠️ {format_money(over, currency)} over budget"
            if over > 0
            else f"\n{format_money(-over, currency)} under budget"
        )
    return text


def _comparison_line(summary: CostSummary) -> str:
    if not summary.has_comparison:
        return no_comparison_text(summary.data_from)
    previous = summary.previous_micros or 0
    change = format_change(summary.total_micros, previous, summary.currency)
    return f"{change} vs {summary.previous.label} ({format_money(previous, summary.currency)})"


def _top_table(summary: CostSummary) -> str:
    rows = [
        (c.name, c.current, _change_text(c, summary.currency, summary.has_comparison))
        for c in summary.top
    ]
    table = blocks.ranked_table(
        rows, empty_text="_No cost recorded in this period._", currency=summary.currency
    )
    if summary.others:
        noun = summary.breakdown_by if summary.others == 1 else f"{summary.breakdown_by}s"
        table += f"\n_…and {summary.others} more {noun}_"
    return table


def _top_title(summary: CostSummary, in_currency: str = "") -> str:
    compared = (
        f"change vs {summary.previous.label}"
        if summary.has_comparison
        else no_comparison_text(summary.data_from)
    )
    return f"*Top {summary.breakdown_by}s{in_currency}* ({compared})"


def _other_currency_blocks(subject: str, other: CostSummary) -> list[dict[str, Any]]:
    """Cost of the same scope billed in another currency: its own total, change, budget (if
    the budget is in that currency), forecast and top list, never added to the first's."""
    body = (
        f"*Also billed in {other.currency}: {format_money(other.total_micros, other.currency)}* "
        f"by *{subject}*, {other.period.label}\n{_comparison_line(other)}"
    )
    content = [blocks.section(body)]
    fields = [f for f in (_budget_field(other), _forecast_field(other)) if f]
    if fields:
        content.append(blocks.section(fields=fields))
    top = f"{_top_title(other, f' in {other.currency}')}\n{_top_table(other)}"
    return [*content, blocks.section(top)]


def render_summary(summary: CostSummary, chart_file_id: str | None = None) -> dict[str, Any]:
    """The `/cost team|service|account` message. `chart_file_id` is the uploaded chart's
    Slack file id (or a preview key); without it the message has no image block."""
    # Names come from data (tags, service and account names): escaped in every mrkdwn
    # field, fallback text included, and shortened so the amounts after them still fit.
    subject = blocks.escape_mrkdwn(blocks.shorten(summary.subject, SUBJECT_MAX))
    title = (
        f"{SUBJECT_ICONS[summary.subject_kind]} "
        f"{blocks.plain_safe(blocks.shorten(summary.subject, SUBJECT_MAX))}: "
        f"{summary.period.title}"
    )
    currency_note = f" (billed in {summary.currency})" if summary.other_currencies else ""
    body = (
        f"*{format_money(summary.total_micros, summary.currency)}* spent by *{subject}*"
        f"{currency_note}, {summary.period.label}\n{_comparison_line(summary)}"
    )
    fields = [f for f in (_budget_field(summary), _forecast_field(summary)) if f]
    content = [blocks.header(title), blocks.section(body)]
    if fields:
        content.append(blocks.section(fields=fields))
    in_currency = f" in {summary.currency}" if summary.other_currencies else ""
    content.append(blocks.section(f"{_top_title(summary, in_currency)}\n{_top_table(summary)}"))
    for other in summary.other_currencies:
        content += _other_currency_blocks(subject, other)
    if chart_file_id:
        content.append(
            blocks.image(
                chart_alt_text(summary),
                slack_file_id=chart_file_id,
                title=f"Daily cost, {summary.period.label}",
            )
        )
    content.append(blocks.context([footer(summary.metric, summary.data_through)]))
    return blocks.message(_summary_fallback(summary), content)


def _summary_fallback(summary: CostSummary) -> str:
    when = summary.period.title
    when = when if summary.period.kind == "month" else when.lower()
    amounts = []
    for part in (summary, *summary.other_currencies):
        change = (
            f"{format_change(part.total_micros, part.previous_micros or 0, part.currency)}"
            " vs the previous period"
            if part.has_comparison
            else no_comparison_text(part.data_from)
        )
        amounts.append(f"{format_money(part.total_micros, part.currency)}, {change}")
    subject = blocks.escape_mrkdwn(blocks.shorten(summary.subject, SUBJECT_MAX))
    return f"{subject}: {when} ({summary.period.label}): " + "; ".join(amounts)


def footer(metric: str, data_through) -> str:
    through = f"data through {format_day(data_through)}" if data_through else "no data loaded yet"
    return f"{METRIC_LABELS[metric]} · {through} · `/cost help` for more"


def _budget_per_day(summary: CostSummary) -> int | None:
    """A monthly budget spread evenly over the days of the month."""
    if summary.budget is None:
        return None
    start = summary.period.start
    return summary.budget.monthly_micros // calendar.monthrange(start.year, start.month)[1]


def _comparison_description(summary: CostSummary) -> str:
    shift = weekday_shift(summary.period.start, summary.previous.start)
    if not shift:
        return f"the previous period ({summary.previous.label}), day by day"
    direction = "later" if shift > 0 else "earlier"
    plural = "s" if abs(shift) > 1 else ""
    return (
        f"the previous period ({summary.previous.label}), drawn {abs(shift)} day{plural} "
        f"{direction} so that weekdays line up"
    )


def chart_alt_text(summary: CostSummary) -> str:
    if not summary.daily:
        return f"Daily cost of {summary.subject}: no days in the period."
    currency = summary.currency
    peak_day, peak = max(summary.daily, key=lambda item: item[1])
    lines = []
    if summary.previous_daily:
        lines.append(f"grey line: {_comparison_description(summary)}")
    budget = _budget_per_day(summary)
    if budget is not None:
        lines.append(
            f"dashed red line: the {summary.budget.month_label} budget spread evenly, "
            f"{format_money(budget, currency)}/day"
        )
    others = (
        f" Amounts in {currency} only; "
        + ", ".join(f"{o.currency} {o.period.label} not shown" for o in summary.other_currencies)
        + "."
        if summary.other_currencies
        else ""
    )
    return (
        f"Bar chart of daily cost for {summary.subject}, {summary.period.label}: "
        f"total {format_money(summary.total_micros, currency)}, highest "
        f"{format_money(peak, currency)} on {format_day(peak_day)}"
        + (f"; {'; '.join(lines)}" if lines else "")
        + "."
        + others
    )


def summary_figure(summary: CostSummary) -> Figure:
    """The daily chart of the summary's first (largest) currency: one currency per chart."""
    currency_title = f" ({summary.currency} only)" if summary.other_currencies else ""
    return daily_cost_figure(
        [d for d, _ in summary.daily],
        [a for _, a in summary.daily],
        f"{summary.subject}: daily cost{currency_title}, {summary.period.label}",
        budget_daily_micros=_budget_per_day(summary),
        comparison=[a for _, a in summary.previous_daily] or None,
        comparison_label=f"previous period ({summary.previous.label})",
        comparison_start=summary.previous.start,
        currency=summary.currency,
    )


def summary_chart(summary: CostSummary) -> Chart:
    png = to_png(summary_figure(summary))
    slug = "".join(ch if ch.isalnum() else "-" for ch in summary.subject.lower()).strip("-")
    return Chart(
        png=png,
        title=f"{summary.subject} daily cost, {summary.period.label}",
        alt_text=chart_alt_text(summary),
        filename=f"cost-{slug or 'chart'}-{summary.period.start}-{summary.period.end}.png",
    )


def _ranking_part_text(ranking: Ranking, part: RankingPart, several: bool) -> str:
    in_currency = f" billed in {part.currency}" if several else ""
    total = f"*{format_money(part.total_micros, part.currency)}* in total{in_currency}"
    if ranking.has_comparison:
        change = format_change(part.total_micros, part.previous_micros or 0, part.currency)
        return (
            f"{total}, {ranking.period.label}\n{change} vs {ranking.previous.label} "
            f"({format_money(part.previous_micros or 0, part.currency)}); "
            "each row's change, largest spend first:"
        )
    return (
        f"{total}, {ranking.period.label}\n{no_comparison_text(ranking.data_from)}; "
        "largest spend first:"
    )


def render_ranking(ranking: Ranking, chart_file_id: str | None = None) -> dict[str, Any]:
    """`/cost top`: one ranking per billing currency, never one total across currencies."""
    by, period = ranking.by, ranking.period
    several = len(ranking.parts) > 1
    content = [blocks.header(f"🏆 Top {by}s: {period.title}")]
    for part in ranking.parts:
        rows = [
            (c.name, c.current, _change_text(c, part.currency, ranking.has_comparison))
            for c in part.changes
        ]
        content.append(blocks.section(_ranking_part_text(ranking, part, several)))
        content.append(
            blocks.section(blocks.ranked_table(rows, max_items=25, currency=part.currency))
        )
    if not ranking.parts:
        content.append(blocks.section(f"_No cost recorded in {period.label}._"))
    if chart_file_id and ranking.parts:
        content.append(
            blocks.image(
                ranking_alt_text(ranking),
                slack_file_id=chart_file_id,
                title=f"Top {by}s, {period.label}",
            )
        )
    content.append(blocks.context([footer(ranking.metric, ranking.data_through)]))
    return blocks.message(_ranking_fallback(ranking), content)


def _ranking_fallback(ranking: Ranking) -> str:
    parts = []
    for part in ranking.parts:
        leader = (
            f"; largest: {blocks.escape_mrkdwn(blocks.shorten(part.changes[0].name, SUBJECT_MAX))}"
            f" {format_money(part.changes[0].current, part.currency)}"
            if part.changes
            else ""
        )
        parts.append(f"{format_money(part.total_micros, part.currency)} in total{leader}")
    totals = "; ".join(parts) or "no cost"
    compared = "" if ranking.has_comparison else f" ({no_comparison_text(ranking.data_from)})"
    return f"Top {ranking.by}s, {ranking.period.label}: {totals}{compared}"


def ranking_alt_text(ranking: Ranking) -> str:
    if not ranking.parts:
        return f"Bar chart of the top {ranking.by}s by cost, {ranking.period.label}: no cost."
    part = ranking.parts[0]
    top = ", ".join(f"{c.name} {format_money(c.current, part.currency)}" for c in part.changes[:5])
    only = f" (amounts in {part.currency} only)" if len(ranking.parts) > 1 else ""
    return (
        f"Bar chart of the top {ranking.by}s by cost{only}, {ranking.period.label}: "
        f"{top or 'no cost'}."
    )


def ranking_chart(ranking: Ranking) -> Chart:
    """The ranking of the largest currency: one currency per chart, saying so if there are more."""
    by, period = ranking.by, ranking.period
    part = ranking.parts[0] if ranking.parts else RankingPart("USD", 0, None, [])
    shown = part.changes[:10]
    only = f" ({part.currency} only)" if len(ranking.parts) > 1 else ""
    png = ranking_bar_chart(
        [c.name for c in shown],
        [c.current for c in shown],
        f"Top {by}s{only}, {period.label}",
        currency=part.currency,
    )
    return Chart(
        png=png,
        title=f"Top {by}s, {period.label}",
        alt_text=ranking_alt_text(ranking),
        filename=f"top-{by}s-{period.start}-{period.end}.png",
    )


def render_notice(text: str, *, title: str | None = None) -> dict[str, Any]:
    """An ephemeral one-off: usage, unknown names, errors the user can fix."""
    content = []
    if title:
        content.append(blocks.header(title))
    content.append(blocks.section(text))
    return blocks.message(text.splitlines()[0], content, response_type="ephemeral")
