"""Block Kit for the quarterly report (CTO, CFO): spend per month against revenue, unit-cost
trend, commitment purchases, waste eliminated and forecast against actuals, with a chart of
monthly spend (and revenue, when there is a revenue metric). Every amount to the cent, months
spelled out with their dates, names from data escaped, lists cut with "and N more"."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from bot.analytics.chargeback import month_period
from bot.analytics.quarterly_report import QuarterlyReport, UnitTrend
from bot.money import format_change, format_money, format_unit_cost, to_micros
from bot.render import blocks
from bot.render.cost import CHART_PLACEHOLDER
from bot.render.monthly_report import OK, WARN, _percent, month_text

esc = blocks.escape_mrkdwn
ACTIONS = {"stops": "stopped", "terminations": "terminated"}


def quarter_text(report: QuarterlyReport) -> str:
    """`Q3 2026 (Jul 1 – Sep 30, 2026)`."""
    quarter = report.quarter
    return f"Q{quarter.number} {quarter.year} ({quarter.period.label})"


def _share_text(share: Fraction | None, report: QuarterlyReport) -> str:
    if share is None:
        return "no revenue values"
    reference = report.revenue_reference
    value = share * 100
    # Cloud cost as a share of revenue: lower is better, so under the field's usual range is
    # good news (said as such), over it is the warning.
    if value > Fraction(reference.high):
        mark = f"{WARN} above the usual range"
    elif value < Fraction(reference.low):
        mark = f"{OK} below the usual range"
    else:
        mark = OK
    return (
        f"{_percent(value)}% of revenue ({esc(reference.field)}: {reference.low}–"
        f"{reference.high}%) {mark}"
    )


def _spend_lines(report: QuarterlyReport) -> list[str]:
    lines = []
    for month in report.spend:
        amounts = (
            ", ".join(format_money(micros, code) for code, micros in month.by_currency.items())
            or "no cost"
        )
        line = f"{month_text(month.month)}: *{amounts}*"
        if report.revenue_metric:
            if month.revenue is None:
                line += "; no revenue values"
            else:
                revenue = format_money(to_micros(month.revenue), report.currency)
                share = _share_text(month.cost_share(report.currency), report)
                line += f"; revenue {revenue}, cost {share}"
        lines.append(line)
    for code, micros in report.totals.items():
        before = report.previous_totals.get(code, 0)
        change = f", {format_change(micros, before, code)} vs the quarter before" if before else ""
        lines.append(f"*Quarter: {format_money(micros, code)}*{change}")
    if report.revenue_metric and report.revenue_total is not None:
        revenue = format_money(to_micros(report.revenue_total), report.currency)
        lines.append(
            f"Revenue ({esc(report.revenue_metric)}): {revenue}; cost"
            f" {_share_text(report.quarter_cost_share(), report)}"
        )
    elif not report.revenue_metric:
        wanted = esc(report.revenue_wanted)
        lines.append(
            f"_No values of the revenue metric `{wanted}`: load them with `costbot ingest"
            " metrics` (or name another with `reports.revenue_metric`) to see spend against"
            " revenue._"
        )
    return lines


def _unit_value(trend: UnitTrend, value: Fraction | None) -> str:
    if value is None:
        return "n/a"
    if trend.as_percent:
        return f"{_percent(value * 100)}%"
    return format_unit_cost(value, trend.currency)


def unit_trend_line(trend: UnitTrend, report: QuarterlyReport) -> str:
    months = ", ".join(
        f"{month.month.start:%b} {_unit_value(trend, value)}"
        for month, value in zip(report.spend, trend.values, strict=True)
    )
    change = trend.change_percent
    moved = ""
    if change is not None:
        sign = "+" if change >= 0 else "-"
        moved = f" ({sign}{_percent(abs(change))}% over the quarter)"
    return f"{esc(trend.title)}: {months}{moved}"


def _purchase_lines(report: QuarterlyReport) -> list[str]:
    if not report.purchases:
        return ["None recorded (FOCUS Purchase charges of Savings Plans or reservations)."]
    return [
        f"{month_period(p.month).start:%B %Y}: {esc(p.kind)},"
        f" {format_money(p.billed_micros, p.currency)} billed"
        for p in report.purchases
    ]


def _waste_text(report: QuarterlyReport) -> str:
    if not report.waste:
        return "Nothing stopped or terminated through Costbot this quarter."
    totals = "; ".join(
        f"*{format_money(m, c)}/month* ({format_money(m * 12, c)}/year)"
        for c, m in sorted(report.waste_totals().items())
    )
    lines = []
    for line in report.waste:
        what = ", ".join(
            f"{getattr(line, attr)} {word}" for attr, word in ACTIONS.items() if getattr(line, attr)
        )
        lines.append(
            f"{esc(line.team)}: {format_money(line.monthly_micros, line.currency)}/month,"
            f" {line.resources} resource{'s' if line.resources != 1 else ''} ({what})"
        )
    listed = blocks.bulleted_list(lines, max_chars=2400, max_items=15, escape=False)
    return f"Run-rate saved: {totals}\n{listed}"


def _forecast_lines(report: QuarterlyReport) -> list[str]:
    lines = []
    for check in report.forecasts:
        actual = format_money(check.actual_micros, check.currency)
        if check.forecast_micros is None:
            lines.append(f"{check.month.start:%B}: actual {actual}; no forecast stored")
            continue
        forecast = format_money(check.forecast_micros, check.currency)
        error = check.error_fraction
        off = (
            "" if error is None else f", {'+' if error >= 0 else '-'}{_percent(abs(error) * 100)}%"
        )
        inside = ""
        if check.low_micros is not None and check.high_micros is not None:
            within = check.low_micros <= check.actual_micros <= check.high_micros
            inside = " (within the forecast's range)" if within else " (outside its range)"
        lines.append(f"{check.month.start:%B}: forecast {forecast}, actual {actual}{off}{inside}")
    return lines or ["No cost and no forecast in the quarter."]


def quarterly_message(report: QuarterlyReport) -> dict[str, Any]:
    quarter = report.quarter
    content = [blocks.header(f"📈 Quarterly cost report: Q{quarter.number} {quarter.year}")]
    content.append(
        blocks.section(f"*Spend, {quarter_text(report)}*\n" + "\n".join(_spend_lines(report)))
    )
    if report.units:
        lines = [unit_trend_line(t, report) for t in report.units]
        content.append(
            blocks.section(
                "*Unit-cost trend*\n"
                + blocks.bulleted_list(lines, max_chars=2900, max_items=10, escape=False)
            )
        )
    content.append(
        blocks.section(
            "*Commitment purchases*\n"
            + blocks.bulleted_list(
                _purchase_lines(report), max_chars=2900, max_items=12, escape=False
            )
        )
    )
    content.append(
        blocks.section(f"*Waste eliminated* (enforcement and idle stops)\n{_waste_text(report)}")
    )
    content.append(
        blocks.section(
            "*Forecast against actuals* (each month's last forecast stored by the sync)\n"
            + blocks.bulleted_list(_forecast_lines(report), max_chars=2900, escape=False)
        )
    )
    content.append(blocks.image(alt_text(report), slack_file_id=CHART_PLACEHOLDER))
    return blocks.message(fallback(report), content)


def fallback(report: QuarterlyReport) -> str:
    totals = "; ".join(format_money(m, c) for c, m in report.totals.items()) or "no cost"
    share = report.quarter_cost_share()
    revenue = f", {_percent(share * 100)}% of revenue" if share is not None else ""
    return f"Quarterly cost report, {quarter_text(report)}: {totals}{revenue}"


def _chart_series(report: QuarterlyReport) -> tuple[list[str], list[int], list[int | None]]:
    labels = [m.month.start.strftime("%b %Y") for m in report.spend]
    amounts = [m.by_currency.get(report.currency, 0) for m in report.spend]
    revenue = [to_micros(m.revenue) if m.revenue is not None else None for m in report.spend]
    return labels, amounts, revenue


def alt_text(report: QuarterlyReport) -> str:
    labels, amounts, revenue = _chart_series(report)
    bars = ", ".join(
        f"{label} {format_money(a, report.currency)}"
        for label, a in zip(labels, amounts, strict=True)
    )
    line = ""
    if report.revenue_metric and any(r is not None for r in revenue):
        line = "; revenue line: " + ", ".join(
            f"{label} {format_money(r, report.currency)}"
            for label, r in zip(labels, revenue, strict=True)
            if r is not None
        )
    spend = f"monthly cloud spend in {report.currency}, {quarter_text(report)}"
    return f"Bar chart of {spend}: {bars}{line}."


def chart_args(report: QuarterlyReport) -> tuple:
    """Plain arguments of `bot.render.monthly_report.monthly_cost_chart`."""
    labels, amounts, revenue = _chart_series(report)
    with_revenue = report.revenue_metric is not None and any(r is not None for r in revenue)
    title = f"Q{report.quarter.number} {report.quarter.year}: monthly spend" + (
        " vs revenue" if with_revenue else ""
    )
    return (
        title,
        labels,
        amounts,
        None,
        report.currency,
        alt_text(report),
        f"quarterly-{report.quarter.name}.png",
        revenue if with_revenue else None,
        "revenue",
    )
