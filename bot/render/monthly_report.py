"""Block Kit for the monthly report: one message per team (to its leads) and the
organisation's summary (to FinOps), each with a chart of the last six months. Every amount to
the cent, the month spelled out with its dates, targets as "72.4% (target 70–80%) ✅", names
from data escaped everywhere (fallback text included), long lists cut with "and N more", and
at most 50 blocks whatever the number of teams."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from bot.analytics.commitments import Ratio, Target
from bot.analytics.monthly_report import (
    BudgetFigures,
    CommitmentFigures,
    OrgMonth,
    TeamMonth,
    UnitLine,
)
from bot.analytics.opportunities import (
    SAVINGS_PLAN_DISCOUNT,
    Opportunity,
    TagFigures,
    percent_text,
)
from bot.money import format_change, format_money, format_unit_cost
from bot.periods import Period, format_day
from bot.render import blocks
from bot.render.charts import (
    BUDGET_COLOR,
    COMPARISON_COLOR,
    COST_COLOR,
    LABEL_SIZE,
    TEXT_COLOR,
    _dollars,
    _new_figure,
    _no_cost_figure,
    _plain,
    _set_amount_axis,
    _short_amount,
    _style_axes,
    to_png,
)
from bot.render.cost import CHART_PLACEHOLDER, Chart

OK, WARN = "✅", "⚠️"
TEAMS_SHOWN = 25  # teams in the summary's table before "and N more"
CHARGEBACK_COMMAND = "costbot report chargeback --month {month}"

esc = blocks.escape_mrkdwn


def cent_money(amount: Decimal, currency: str) -> str:
    """A chargeback amount (Decimal, to the cent) as every amount is shown."""
    return format_money(int(amount * 1_000_000), currency)


def _versus(amount, previous: Period) -> str:
    """`$1,234.56 in ..., +$12.00 (+1.0%) vs September 2026 ($1,222.56)` without the subject."""
    change = format_change(amount.micros, amount.previous_micros, amount.currency)
    before = format_money(amount.previous_micros, amount.currency)
    return f"{change} vs {previous.start:%B %Y} ({before})"


def month_text(period: Period) -> str:
    """`October 2026 (Oct 1 – Oct 31, 2026)`."""
    return f"{period.start:%B %Y} ({period.label})"


def target_text(ratio: Ratio) -> str:
    """`72.4% (target 70–80%) ✅`; `n/a` when nothing to divide by."""
    if not ratio.applies:
        return "n/a (nothing to measure)"
    target = ratio.target
    mark = OK if ratio.verdict == "within" else WARN
    return f"{ratio.percent}% (target {_range(target)}) {mark}"


def _range(target: Target) -> str:
    low, high = percent_text(target.low), percent_text(target.high)
    return f"{low}%+" if high == "100" else f"{low}–{high}%"


def _percent(value: Fraction | Decimal) -> str:
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}"


def _change_percent(change: Fraction | None) -> str:
    if change is None:
        return "no comparison"
    sign = "+" if change >= 0 else "-"
    return f"{sign}{_percent(abs(change))}%"


def unit_line(line: UnitLine, previous: Period) -> str:
    """`Cost per api request: $0.0263 (September 2026: $0.0256, +2.8%)`; already escaped."""
    title = esc(line.title)

    def value(v: Fraction) -> str:
        return (
            f"{_percent(v * 100)}% of revenue"
            if line.as_percent
            else format_unit_cost(v, line.currency)
        )

    if line.current is None:
        return f"{title}: no volume this month"
    before = (
        f"{previous.start:%B %Y}: {value(line.previous)}, {_change_percent(line.change_percent)}"
        if line.previous is not None
        else f"nothing to compare with in {previous.start:%B %Y}"
    )
    return f"{title}: *{value(line.current)}* ({before})"


def budget_text(budget: BudgetFigures | None) -> str:
    if budget is None:
        return "No monthly budget configured."
    used = _percent(budget.used * 100)
    money = format_money(budget.budget_micros, budget.currency)
    if budget.over:
        over = format_money(budget.spent_micros - budget.budget_micros, budget.currency)
        return f"Budget {money}: {used}% used, *over by {over}* {WARN}"
    left = format_money(budget.budget_micros - budget.spent_micros, budget.currency)
    return f"Budget {money}: {used}% used, {left} left {OK}"


def tagging_text(tag: TagFigures | None, currency: str) -> str:
    if tag is None or tag.share is None:
        return "Tagging compliance: no inventory or resource-level cost for the month."
    share = _percent(tag.share * 100)
    mark = OK if tag.share >= tag.target else WARN
    what = "of cost" if tag.cost_micros else "of resources"
    line = f"Tagging compliance: {share}% {what} (target {percent_text(tag.target)}%) {mark}"
    if tag.noncompliant_cost_micros > 0:
        line += f"; {format_money(tag.noncompliant_cost_micros, currency)} lacks a required tag"
    if tag.as_of is not None:
        line += f" (as of {tag.as_of:%b} {tag.as_of.day})"
    return line


def commitment_lines(figures: CommitmentFigures, *, several: bool) -> list[str]:
    currency = f" ({figures.currency})" if several else ""
    lines = [
        f"Savings Plans coverage{currency}: {target_text(figures.coverage)}",
        f"Spot share of compute{currency}: {target_text(figures.spot_share)}",
    ]
    if figures.utilization is not None:
        lines.insert(1, f"Savings Plans utilization{currency}: {target_text(figures.utilization)}")
    return lines + [f"_{esc(note)}_" for note in figures.notes]


def opportunity_line(item: Opportunity, with_team: bool) -> str:
    team = f"*{esc(item.team)}*: " if with_team and item.team else ""
    monthly = format_money(item.monthly_micros, item.currency)
    if item.is_saving:
        yearly = format_money(item.monthly_micros * 12, item.currency)
        amount = f"about *{monthly}/month* ({yearly}/year)"
    else:
        amount = f"*{monthly}* this month to attribute"
    return f"{team}{esc(item.what)}: {amount}. _{esc(item.basis)}_"


def _opportunities_section(items: Sequence[Opportunity], total: int, with_team: bool) -> str:
    if not items:
        return (
            "*Top opportunities*\nNothing found: no idle instances, untagged spend or low coverage."
        )
    lines = [opportunity_line(item, with_team) for item in items]
    text = blocks.bulleted_list(lines, max_chars=2900, escape=False)
    if total > len(items):
        text += f"\n_…and {total - len(items):,} more_"
    return f"*Top opportunities (estimated monthly savings)*\n{text}"


def _chart_block(alt_text: str) -> blocks.Block:
    return blocks.image(alt_text, slack_file_id=CHART_PLACEHOLDER)


def _footer(period: Period, data_through: date | None) -> list[str]:
    """The assumptions, and a warning when the month's cost is not all loaded yet."""
    percent = percent_text(SAVINGS_PLAN_DISCOUNT)
    notes = [
        f"Coverage savings assume a {percent}% discount (1-year, no-upfront Compute Savings"
        " Plan). Idle and tags: the inventory as last read."
    ]
    if data_through is not None and data_through < period.end:
        notes.insert(
            0,
            f"{WARN} Cost is loaded through {format_day(data_through)} only: the month's"
            " figures are not complete yet.",
        )
    return notes


