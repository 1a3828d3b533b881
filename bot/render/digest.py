"""The weekly team digest as a Block Kit message, and its chart (daily spend over 8 weeks with
the budget's daily pace), from `bot.analytics.digest.TeamDigest` values.

Every amount is shown to the cent in its billing currency; changes carry ▲ / ▼ and the percent;
names from data (team, service, account) are escaped in every mrkdwn field, the fallback text
included; lists are cut with "…and N more" so that any amount of data fits Slack's limits.

The budget pace line. A team lead reading a daily bar chart asks "are we spending faster than
the budget allows?": the monthly budget spread evenly over each month's days answers it at a
glance (bars above the dashed line spend faster than the budget), and it steps where a month
with a different number of days begins. A cumulative pace line would need cumulative bars to
be read against, which hides the daily pattern the chart is for.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bot.analytics.digest import AnomalyNote, CurrencySpend, ResourceFigure, TeamDigest, Week
from bot.money import cent_delta, format_change, format_money
from bot.render import blocks
from bot.render.charts import (
    BUDGET_COLOR,
    COST_COLOR,
    LABEL_SIZE,
    _plain,
    _set_amount_axis,
    daily_cost_figure,
    to_png,
)
from bot.render.cost import (
    CHART_PLACEHOLDER,
    METRIC_LABELS,
    Chart,
    budget_text,
    forecast_text,
)
from bot.store.queries import Change

NAME_MAX = 60  # characters of a name from data in a line
TEAM_MAX = 80
LIST_MAX = 5  # anomalies listed before "…and N more"
WEEK_SHADE = "#eef2f8"
ANOMALY_ICONS = {"spike": "🔺", "shift": "📈", "drift": "↗️", "new": "🆕"}
# A channel shared by several teams gets one message: each team in this many blocks.
SHARED_TEAM_BLOCKS = 3


# ---- dates and changes in words


def format_week(week: Week) -> str:
    """`Mon 19 – Sun 25 Oct 2026`, `Mon 26 Oct – Sun 1 Nov 2026`, `Mon 28 Dec 2026 – Sun 3 Jan
    2027`."""
    return format_days(week.start, week.end)


def format_days(start: date, end: date) -> str:
    if start == end:
        return day_text(end)
    if start.year != end.year:
        return f"{day_text(start)} – {day_text(end)}"
    if start.month != end.month:
        return f"{day_text(start, year=False)} – {day_text(end)}"
    return f"{start:%a} {start.day} – {day_text(end)}"


def day_text(day: date, *, year: bool = True) -> str:
    """`Sat 24 Oct 2026` (`Sat 24 Oct` without the year)."""
    text = f"{day:%a} {day.day} {day:%b}"
    return f"{text} {day.year}" if year else text


def change_text(current: int, previous: int, currency: str) -> str:
    """`▲ +$107.83 (+11.7%)`, `▼ -$5.00 (-2.0%)`, `no change`: from the cent-rounded amounts,
    so the change is exactly the difference of the two amounts shown."""
    delta = cent_delta(current, previous)
    if delta == 0:
        return "no change"
    arrow = "▲" if delta > 0 else "▼"
    return f"{arrow} {format_change(current, previous, currency)}"


def _name(text: str, limit: int = NAME_MAX) -> str:
    return blocks.escape_mrkdwn(blocks.shorten(text, limit))


def _team(digest: TeamDigest) -> str:
    return _name(digest.team, TEAM_MAX)


# ---- the parts of a digest


def _compared_weeks(digest: TeamDigest) -> tuple[str, str]:
    """The days compared: the week and the week before, or their first days when the week's
    last days have no data yet."""
    end = digest.compared_end or digest.week.end
    lag = timedelta(days=(end - digest.week.start).days)
    before = digest.week.previous.start
    return format_days(digest.week.start, end), format_days(before, before + lag)


def _data_coverage(digest: TeamDigest) -> str:
    """Where the store's data is, for a week with none of it."""
    if digest.data_through:
        return f"the store's data ends {day_text(digest.data_through)}"
    if digest.data_from:
        return f"the store's data starts {day_text(digest.data_from)}"
    return "no cost data is loaded yet"


