"""Block Kit messages and charts for `/cost` answers, from plain analytics values."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from typing import Any

from bot.analytics.cost_report import CostSummary
from bot.money import format_change, format_usd
from bot.periods import Period, format_day
from bot.render import blocks
from bot.render.charts import daily_cost_chart, ranking_bar_chart
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


def _change_text(change: Change) -> str:
    if change.previous == 0 and change.current:
        return "new this period"
    return format_change(change.current, change.previous)


def _budget_field(summary: CostSummary) -> str | None:
    budget = summary.budget
    if budget is None:
        return None
    used = budget.used_fraction * 100
    elapsed = budget.share_of_month_elapsed * 100
    flag = "🔴" if budget.spent_micros > budget.monthly_micros else "🟢"
    if budget.share_of_month_elapsed < 1 and used > elapsed:
        flag = "🟠"
    return (
        f"*Budget ({budget.month_label})*\n{flag} {format_usd(budget.spent_micros)} of "
        f"{format_usd(budget.monthly_micros)}: {used:.1f}% used, {elapsed:.0f}% of the month gone"
    )


def _forecast_field(summary: CostSummary) -> str | None:
    forecast = summary.forecast
    if forecast is None:
        return None
    text = (
        f"*Forecast for {format_day(forecast.month_end)}*\n"
        f"{format_usd(forecast.projected_micros)}: month to date "
        f"{format_usd(forecast.month_to_date_micros)} + "
        f"{format_usd(forecast.daily_average_micros)}/day (average of "
        f"{forecast.average_window.label}) × {forecast.remaining_days} days left"
    )
    if summary.budget is not None:
        over = forecast.projected_micros - summary.budget.monthly_micros
        text += (
            f"\n⚠️ {format_usd(over)} over budget"
            if over > 0
            else f"\n{format_usd(-over)} under budget"
        )
    return text


def render_summary(summary: CostSummary, chart_file_id: str | None = None) -> dict[str, Any]:
    """The `/cost team|service|account` message. `chart_file_id` is the uploaded chart's
    Slack file id (or a preview key); without it the message has no image block."""
    # Names come from data (tags, service and account names): escaped in every mrkdwn
    # field, fallback text included, and shortened so the amounts after them still fit.
    subject = blocks.escape_mrkdwn(blocks.shorten(summary.subject, SUBJECT_MAX))
    change = format_change(summary.total_micros, summary.previous_micros)
    title = (
        f"{SUBJECT_ICONS[summary.subject_kind]} "
        f"{blocks.plain_safe(blocks.shorten(summary.subject, SUBJECT_MAX))}: "
        f"{summary.period.title}"
    )
    body = (
        f"*{format_usd(summary.total_micros)}* spent by *{subject}*, {summary.period.label}\n"
        f"{change} vs {summary.previous.label} ({format_usd(summary.previous_micros)})"
    )
    fields = [f for f in (_budget_field(summary), _forecast_field(summary)) if f]
    content = [blocks.header(title), blocks.section(body)]
    if fields:
        content.append(blocks.section(fields=fields))
    rows = [(c.name, c.current, _change_text(c)) for c in summary.top]
    top_title = f"*Top {summary.breakdown_by}s* (change vs {summary.previous.label})"
    table = blocks.ranked_table(rows, empty_text="_No cost recorded in this period._")
    if summary.others:
        noun = summary.breakdown_by if summary.others == 1 else f"{summary.breakdown_by}s"
        table += f"\n_…and {summary.others} more {noun}_"
    content.append(blocks.section(f"{top_title}\n{table}"))
    if chart_file_id:
        content.append(
            blocks.image(
                chart_alt_text(summary),
                slack_file_id=chart_file_id,
                title=f"Daily cost, {summary.period.label}",
            )
        )
    content.append(blocks.context([footer(summary.metric, summary.data_through)]))
    when = summary.period.title
    when = when if summary.period.kind == "month" else when.lower()
    fallback = (
        f"{subject}: {format_usd(summary.total_micros)}, {when} "
        f"({summary.period.label}), {change} vs the previous period"
    )
    return blocks.message(fallback, content, response_type="in_channel")


def footer(metric: str, data_through) -> str:
    through = f"data through {format_day(data_through)}" if data_through else "no data loaded yet"
    return f"{METRIC_LABELS[metric]} · {through} · `/cost help` for more"


def chart_alt_text(summary: CostSummary) -> str:
    amounts = [a for _, a in summary.daily]
    if not amounts:
        return f"Daily cost of {summary.subject}: no days in the period."
    peak_day, peak = max(summary.daily, key=lambda item: item[1])
    return (
        f"Bar chart of daily cost for {summary.subject}, {summary.period.label}: "
        f"total {format_usd(summary.total_micros)}, highest {format_usd(peak)} on "
        f"{format_day(peak_day)}; dashed line: the previous period."
    )


def summary_chart(summary: CostSummary) -> Chart:
    budget_daily = None
    if summary.budget is not None:
        # A monthly budget spread evenly over the days of the month.
        start = summary.period.start
        budget_daily = (
            summary.budget.monthly_micros // calendar.monthrange(start.year, start.month)[1]
        )
    png = daily_cost_chart(
        [d for d, _ in summary.daily],
        [a for _, a in summary.daily],
        f"{summary.subject}: daily cost, {summary.period.label}",
        budget_daily_micros=budget_daily,
        comparison=[a for _, a in summary.previous_daily][: len(summary.daily)],
        comparison_label=f"previous period ({summary.previous.label})",
    )
    slug = "".join(ch if ch.isalnum() else "-" for ch in summary.subject.lower()).strip("-")
    return Chart(
        png=png,
        title=f"{summary.subject} daily cost, {summary.period.label}",
        alt_text=chart_alt_text(summary),
        filename=f"cost-{slug or 'chart'}-{summary.period.start}-{summary.period.end}.png",
    )


def render_ranking(
    by: str,
    period: Period,
    previous: Period,
    changes: list[Change],
    total_micros: int,
    metric: str,
    data_through,
    chart_file_id: str | None = None,
) -> dict[str, Any]:
    rows = [(c.name, c.current, _change_text(c)) for c in changes]
    content = [
        blocks.header(f"🏆 Top {by}s: {period.title}"),
        blocks.section(
            f"*{format_usd(total_micros)}* in total, {period.label}\n"
            f"Change vs {previous.label}, largest spend first:"
        ),
        blocks.section(blocks.ranked_table(rows, max_items=25)),
    ]
    if chart_file_id:
        content.append(
            blocks.image(
                ranking_alt_text(by, period, changes),
                slack_file_id=chart_file_id,
                title=f"Top {by}s, {period.label}",
            )
        )
    content.append(blocks.context([footer(metric, data_through)]))
    leader = (
        f"; largest: {blocks.escape_mrkdwn(blocks.shorten(changes[0].name, SUBJECT_MAX))} "
        f"{format_usd(changes[0].current)}"
        if changes
        else ""
    )
    fallback = f"Top {by}s, {period.label}: {format_usd(total_micros)} in total{leader}"
    return blocks.message(fallback, content, response_type="in_channel")


def ranking_alt_text(by: str, period: Period, changes: list[Change]) -> str:
    top = ", ".join(f"{c.name} {format_usd(c.current)}" for c in changes[:5])
    return f"Bar chart of the top {by}s by cost, {period.label}: {top or 'no cost'}."


def ranking_chart(by: str, period: Period, changes: list[Change]) -> Chart:
    shown = changes[:10]
    png = ranking_bar_chart(
        [c.name for c in shown], [c.current for c in shown], f"Top {by}s, {period.label}"
    )
    return Chart(
        png=png,
        title=f"Top {by}s, {period.label}",
        alt_text=ranking_alt_text(by, period, changes),
        filename=f"top-{by}s-{period.start}-{period.end}.png",
    )


def render_notice(text: str, *, title: str | None = None) -> dict[str, Any]:
    """An ephemeral one-off: usage, unknown names, errors the user can fix."""
    content = []
    if title:
        content.append(blocks.header(title))
    content.append(blocks.section(text))
    return blocks.message(text.splitlines()[0], content, response_type="ephemeral")