# ---- a team's report


def team_message(report: TeamMonth) -> dict[str, Any]:
    period, team = report.period, report.team
    name = esc(team)
    content = [
        blocks.header(f"📅 Monthly report: {blocks.shorten(team, 80)}, {period.start:%B %Y}")
    ]
    cost_lines = []
    for amount in report.costs:
        cost_lines.append(
            f"*{format_money(amount.micros, amount.currency)}* in {month_text(period)}, "
            + _versus(amount, report.previous)
        )
    if not cost_lines:
        cost_lines.append(f"No cost recorded for {name} in {month_text(period)}.")
    content.append(
        blocks.section("*Cost*\n" + "\n".join(cost_lines) + "\n" + budget_text(report.budget))
    )
    if report.units:
        lines = [unit_line(u, report.previous) for u in report.units]
        content.append(
            blocks.section(
                "*Unit economics*\n"
                + blocks.bulleted_list(lines, max_chars=2900, max_items=10, escape=False)
            )
        )
    commitment = (
        commitment_lines(report.commitments, several=False)
        if report.commitments is not None
        else ["Savings Plans coverage and spot share: no FOCUS rows with pricing for the team"]
    )
    content.append(
        blocks.section(
            "*Commitments and spot* (the team's own compute)\n"
            + "\n".join(commitment)
            + "\n"
            + tagging_text(report.tagging, report.currency)
        )
    )
    content.append(
        blocks.section(
            _opportunities_section(report.opportunities, len(report.opportunities), False)
        )
    )
    content.append(blocks.section(chargeback_text(report)))
    content.append(_chart_block(team_alt_text(report)))
    content.append(blocks.context(_footer(period, report.data_through)))
    return blocks.message(team_fallback(report), content)


def chargeback_text(report: TeamMonth) -> str:
    row, code = report.chargeback, report.chargeback_currency
    command = CHARGEBACK_COMMAND.format(month=report.period.name)
    if row is None:
        return (
            f"*Chargeback*: {esc(report.team)} has no chargeback row for the month (`{command}`)."
        )

    def money(amount: Decimal) -> str:
        return cent_money(amount, code)

    return (
        f"*Chargeback, {report.period.start:%B %Y}*: direct {money(row.direct)} + shared"
        f" {money(row.shared)} = *{money(row.total)}* (the same numbers as `{command}`)"
    )