def _data_note(digest: TeamDigest) -> str | None:
    if not digest.has_data:
        return f"⚠️ No cost data for this week: {_data_coverage(digest)}."
    if not digest.complete:
        this_week, week_before = _compared_weeks(digest)
        missing = format_days(digest.data_through + timedelta(days=1), digest.week.end)  # type: ignore[operator]
        return (
            f"⚠️ Data through {day_text(digest.data_through)}: {missing} is not in yet, so this"  # type: ignore[arg-type]
            f" compares {this_week} with {week_before}."
        )
    return None


def _spend_line(digest: TeamDigest, spend: CurrencySpend) -> str:
    amount = format_money(spend.this_week, spend.currency)
    if not digest.has_comparison:
        start = day_text(digest.data_from) if digest.data_from else "later"
        return f"*{amount}* (no comparison: the store starts {start})"
    previous = format_money(spend.last_week, spend.currency)
    change = change_text(spend.this_week, spend.last_week, spend.currency)
    return f"*{amount}*, {change} vs {previous} the week before"


def _change_line(change: Change, currency: str, compared: bool) -> str:
    name = f"*{_name(change.name)}*: {format_money(change.current, currency)}"
    if not compared:
        return name
    if change.previous == 0:
        return f"{name} (new: nothing the week before)"
    was = format_money(change.previous, currency)
    return f"{name} (was {was}) {change_text(change.current, change.previous, currency)}"


def _changes_text(
    title: str, changes: Sequence[Change], more: int, noun: str, currency: str, compared: bool
) -> str:
    if not changes:
        return f"*{title}*\n_No cost in either week._"
    lines = [_change_line(change, currency, compared) for change in changes]
    text = f"*{title}*\n" + blocks.bulleted_list(lines, escape=False)
    if more:
        text += f"\n_…and {more:,} more {noun}{'s' if more != 1 else ''}_"
    return blocks.truncate(text, blocks.SECTION_TEXT_MAX)


def _top_title(what: str, digest: TeamDigest, spend: CurrencySpend) -> str:
    several = f" billed in {spend.currency}" if len(digest.spend) > 1 else ""
    kind = "Top changes" if digest.has_comparison else "Top"
    return f"{kind} by {what}{several}"


def _anomaly_line(note: AnomalyNote, digest: TeamDigest) -> str:
    icon = ANOMALY_ICONS.get(note.kind, "⚠️")
    where = f"*{_name(note.service)}*" if note.service else "the team's total"
    if note.account:
        where += f" ({_name(note.account)})"
    rate = (
        f"{format_money(note.actual_micros, note.currency)}/day against"
        f" {format_money(note.expected_micros, note.currency)} expected"
    )
    if note.status == "closed" and note.last_day and note.last_day < digest.week.end:
        state = f"back to normal {day_text(note.last_day + timedelta(days=1), year=False)}"
    elif note.status == "expected":
        state = "marked expected"
    else:
        state = "still open"
    return (
        f"{icon} {blocks.escape_mrkdwn(note.kind)} in {where} from"
        f" {day_text(note.start, year=False)}: {rate}, {state}"
    )


def _anomalies_text(digest: TeamDigest) -> str:
    opened, resolved = digest.anomalies_opened, digest.anomalies_resolved
    title = (
        f"*Anomalies*: {len(opened)} new, {len(resolved)} resolved,"
        f" {digest.anomalies_open} open now"
    )
    notes = list(opened) + [n for n in resolved if n not in opened]
    if not notes:
        return f"{title}\n_None this week._"
    lines = [_anomaly_line(note, digest) for note in notes]
    return f"{title}\n" + blocks.bulleted_list(lines, max_items=LIST_MAX, escape=False)


def _resource_line(
    label: str, figure: ResourceFigure | None, nouns: tuple[str, str], currency: str
) -> str:
    if figure is None:
        return f"*{label}*: no inventory loaded yet (`costbot sync inventory`)"
    noun = nouns[0] if figure.count == 1 else nouns[1]
    # Cost billed in another currency is never added to the amount: named on its own.
    others = "".join(
        f" (and {format_money(micros, code)} billed in {code})"
        for code, micros in figure.other_costs
    )
    return (
        f"*{label}*: {figure.count:,} {noun}, {format_money(figure.cost_micros, currency)}"
        f" {figure.basis}{others}"
    )


