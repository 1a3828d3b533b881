"""Block Kit for Costbot's App Home tab (a `home` view, published per user): the viewer's teams
at a glance, or the organisation for a viewer in no team; from plain values that
bot/answers/app_home.py gathers.

A home view holds at most 100 blocks: the teams are shown in full while they fit, and the rest
as one line each ("and N more") in a last section. Every name from data or config (teams,
services, channels, the digest's text) is escaped in every mrkdwn field.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.analytics.cost_report import CostSummary, Ranking
from bot.analytics.tag_compliance import Compliance
from bot.money import format_money
from bot.periods import Period, format_day, format_range
from bot.render import blocks
from bot.render.cost import METRIC_LABELS, SUBJECT_MAX
from bot.render.untagged import percent

HOME_BLOCKS_MAX = 100  # Slack's limit for a Home tab view
CALLBACK_ID = "costbot_home"
ANOMALIES_LISTED = 3  # the largest open anomalies shown per team
DIGEST_TEXT_MAX = 200  # how much of the latest digest's text is quoted
OVERVIEW_TEAMS = 10  # teams in the organisation overview
# Blocks kept back for the "and N more teams" section and the footer.
RESERVED_BLOCKS = 3
NOT_IN_A_TEAM = (
    "You are not in any team of Costbot's config, so this is the whole organisation. "
    "To see your teams here, ask whoever runs Costbot to add your Slack user id "
    "({user}) under `members:` (or `leads:`) of your team in `costbot.yml`."
)


@dataclass(frozen=True)
class LatestDigest:
    """The newest weekly digest delivered to a team's channel (a `deliveries` row)."""

    channel: str
    period: str | None  # what the digest was for, as the job recorded it (the week's Monday)
    sent_at: str | None  # ISO 8601 UTC
    text: str  # the message's fallback text, as posted (mrkdwn)
    channel_id: str | None
    ts: str | None


@dataclass(frozen=True)
class OpenAnomaly:
    what: str  # plain text: `Amazon EC2 · account 1111` or `all services`
    kind: str
    since: date
    expected_micros: int  # per day
    actual_micros: int  # per day
    currency: str


@dataclass(frozen=True)
class TeamGlance:
    """One team's figures for the Home tab."""

    name: str
    channel: str | None
    summary: CostSummary | None  # None when the store holds no cost data
    anomalies: tuple[OpenAnomaly, ...]  # every open one, largest increase per day first
    untagged: Compliance | None  # None: no inventory or resource-level cost for the team
    untagged_month: str | None  # "November 2026": the month whose cost /untagged counts
    untagged_currency: str
    latest_digest: LatestDigest | None
    # The team's record of cost-champion wins (bot/answers/app_home.py champion_blocks).
    champion_blocks: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class HomeFigures:
    """Everything the Home tab shows to one viewer."""

    user_id: str
    today: date
    data_from: date | None
    data_through: date | None
    metric: str
    period: Period | None  # the month shown (to date), clipped to the data; None: no data
    period_note: str = ""  # why the month shown is not this month (no data for it yet)
    teams: tuple[TeamGlance, ...] = ()
    overview: Ranking | None = None  # for a viewer in no team
    in_no_team: bool = False


# ---- small texts


def _name(text: str) -> str:
    return blocks.escape_mrkdwn(blocks.shorten(text, SUBJECT_MAX))


def _count(number: int, what: str) -> str:
    return f"{number:,} {what}" if number == 1 else f"{number:,} {what}s"


def _data_line(figures: HomeFigures) -> str:
    if figures.data_through is None:
        return "No cost data is loaded yet."
    line = f"Cost data runs through *{format_day(figures.data_through)}*"
    lag = (figures.today - figures.data_through).days
    if lag > 1:
        # Billing exports arrive a day or more late: say what is missing rather than show $0.
        line += (
            f" ({lag} days before today, {format_day(figures.today)}: "
            "later days are not in the store yet)"
        )
    return f"{line} · {METRIC_LABELS[figures.metric]}"


def _period_line(figures: HomeFigures) -> str:
    if figures.period is None:
        return ""
    note = f" ({figures.period_note})" if figures.period_note else ""
    return f"{figures.period.title}: {figures.period.label}{note}"


def _budget_text(part: CostSummary) -> str | None:
    budget = part.budget
    if budget is None:
        return None
    used = budget.used_fraction * 100
    elapsed = budget.share_of_month_elapsed * 100
    flag = "🔴" if budget.spent_micros > budget.monthly_micros else "🟢"
    if budget.share_of_month_elapsed < 1 and used > elapsed and flag == "🟢":
        flag = "🟠"
    return (
        f"*Budget ({budget.month_label})*\n{flag} {used:.1f}% used, {elapsed:.0f}% of the "
        f"month gone: {format_money(budget.spent_micros, budget.currency)} of "
        f"{format_money(budget.monthly_micros, budget.currency)}"
    )