def team_fallback(report: TeamMonth) -> str:
    main = report.costs[0] if report.costs else None
    spent = (
        f"{format_money(main.micros, main.currency)}, {_versus(main, report.previous)}"
        if main
        else "no cost"
    )
    team = esc(blocks.shorten(report.team))
    return f"Monthly report for {team}, {month_text(report.period)}: {spent}"


def team_alt_text(report: TeamMonth) -> str:
    bars = ", ".join(
        f"{month.start:%b %Y} {format_money(micros, report.currency)}"
        for month, micros in report.trend
    )
    budget = (
        f"; budget line at {format_money(report.budget.budget_micros, report.currency)}"
        if report.budget
        else ""
    )
    return blocks.plain_safe(
        f"Bar chart of {blocks.shorten(report.team)}'s monthly cost, last {len(report.trend)}"
        f" months: {bars}{budget}."
    )


def team_chart_args(report: TeamMonth) -> tuple:
    """Plain, picklable arguments of `monthly_cost_chart` for a team's message."""
    return (
        f"{blocks.shorten(report.team, 40)}: monthly cost vs budget",
        [month.start.strftime("%b %Y") for month, _ in report.trend],
        [micros for _, micros in report.trend],
        report.budget.budget_micros if report.budget else None,
        report.currency,
        team_alt_text(report),
        f"monthly-{_slug(report.team)}-{report.period.name}.png",
    )


# ---- the organisation's summary


def _team_row(line, currency: str) -> tuple[str, int, str]:
    parts = []
    if line.budget_micros:
        used = _percent(Fraction(line.micros, line.budget_micros) * 100)
        mark = WARN if line.micros > line.budget_micros else OK
        parts.append(f"{used}% of {format_money(line.budget_micros, currency)} {mark}")
    if line.chargeback_total is not None:
        parts.append(f"chargeback {cent_money(line.chargeback_total, currency)}")
    return (line.team, line.micros, " · ".join(parts))


def org_message(report: OrgMonth) -> dict[str, Any]:
    period, currency = report.period, report.currency
    content = [blocks.header(f"📊 Monthly FinOps summary: {period.start:%B %Y}")]
    lines = [
        f"*{format_money(a.micros, a.currency)}* in {month_text(period)}, "
        + _versus(a, report.previous)
        for a in report.costs
    ] or [f"No cost recorded in {month_text(period)}."]
    if report.budget_total_micros:
        over = report.over_budget
        lines.append(
            f"{len(over)} of {sum(1 for t in report.teams if t.budget_micros)} teams with a budget"
            f" went over it {WARN if over else OK}"
            + (": " + ", ".join(esc(blocks.shorten(t.team, 30)) for t in over[:10]) if over else "")
            + (f" and {len(over) - 10:,} more" if len(over) > 10 else "")
        )
    content.append(blocks.section("*Cost*\n" + "\n".join(lines)))
    rows = [_team_row(line, currency) for line in report.teams]
    charges = report.chargeback
    command = CHARGEBACK_COMMAND.format(month=period.name)
    content.append(
        blocks.section(
            f"*Teams* ({len(rows):,}; cost in {currency}, budget used, chargeback = direct +"
            f" shared; chargeback total {cent_money(charges.total, charges.currency)},"
            f" shared pool {cent_money(charges.pool, charges.currency)}"
            f" allocated {esc(charges.allocation)})\n"
            + blocks.ranked_table(rows, max_items=TEAMS_SHOWN, currency=currency, change_width=60)
        )
    )
    untagged = next((r for r in charges.rows if r.team == "untagged"), None)
    tail = f" Untagged: {cent_money(untagged.total, charges.currency)}." if untagged else ""
    content.append(
        blocks.context(
            [f"Every team's chargeback row: `{command}` (the same numbers).{tail}"]
            + [esc(note) for note in report.notes[:3]]
        )
    )
    if report.units:
        unit_lines = [unit_line(u, report.previous) for u in report.units]
        content.append(
            blocks.section(
                "*Unit economics*\n"
                + blocks.bulleted_list(unit_lines, max_chars=2900, max_items=10, escape=False)
            )
        )
    commitment = [
        line
        for figures in report.commitments
        for line in commitment_lines(figures, several=len(report.commitments) > 1)
    ] or [
        "No Savings Plans or spot figures for the month (no FOCUS pricing, no Cost Explorer sync)."
    ]
    content.append(
        blocks.section(
            "*Commitments, spot and tags*\n"
            + "\n".join(commitment)
            + "\n"
            + tagging_text(report.tagging, report.currency)
        )
    )
    content.append(
        blocks.section(_opportunities_section(report.opportunities, report.opportunity_count, True))
    )
    content.append(_chart_block(org_alt_text(report)))
    content.append(blocks.context(_footer(period, report.data_through)))
    return blocks.message(org_fallback(report), content)