def _resources_text(digest: TeamDigest) -> str:
    return "\n".join(
        [
            _resource_line(
                "Untagged",
                digest.untagged,
                ("resource missing required tags", "resources missing required tags"),
                digest.currency,
            ),
            _resource_line(
                "Idle", digest.idle, ("idle EC2 instance", "idle EC2 instances"), digest.currency
            ),
        ]
    )


def _budget_text(digest: TeamDigest) -> str | None:
    return budget_text(digest.budget) if digest.budget is not None else None


def _forecast_text(digest: TeamDigest) -> str | None:
    if digest.forecast is None:
        return None
    return forecast_text(digest.forecast, digest.currency, digest.budget)


def _footer(digest: TeamDigest, metric: str) -> str:
    through = (
        f"data through {day_text(digest.data_through)}" if digest.data_through else "no data yet"
    )
    team = blocks.code(f"/cost team {digest.team}", TEAM_MAX)
    return f"{METRIC_LABELS[metric]} · {through} · {team} for more"


def _week_line(digest: TeamDigest) -> str:
    return f"*{format_week(digest.week)}*, compared with {format_week(digest.week.previous)}"


# ---- the message


def digest_message(
    digests: Sequence[TeamDigest], metric: str = "effective", *, with_chart: bool = True
) -> dict[str, Any]:
    """The digest of one team, or of the teams sharing a channel (one message per channel
    and week). With `with_chart`, an image block points at CHART_PLACEHOLDER where the chart
    goes (bot.slack.delivery uploads it there)."""
    if not digests:
        raise ValueError("a digest message needs at least one team")
    if len(digests) == 1:
        content = _team_blocks(digests[0], metric)
    else:
        content = _shared_blocks(digests, metric)
    if with_chart and has_chart(digests):
        alt = chart_alt_text(digests)
        image = blocks.image(alt, slack_file_id=CHART_PLACEHOLDER, title=chart_title(digests))
        content.insert(len(content) - 1, image)
    return blocks.message(fallback_text(digests), content)


def has_chart(digests: Sequence[TeamDigest]) -> bool:
    """A chart only where there is spend to draw."""
    return any(not d.quiet for d in digests)


def _header(digests: Sequence[TeamDigest]) -> dict[str, Any]:
    names = ", ".join(d.team for d in digests)
    return blocks.header(
        f"Weekly cost digest: {blocks.plain_safe(blocks.shorten(names, TEAM_MAX))}"
    )


def _team_blocks(digest: TeamDigest, metric: str) -> list[dict[str, Any]]:
    content = [_header([digest])]
    note = _data_note(digest)
    if digest.quiet:
        body = f"{_week_line(digest)}\nNo spend recorded for *{_team(digest)}* in either week."
        content.append(blocks.section(body + (f"\n{note}" if note else "")))
        fields = [f for f in (_budget_text(digest),) if f]
        if fields:
            content.append(blocks.section(fields=fields))
        content.append(blocks.section(_resources_text(digest)))
        content.append(blocks.context([_footer(digest, metric)]))
        return content
    first, *others = digest.spend
    billed = f" (billed in {first.currency})" if others else ""
    body = f"{_week_line(digest)}\n*{_team(digest)}* spent {_spend_line(digest, first)}{billed}"
    content.append(blocks.section(body + (f"\n{note}" if note else "")))
    for other in others:
        content.append(
            blocks.section(
                f"*Also billed in {blocks.escape_mrkdwn(other.currency)}*:"
                f" {_spend_line(digest, other)}\n"
                + _changes_text(
                    _top_title("service", digest, other),
                    other.services,
                    other.more_services,
                    "service",
                    other.currency,
                    digest.has_comparison,
                )
            )
        )
    fields = [f for f in (_budget_text(digest), _forecast_text(digest)) if f]
    if fields:
        content.append(blocks.section(fields=fields))
    for what, changes, more in (
        ("service", first.services, first.more_services),
        ("account", first.accounts, first.more_accounts),
    ):
        title = _top_title(what, digest, first)
        content.append(
            blocks.section(
                _changes_text(title, changes, more, what, first.currency, digest.has_comparison)
            )
        )
    content.append(blocks.section(_anomalies_text(digest)))
    content.append(blocks.section(_resources_text(digest)))
    content.append(blocks.context([_footer(digest, metric)]))
    return content