def _forecast_text(part: CostSummary) -> str | None:
    forecast = part.forecast
    if forecast is None:
        return None
    text = (
        f"*Forecast for {format_day(forecast.month_end)}*\n"
        f"{format_money(forecast.projected_micros, part.currency)} "
        f"(≈{format_money(forecast.daily_average_micros, part.currency)}/day, average of "
        f"{forecast.average_window.label})"
    )
    if part.budget is not None:
        over = forecast.projected_micros - part.budget.monthly_micros
        text += (
            f"\n⚠️ {format_money(over, part.currency)} over budget"
            if over > 0
            else f"\n{format_money(-over, part.currency)} under budget"
        )
    return text


def _spend_fields(summary: CostSummary | None) -> list[str]:
    if summary is None:
        return ["*Spend*\n_No cost data loaded yet_"]
    fields = []
    for part in (summary, *summary.other_currencies):
        billed = f" (billed in {part.currency})" if summary.other_currencies else ""
        fields.append(
            f"*{part.period.title}{billed}*\n*{format_money(part.total_micros, part.currency)}*"
            f", {part.period.label}"
        )
        fields += [f for f in (_budget_text(part), _forecast_text(part)) if f]
    return fields


def _anomaly_field(team: TeamGlance) -> str:
    count = len(team.anomalies)
    if not count:
        return "*Open anomalies*\n✅ none"
    return f"*Open anomalies*\n⚠️ {count:,}"


def _untagged_field(team: TeamGlance) -> str:
    c = team.untagged
    if c is None:
        return "*Missing required tags*\n_No inventory or resource cost for this team_"
    money = format_money(c.noncompliant_cost_micros, team.untagged_currency)
    total = format_money(c.cost_micros, team.untagged_currency)
    if c.unlisted_cost_micros:
        # Billed resources the inventory does not hold are judged by their bill's tags: they
        # count in the cost, not in the resource count, and saying so keeps the two readable.
        unlisted = format_money(c.unlisted_cost_micros, team.untagged_currency)
        billed_only = f"; {unlisted} of it billed for resources not in the inventory"
    else:
        billed_only = ""
    # Cost billed in another currency is in none of the amounts above: said on its own.
    others = "".join(
        f"; {format_money(o.noncompliant_cost_micros, o.currency)} of"
        f" {format_money(o.cost_micros, o.currency)} billed in {o.currency}, not counted above"
        for o in c.other_costs
    )
    return (
        f"*Missing required tags* ({team.untagged_month})\n"
        f"{c.noncompliant_resources:,} of {_count(c.resources, 'inventory resource')}, "
        f"{money} of {total} resource cost ({percent(c.cost_share)} of cost compliant"
        f"{billed_only}{others})"
    )


def _anomaly_line(anomaly: OpenAnomaly) -> str:
    return (
        f"{anomaly.what}: {format_money(anomaly.actual_micros, anomaly.currency)}/day against "
        f"{format_money(anomaly.expected_micros, anomaly.currency)}/day expected, "
        f"since {format_day(anomaly.since)} ({anomaly.kind})"
    )


def _week_label(period: str | None) -> str:
    """`week of Oct 19 – Oct 25, 2026` for a Monday (or `2026-W43`); else the text as recorded."""
    if not period:
        return "an unrecorded week"
    try:
        if "-W" in period:
            year, week = period.split("-W")
            monday = date.fromisocalendar(int(year), int(week), 1)
        else:
            monday = date.fromisoformat(period)
    except ValueError:
        return blocks.escape_mrkdwn(blocks.shorten(period))
    return f"week of {format_range(monday, monday + timedelta(days=6))}"


def _sent_at(stamp: str | None) -> str:
    if not stamp:
        return "at an unrecorded time"
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "at an unrecorded time"
    return f"{format_day(moment.date())} {moment:%H:%M} UTC"


def message_link(channel_id: str, ts: str) -> str:
    """The message's archive permalink: Slack opens it in the viewer's workspace."""
    return f"https://slack.com/archives/{channel_id}/p{ts.replace('.', '')}"


def quoted_text(text: str, limit: int = DIGEST_TEXT_MAX) -> str:
    """A message's mrkdwn text quoted safely: its entities decoded and everything escaped
    again (so a raw `<!channel>` or link can never come through), on one line, shortened."""
    plain = html.unescape(text or "")
    return blocks.escape_mrkdwn(blocks.shorten(plain, limit))


def _digest_text(team: TeamGlance) -> str:
    digest = team.latest_digest
    channel = _name(team.channel) if team.channel else None
    if digest is None:
        if channel is None:
            return (
                "📬 No channel configured for this team: weekly digests go to a team's `channel:`."
            )
        return f"📬 No weekly digest delivered to {channel} yet."
    text = (
        f"📬 Latest digest, {_week_label(digest.period)}, sent {_sent_at(digest.sent_at)} "
        f"to {_name(digest.channel)}: “{quoted_text(digest.text)}”"
    )
    if digest.channel_id and digest.ts:
        text += f" {blocks.mrkdwn_link(message_link(digest.channel_id, digest.ts), 'Open it')}"
    return text