def org_fallback(report: OrgMonth) -> str:
    totals = "; ".join(
        f"{format_money(a.micros, a.currency)}, {_versus(a, report.previous)}" for a in report.costs
    )
    return f"Monthly FinOps summary, {month_text(report.period)}: {totals or 'no cost'}"


def org_alt_text(report: OrgMonth) -> str:
    bars = ", ".join(
        f"{month.start:%b %Y} {format_money(micros, report.currency)}"
        for month, micros in report.trend
    )
    budget = (
        f"; line at the teams' budgets, {format_money(report.budget_total_micros, report.currency)}"
        if report.budget_total_micros
        else ""
    )
    return (
        f"Bar chart of the organisation's monthly cost in {report.currency}, last"
        f" {len(report.trend)} months: {bars}{budget}."
    )


def org_chart_args(report: OrgMonth) -> tuple:
    return (
        f"Organisation: monthly cost ({report.currency})",
        [month.start.strftime("%b %Y") for month, _ in report.trend],
        [micros for _, micros in report.trend],
        report.budget_total_micros,
        report.currency,
        org_alt_text(report),
        f"monthly-organisation-{report.period.name}.png",
        None,
        "",
        "teams' budgets",
    )


# ---- the chart


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")[:40] or "team"


def monthly_cost_figure(
    title: str,
    labels: list[str],
    amounts_micros: list[int],
    budget_micros: int | None,
    currency: str,
    line_micros: list[int | None] | None = None,
    line_label: str = "",
    budget_label: str = "budget",
):
    """Monthly bars (the last one, the reported month, darker), a budget line if any, and an
    optional second series as a line (revenue)."""
    if not any(amounts_micros):
        return _no_cost_figure(title)
    figure, axes = _new_figure()
    _style_axes(axes, title, value_axis="y")
    positions = list(range(len(labels)))
    heights = [_dollars(m) for m in amounts_micros]
    colors = [COMPARISON_COLOR] * (len(labels) - 1) + [COST_COLOR]
    axes.bar(positions, heights, width=0.65, color=colors, linewidth=0)
    values = list(heights)
    if budget_micros:
        axes.axhline(_dollars(budget_micros), color=BUDGET_COLOR, linewidth=1.2, linestyle="--")
        axes.annotate(
            _plain(f"{budget_label} {_short_amount(budget_micros, currency)}"),
            (positions[0] - 0.4, _dollars(budget_micros)),
            xytext=(0, 3), textcoords="offset points", fontsize=LABEL_SIZE, color=BUDGET_COLOR,
        )  # fmt: skip
        values.append(_dollars(budget_micros))
    if line_micros and any(v is not None for v in line_micros):
        points = [(p, _dollars(v)) for p, v in zip(positions, line_micros, strict=True) if v]
        axes.plot([p for p, _ in points], [v for _, v in points], marker="o", color=TEXT_COLOR,
                  linewidth=1.2, label=_plain(line_label))  # fmt: skip
        axes.legend(loc="upper left", fontsize=LABEL_SIZE, frameon=False)
        values.extend(v for _, v in points)
    for position, micros in zip(positions, amounts_micros, strict=True):
        axes.annotate(
            _plain(_short_amount(micros, currency)), (position, _dollars(micros)),
            xytext=(0, 3), textcoords="offset points", ha="center", fontsize=LABEL_SIZE,
            color=TEXT_COLOR,
        )  # fmt: skip
    axes.set_xticks(positions, [_plain(label) for label in labels])
    _set_amount_axis(axes, "y", values, currency)
    low, high = axes.get_ylim()
    axes.set_ylim(low, high * 1.1)
    return figure


def monthly_cost_chart(
    title: str,
    labels: list[str],
    amounts_micros: list[int],
    budget_micros: int | None,
    currency: str,
    alt_text: str,
    filename: str,
    line_micros: list[int | None] | None = None,
    line_label: str = "",
    budget_label: str = "budget",
) -> Chart:
    """A module-level function of plain arguments: a `ChartSpec` renders it in a worker."""
    figure = monthly_cost_figure(
        title, labels, amounts_micros, budget_micros, currency, line_micros, line_label,
        budget_label,
    )  # fmt: skip
    return Chart(png=to_png(figure), title=title, alt_text=alt_text, filename=filename)