def _shared_blocks(digests: Sequence[TeamDigest], metric: str) -> list[dict[str, Any]]:
    """Several teams in one channel: each team's spend, budget, top changes, anomalies and
    resources in SHARED_TEAM_BLOCKS blocks."""
    content = [_header(digests), blocks.section(_week_line(digests[0]))]
    for digest in digests:
        lines = [f"👥 *{_team(digest)}*"]
        if digest.quiet:
            lines.append("No spend recorded in either week.")
        for spend in digest.spend:
            lines.append(f"{blocks.escape_mrkdwn(spend.currency)}: {_spend_line(digest, spend)}")
        if note := _data_note(digest):
            lines.append(note)
        for text in (_budget_text(digest), _forecast_text(digest)):
            if text:
                lines.append(text.replace("\n", ": ", 1))
        content.append(blocks.section(blocks.truncate("\n".join(lines), blocks.SECTION_TEXT_MAX)))
        tops = [
            _changes_text(
                _top_title(what, digest, spend),
                changes,
                more,
                what,
                spend.currency,
                digest.has_comparison,
            )
            for spend in digest.spend[:1]
            for what, changes, more in (
                ("service", spend.services, spend.more_services),
                ("account", spend.accounts, spend.more_accounts),
            )
        ]
        if tops:
            content.append(
                blocks.section(blocks.truncate("\n".join(tops), blocks.SECTION_TEXT_MAX))
            )
        content.append(blocks.section(f"{_anomalies_text(digest)}\n{_resources_text(digest)}"))
    content.append(blocks.context([_footer(digests[0], metric)]))
    return content


def fallback_text(digests: Sequence[TeamDigest]) -> str:
    """What notifications show: each team's spend per currency and its change, escaped."""
    parts = []
    for digest in digests:
        if not digest.has_data:
            parts.append(f"{_team(digest)}: no cost data for this week ({_data_coverage(digest)})")
            continue
        if digest.quiet:
            parts.append(f"{_team(digest)}: no spend in either week")
            continue
        amounts = []
        for spend in digest.spend:
            amount = format_money(spend.this_week, spend.currency)
            if digest.has_comparison:
                change = change_text(spend.this_week, spend.last_week, spend.currency)
                amount += f", {change} vs {format_money(spend.last_week, spend.currency)}"
            amounts.append(amount)
        partial = "" if digest.complete else f" (data through {day_text(digest.data_through)})"
        parts.append(f"{_team(digest)}: " + "; ".join(amounts) + partial)
    return f"Weekly cost digest, {format_week(digests[0].week)}: " + " · ".join(parts)


# ---- the chart


def chart_title(digests: Sequence[TeamDigest]) -> str:
    digest = digests[0]
    names = blocks.plain_safe(", ".join(d.team for d in digests))
    first = digest.daily[0][0] if digest.daily else digest.week.start
    return (
        f"{blocks.shorten(names, TEAM_MAX)}: daily spend ({digest.chart_currency}),"
        f" {format_days(first, digest.week.end)}"
    )


def chart_series(
    digests: Sequence[TeamDigest],
) -> tuple[list[date], list[int], list[int] | None, str]:
    """The chart's days, daily spend and budget pace (the teams of a shared channel summed,
    in the first team's chart currency; the budget pace only when every team has a budget
    in that currency)."""
    first = digests[0]
    currency = first.chart_currency
    days = [day for day, _ in first.daily]
    amounts = [0] * len(days)
    for digest in digests:
        if digest.chart_currency != currency:
            continue
        for index, (_, micros) in enumerate(digest.daily):
            amounts[index] += micros
    paces = [d.budget_daily for d in digests]
    budget = None
    if all(p is not None for p in paces) and all(d.chart_currency == currency for d in digests):
        budget = [sum(day) for day in zip(*paces, strict=True)]  # type: ignore[arg-type]
    return days, amounts, budget, currency