# ---- the view


def team_blocks(team: TeamGlance) -> list[dict[str, Any]]:
    """One team's part of the Home tab."""
    content = [blocks.header(f"👥 {blocks.plain_safe(blocks.shorten(team.name, SUBJECT_MAX))}")]
    fields = [*_spend_fields(team.summary), _anomaly_field(team), _untagged_field(team)]
    content.append(blocks.section(fields=fields))
    if team.anomalies:
        lines = [_anomaly_line(a) for a in team.anomalies]
        listed = blocks.bulleted_list(lines, max_chars=2800, max_items=ANOMALIES_LISTED)
        content.append(blocks.section(f"*Largest open anomalies*\n{listed}"))
    content.append(blocks.context([_digest_text(team)]))
    content += list(team.champion_blocks)
    content.append(blocks.divider())
    return content


def _team_line(team: TeamGlance) -> str:
    """A team left out for room: its spend on one line (mrkdwn)."""
    if team.summary is None:
        spend = "no cost data"
    else:
        spend = ", ".join(
            format_money(part.total_micros, part.currency)
            for part in (team.summary, *team.summary.other_currencies)
        )
    count = len(team.anomalies)
    anomalies = ""
    if count:
        anomalies = f", {count:,} open {'anomaly' if count == 1 else 'anomalies'}"
    return f"{_name(team.name)}: {spend}{anomalies} (`/cost team` for more)"


def _overview_blocks(figures: HomeFigures) -> list[dict[str, Any]]:
    user = f"`{blocks.escape_mrkdwn(figures.user_id)}`" if figures.user_id else "your user id"
    content = [blocks.section(NOT_IN_A_TEAM.format(user=user))]
    ranking = figures.overview
    if ranking is None or not ranking.parts:
        content.append(blocks.section("_No cost recorded in this period._"))
        return content
    several = len(ranking.parts) > 1
    for part in ranking.parts:
        billed = f" billed in {part.currency}" if several else ""
        rows = [(c.name, c.current, "") for c in part.changes]
        content.append(
            blocks.section(
                f"*Top teams, {ranking.period.title.lower()}*{billed}: "
                f"*{format_money(part.total_micros, part.currency)}* in total, "
                f"{ranking.period.label}\n"
                + blocks.ranked_table(
                    rows, max_items=OVERVIEW_TEAMS, currency=part.currency, max_chars=2800
                )
            )
        )
    return content


def home_view(figures: HomeFigures) -> dict[str, Any]:
    """The `home` view for views.publish: at most 100 blocks, whatever the number of teams."""
    head = [blocks.header("💸 Costbot: your cloud cost at a glance")]
    lines = [line for line in (_data_line(figures), _period_line(figures)) if line]
    head.append(blocks.context(lines))
    if figures.data_through is None:
        body = [
            blocks.section(
                "No cost data is loaded yet, so there is nothing to show. Whoever runs Costbot "
                "loads it with `costbot ingest focus PATH` (or `costbot sync aws`); this tab "
                "fills in the next time you open it."
            )
        ]
        return _view([*head, *body])
    if figures.in_no_team:
        return _view([*head, *_overview_blocks(figures), *_footer()])

    content = list(head)
    footer = _footer()
    room = HOME_BLOCKS_MAX - len(footer) - RESERVED_BLOCKS
    shown = 0
    for team in figures.teams:
        part = team_blocks(team)
        if len(content) + len(part) > room:
            break
        content += part
        shown += 1
    left = figures.teams[shown:]
    if left:
        lines = [_team_line(team) for team in left]
        listed = blocks.bulleted_list(lines, max_chars=2900, escape=False)
        content.append(blocks.section(f"*…and {len(left):,} more of your teams*\n{listed}"))
    return _view([*content, *footer])


def _footer() -> list[dict[str, Any]]:
    return [
        blocks.context(
            ["Refreshed each time you open this tab · `/cost help`, `/untagged help` for more"]
        )
    ]


def _view(content: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    kept = [dict(block) for block in content]
    if len(kept) > HOME_BLOCKS_MAX:  # never reached by home_view's own budget; a safety net
        kept = [*kept[: HOME_BLOCKS_MAX - 1], blocks.context(["_…cut to fit Slack's limit_"])]
    return {"type": "home", "callback_id": CALLBACK_ID, "blocks": kept}


def unavailable_view(reason: str) -> dict[str, Any]:
    """Published when the Home tab cannot be built: what went wrong and what to do, never a
    blank tab. `reason` is mrkdwn (escape anything from data)."""
    return _view(
        [
            blocks.header("💸 Costbot"),
            blocks.section(f"⚠️ Your cost overview could not be built just now. {reason}"),
            blocks.context(
                ["Open this tab again to retry · slash commands such as `/cost help` still work"]
            ),
        ]
    )