def chart_alt_text(digests: Sequence[TeamDigest]) -> str:
    days, amounts, budget, currency = chart_series(digests)
    digest = digests[0]
    names = blocks.plain_safe(", ".join(d.team for d in digests))
    if not days:
        return f"Daily spend of {names}: no days to show."
    week = [a for d, a in zip(days, amounts, strict=True) if digest.week.start <= d]
    peak_index = max(range(len(amounts)), key=lambda i: amounts[i])
    text = (
        f"Bar chart of the daily spend of {names} in {currency}, {format_days(days[0], days[-1])}"
        f" ({len(days) // 7} weeks), the week of {format_week(digest.week)} shaded:"
        f" {format_money(sum(week), currency)} that week, highest day"
        f" {format_money(amounts[peak_index], currency)} on {day_text(days[peak_index])}."
    )
    if budget:
        text += (
            f" Dashed red line: the monthly budget spread evenly over each month's days"
            f" ({format_money(budget[-1], currency)} a day in {days[-1]:%B %Y}); bars above it"
            " spend faster than the budget allows."
        )
    if any(d.chart_currency != currency for d in digests) or any(len(d.spend) > 1 for d in digests):
        text += f" Costs billed in other currencies are not drawn (amounts in {currency} only)."
    return blocks.truncate(text, blocks.IMAGE_ALT_TEXT_MAX, mrkdwn=False)


def digest_figure(
    days: list[date],
    amounts_micros: list[int],
    budget_daily_micros: list[int] | None,
    title: str,
    currency: str = "USD",
    week_start: date | None = None,
) -> Figure:
    """Daily spend bars, the week reported shaded, and the budget's daily pace as a dashed
    step line (see the module docstring)."""
    figure = daily_cost_figure(days, amounts_micros, title, currency=currency)
    if not figure.axes or not figure.axes[0].collections or not any(amounts_micros):
        return figure  # "No cost in this period"
    axes = figure.axes[0]
    plotted = [m / 1_000_000 for m in amounts_micros]
    handles = [Patch(color=COST_COLOR, label="Daily spend")]
    if week_start is not None:
        start = date2num(week_start) - 0.5
        axes.axvspan(start, start + 7, color=WEEK_SHADE, zorder=0, lw=0)
        handles.append(Patch(color=WEEK_SHADE, label="Week reported"))
    if budget_daily_micros:
        pace = [m / 1_000_000 for m in budget_daily_micros]
        (line,) = axes.step(
            date2num(days),
            pace,
            where="mid",
            color=BUDGET_COLOR,
            linestyle=(0, (5, 3)),
            linewidth=1.2,
            label=_plain(f"Budget pace ({format_money(budget_daily_micros[-1], currency)}/day)"),
        )
        handles.append(line)
        plotted += pace
    _set_amount_axis(axes, "y", plotted, currency)
    axes.legend(handles=handles, loc="upper left", fontsize=LABEL_SIZE, frameon=False, ncols=3)
    axes.set_ylim(top=axes.get_ylim()[1] * 1.15)
    return figure


def digest_chart(
    days: list[date],
    amounts_micros: list[int],
    budget_daily_micros: list[int] | None,
    title: str,
    currency: str = "USD",
    week_start: date | None = None,
    alt_text: str = "",
) -> Chart:
    """The digest's chart as a PNG (module-level, plain arguments: rendered in a worker
    process by jobs/fanout.py)."""
    png = to_png(
        digest_figure(days, amounts_micros, budget_daily_micros, title, currency, week_start)
    )
    slug = "".join(ch if ch.isalnum() else "-" for ch in title.split(":")[0].lower()).strip("-")
    return Chart(
        png=png,
        title=title,
        alt_text=alt_text or title,
        filename=f"digest-{slug[:60] or 'team'}-{days[-1] if days else 'empty'}.png",
    )


def chart_args(digests: Sequence[TeamDigest]) -> tuple[Any, ...]:
    """`digest_chart`'s arguments for a message's teams: plain, picklable values."""
    days, amounts, budget, currency = chart_series(digests)
    return (
        days,
        amounts,
        budget,
        chart_title(digests),
        currency,
        digests[0].week.start,
        chart_alt_text(digests),
    )
